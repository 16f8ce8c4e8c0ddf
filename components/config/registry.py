"""`webstack:registry`: the private registry the hosts pull images from, and its login.

Pure: no Pulumi import. The password is the secret `webstack:registryPassword`; the CA
certificate (plain: it is public) is for a registry whose certificate no public CA signed.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

# host[:port], as Docker names a registry in an image reference and in certs.d.
REGISTRY_SERVER_RE = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$")
PEM_CERTIFICATE_RE = re.compile(r"-----BEGIN CERTIFICATE-----\s+[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----")


class RegistryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)

    server: str
    username: Annotated[str, Field(min_length=1, max_length=255)]
    # PEM of the CA that signed the registry's certificate; trusted by each host's Docker
    # engine for this registry only (/etc/docker/certs.d/<server>/ca.crt).
    ca_certificate: str | None = None

    @field_validator("server")
    @classmethod
    def _server(cls, value: str) -> str:
        port = value.rpartition(":")[2] if ":" in value else None
        if not REGISTRY_SERVER_RE.match(value) or (port is not None and not 1 <= int(port) <= 65535):
            raise ValueError("a registry host[:port] such as registry.example.com or 10.0.0.5:5000, no scheme or path")
        return value

    @field_validator("ca_certificate")
    @classmethod
    def _pem(cls, value: str | None) -> str | None:
        if value is not None and not PEM_CERTIFICATE_RE.search(value):
            raise ValueError("a PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)")
        return value

    def serves(self, image: str) -> bool:
        """Whether an image reference names this registry."""
        return image.startswith(f"{self.server}/")
