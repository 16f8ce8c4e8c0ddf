"""`webstack:edge`: the nginx edge (ports, TLS certificate, rate limits, server names).

Pure: no Pulumi import. A partly set rate limit keeps its default for the other half; the
edge's host must exist and its placement keys fit the platform: checked in
components/config/checks.py.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from components.config.base import DNS_NAME_RULES, Model, Name, Port, is_dns_host_name


class RateLimit(Model):
    rate: Annotated[int, Field(ge=1, le=100_000)]
    burst: Annotated[int, Field(ge=0, le=100_000)]


class EdgeConfig(Model):
    host: Name | None = None  # required on platform docker, not used on kubernetes
    http_port: Port = 80
    https_port: Port = 443
    bind_address: str = "0.0.0.0"
    server_names: list[str] = Field(default_factory=list)
    # provided: the secrets tlsCertificate and tlsPrivateKey (a certificate of your own CA).
    certificate: Literal["self-signed", "cloudflare-origin", "provided"] = "self-signed"
    api_rate: RateLimit = RateLimit(rate=10, burst=20)
    login_rate: RateLimit = RateLimit(rate=1, burst=5)
    frontend_rate: RateLimit = RateLimit(rate=50, burst=100)
    client_max_body_mb: Annotated[int, Field(ge=1, le=1024)] = 20
    trust_cloudflare: bool = True
    worker_connections: Annotated[int, Field(ge=512, le=65535)] = 4096
    hsts_max_age: Annotated[int, Field(ge=0)] = 31_536_000

    @model_validator(mode="before")
    @classmethod
    def _partial_rates(cls, data: Any) -> Any:
        """`pulumi config set --path webstack:edge.apiRate.burst 30` sets one half of a limit:
        the other half keeps its default instead of becoming a missing key."""
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for field_name in ("api_rate", "login_rate", "frontend_rate"):
            default: RateLimit = cls.model_fields[field_name].default
            for key in (to_camel(field_name), field_name):
                if isinstance(merged.get(key), dict):
                    merged[key] = {**default.model_dump(by_alias=True), **merged[key]}
        return merged

    @model_validator(mode="after")
    def _ports(self) -> EdgeConfig:
        if self.http_port == self.https_port:
            raise ValueError(
                f"different ports for edge.httpPort and edge.httpsPort (both are {self.http_port}; "
                "the edge listens on each, plain HTTP redirecting to HTTPS)"
            )
        return self

    @field_validator("bind_address")
    @classmethod
    def _bind(cls, value: str) -> str:
        ipaddress.ip_address(value)
        return value

    @field_validator("server_names")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not is_dns_host_name(name):
                raise ValueError(f"{name!r} is not a DNS host name ({DNS_NAME_RULES})")
        return value
