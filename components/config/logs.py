"""`webstack:logs`: the log store (VictoriaLogs), the shippers that feed it, its alert rules.

Pure: no Pulumi import. Every container of every host and the edge's JSON access log reach one
VictoriaLogs on the private network (docs/logs.md): Docker's json-file logs stay on the host
(`docker logs` works as before) and Debian's syslog-ng on each host posts them to the store
with a disk buffer that keeps what the store has not acknowledged. vmalert runs the LogsQL
alert rules beside the store and sends what fires to the stack's Alertmanager.

`retention` uses VictoriaLogs' own `-retentionPeriod` syntax, restricted to forms nobody can
misread: a whole number and a unit, `h` (at least 24), `d`, `w` or `y` (VictoriaLogs reads a
bare number as months; it refuses less than a day). Checks that need the rest of the stack
(the host must exist, the ports must not clash with the monitoring host's others) are in
`logs_problems`, called by components/config/checks.py with the key each problem names.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

# The ports VictoriaLogs and vmalert listen on in their official images.
LOG_STORE_PORT = 9428
VMALERT_PORT = 8880

RETENTION_RULES = (
    "a whole number and a unit: h (hours, at least 24), d (days), w (weeks) or y (years), such as 14d, "
    "from 1 day to 100 years (VictoriaLogs' -retentionPeriod; a bare number would be months)"
)
_RETENTION_RE = re.compile(r"^([1-9][0-9]{0,5})(h|d|w|y)$")
_HOURS = {"h": 1, "d": 24, "w": 24 * 7, "y": 24 * 365}
_MIN_HOURS = 24
_MAX_HOURS = 100 * 365 * 24


def retention_hours(value: str) -> int:
    """A retention ("14d", "8w", "1y", "48h") in hours; ValueError with RETENTION_RULES when bad."""
    match = _RETENTION_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(RETENTION_RULES)
    hours = int(match.group(1)) * _HOURS[match.group(2)]
    if not _MIN_HOURS <= hours <= _MAX_HOURS:
        raise ValueError(f"from a day (24h, 1d) to 100y: {RETENTION_RULES}")
    return hours


def _retention(value: str) -> str:
    retention_hours(value)
    return value


Retention = Annotated[str, AfterValidator(_retention)]
# As components.config.Name (a host of webstack:hosts); repeated here to keep this file standalone.
HostName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")]
Port = Annotated[int, Field(ge=1024, le=65535)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


class LogAlerts(_Model):
    """Alerts only the logs can raise (rendered by components/render/logs.py for vmalert)."""

    enabled: bool = True
    # 5xx answers the edge logged for one upstream address within `window_minutes`: a replica
    # failing while others hide it from the error-rate metric (the edge retries on 502/504).
    upstream_errors: Annotated[int, Field(ge=1, le=1_000_000)] = 20
    # Failed SSH logins on one host within the window (hosts whose journal is shipped).
    ssh_auth_failures: Annotated[int, Field(ge=1, le=1_000_000)] = 30
    window_minutes: Annotated[int, Field(ge=1, le=1440)] = 5


class LogsConfig(_Model):
    # null: on with platform docker, off with kubernetes (whose cluster collects its own logs).
    enabled: bool | None = None
    host: HostName | None = None  # default: the monitoring host
    retention: Retention = "14d"
    # Optional cap on the store's disk: its oldest days are dropped first when over it.
    max_disk_gb: Annotated[int, Field(ge=1, le=100_000)] | None = None
    port: Port = LOG_STORE_PORT
    vmalert_port: Port = VMALERT_PORT
    # Each host's shipper keeps at most this much the store has not acknowledged (on disk).
    buffer_mb: Annotated[int, Field(ge=16, le=100_000)] = 1024
    alerts: LogAlerts = LogAlerts()

    def effective(self, platform: str) -> bool:
        """Whether the stack runs the log store and its shippers."""
        return self.enabled if self.enabled is not None else platform == "docker"

    def store_host(self, monitoring_host: str | None) -> str | None:
        return self.host if self.host is not None else monitoring_host


def logs_problems(
    logs: LogsConfig,
    *,
    platform: str,
    hosts: Collection[str],
    monitoring_host: str | None,
    taken_ports: Mapping[str, Mapping[int, str]],
) -> list[tuple[str, str]]:
    """(key under webstack:, what is wrong and what is allowed) for what needs the whole stack.

    `taken_ports`: per host, the host ports other parts publish there (several hosts only)."""
    if not logs.effective(platform):
        return []
    problems: list[tuple[str, str]] = []
    if platform != "docker":
        return [
            (
                "logs.enabled",
                f"got true on platform {platform}; allowed: false (the log store runs on platform docker only; "
                "a cluster has its own log collection)",
            )
        ]
    host = logs.store_host(monitoring_host)
    if logs.host is not None and logs.host not in hosts:
        known = ", ".join(sorted(hosts)) or "none"
        problems.append(("logs.host", f"{logs.host!r} is not a host of webstack:hosts; allowed: {known}"))
    if logs.port == logs.vmalert_port:
        problems.append(("logs.vmalertPort", f"got {logs.vmalert_port}, the store's port too; allowed: another port"))
    for key, port in (("logs.port", logs.port), ("logs.vmalertPort", logs.vmalert_port)):
        other = taken_ports.get(host or "", {}).get(port)
        if other is not None:
            problems.append((key, f"got {port}, which {other} publishes on host {host!r}; allowed: a free port"))
    return problems
