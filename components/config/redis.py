"""`webstack:redis`: the Redis primary, its optional replica and Sentinels, memory and persistence.

Pure: no Pulumi import. The hosts named here must exist (components/config/checks.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from components.config.base import Model, Name, Port

EvictionPolicy = Literal[
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
]


class RedisConfig(Model):
    host: Name | None = None  # required on platform docker, not used on kubernetes
    replica_host: Name | None = None
    sentinel_hosts: list[Name] = Field(default_factory=list)
    sentinel_quorum: Annotated[int, Field(ge=1)] = 2
    port: Port = 6379
    maxmemory_mb: Annotated[int, Field(ge=16, le=1_048_576)] = 256
    maxmemory_policy: EvictionPolicy = "allkeys-lru"
    appendonly: bool = True
    appendfsync: Literal["always", "everysec", "no"] = "everysec"
    protect_data: bool | None = None

    @model_validator(mode="after")
    def _sentinels(self) -> RedisConfig:
        if self.sentinel_hosts:
            if self.replica_host is None:
                raise ValueError("sentinelHosts needs a replicaHost to fail over to")
            if len(self.sentinel_hosts) < 3:
                raise ValueError("sentinelHosts needs at least 3 hosts")
            if self.sentinel_quorum > len(self.sentinel_hosts):
                raise ValueError("sentinelQuorum cannot exceed the number of sentinelHosts")
        return self
