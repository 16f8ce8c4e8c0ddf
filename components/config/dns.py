"""`webstack:dns`: the Cloudflare zone, its records and whether they are proxied.

Pure: no Pulumi import.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from components.config.base import Model


class DnsConfig(Model):
    enabled: bool = False
    zone_id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")] | None = None
    records: list[Annotated[str, Field(pattern=r"^(@|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$")]] = Field(
        default_factory=lambda: ["@", "www"]
    )
    proxied: bool = True
    rate_limit_per_minute: Annotated[int, Field(ge=10, le=100_000)] = 600

    @model_validator(mode="after")
    def _zone(self) -> DnsConfig:
        if self.enabled and self.zone_id is None:
            raise ValueError("zoneId is required when enabled is true")
        return self
