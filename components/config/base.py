"""What every concern of the stack config shares: the model base, problems and the error, names.

Pure: no Pulumi import. `Model` is the base of every config model (unknown keys refused,
camelCase aliases, frozen); `Problem` is one bad key and what is allowed there, `ConfigError`
the one error naming the stack and each problem. Here too: the `webstack` namespace, the
field types several concerns use (ports, names, URL paths, environment and secret key names,
Kubernetes object names), the DNS host-name and address checks, and the cron field pattern.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

NAMESPACE = "webstack"

Environment = Literal["local", "staging", "production"]
Platform = Literal["docker", "kubernetes"]

Port = Annotated[int, Field(ge=1, le=65535)]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")]
UrlPath = Annotated[str, Field(pattern=r"^/[A-Za-z0-9._~/-]*$")]
EnvName = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")]
SecretKeyName = Annotated[str, Field(pattern=r"^[a-z][A-Za-z0-9]*$")]

DNS_LABEL_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
# A last label that resolvers and URL parsers read as a number (decimal, or 0x hex): such a
# name is an IPv4 address in disguise (300.1.2.3, 10.0.0.256, 0x7f000001), not a host name.
NUMERIC_LABEL_RE = re.compile(r"[0-9]+|0x[0-9a-f]*")
DNS_NAME_RULES = (
    "lowercase labels of letters, digits and '-' joined by '.', each 1 to 63 characters not starting or "
    "ending with '-', at most 253 characters in all, the last label not a number"
)
CRON_FIELD_RE = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")


def is_dns_host_name(value: str, *, dotted: bool = False) -> bool:
    """A DNS host name (RFC 1123, and not all-numeric at the end); `dotted`: at least two labels."""
    if not 1 <= len(value) <= 253:
        return False
    labels = value.split(".")
    if dotted and len(labels) < 2:
        return False
    if not all(DNS_LABEL_RE.fullmatch(label) for label in labels):
        return False
    return NUMERIC_LABEL_RE.fullmatch(labels[-1]) is None


def ip_or_host_name(value: str, *, dotted: bool = False) -> str:
    """Validate a host's address: an IP address or a DNS host name (`dotted`: with a domain)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not is_dns_host_name(value, dotted=dotted):
            name = "a DNS host name with a domain" if dotted else "a DNS host name"
            raise ValueError(
                f"an IP address (IPv4 with four parts of 0 to 255, or IPv6) or {name} ({DNS_NAME_RULES})"
            ) from None
    return value


# Kubernetes object names: a DNS-1123 label (namespaces, Secrets, ingress classes).
K8sName = Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


@dataclass(frozen=True)
class Problem:
    key: str
    detail: str


class ConfigError(Exception):
    """Bad stack config: one message naming the stack, each key and what is allowed."""

    def __init__(self, stack: str, problems: list[Problem]):
        self.stack = stack
        self.problems = problems
        lines = [f"invalid config for stack '{stack}' ({len(problems)} problem(s)):"]
        lines += [f"  - {p.key}: {p.detail}" for p in problems]
        super().__init__("\n".join(lines))

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.problems]
