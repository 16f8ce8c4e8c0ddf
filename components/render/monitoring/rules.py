"""Alert rules: the Prometheus rule file, its groups and their thresholds (`Thresholds`).

Annotations are written once as `str.format` templates: the rules fill them with Go template
actions, the promtool tests (rule_tests.py, drill_tests.py) with the values Prometheus must print.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from components.config import Thresholds
from components.render.monitoring.common import (
    EXPR_BACKUP_AGE,
    EXPR_CPU_PERCENT,
    EXPR_DISK_PERCENT,
    EXPR_ERROR_RATIO,
    EXPR_LATENCY_P95,
    EXPR_MEMORY_PERCENT,
    EXPR_PG_CONNECTIONS_PERCENT,
    EXPR_PG_REPLICATION_LAG_BYTES,
    EXPR_REDIS_MEMORY_PERCENT,
    PG_WEBSTACK_SLOTS,
    _dump,
    _num,
)
from components.render.monitoring.humanize import _GO_VALUE, ValueFormat, _format_value, _humanize_duration, _pct

REDIS_MEMORY_WARNING_PERCENT = 90


class _GoLabels(dict[str, str]):
    """format_map source for rules: any {name} becomes the label's template action."""

    def __missing__(self, key: str) -> str:
        return "{{ $labels." + key + " }}"


@dataclass(frozen=True)
class _Rule:
    alert: str
    severity: Literal["warning", "critical"]
    expr: str
    for_: str | None
    summary: str  # str.format templates over label names and `value`
    description: str
    value: ValueFormat

    def as_rule(self, environment: str) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": self.alert, "expr": self.expr}
        if self.for_ is not None:
            rule["for"] = self.for_
        labels = _GoLabels(value=_GO_VALUE[self.value])
        rule["labels"] = {"severity": self.severity, "environment": environment}
        rule["annotations"] = {
            "summary": self.summary.format_map(labels),
            "description": self.description.format_map(labels),
        }
        return rule

    def expected(self, labels: Mapping[str, str], value: float, environment: str) -> dict[str, Any]:
        """A promtool exp_alerts entry: the alert as Prometheus must produce it."""
        values = {**labels, "value": _format_value(self.value, value)}
        return {
            "exp_labels": {**labels, "severity": self.severity, "environment": environment},
            "exp_annotations": {
                "summary": self.summary.format_map(values),
                "description": self.description.format_map(values),
            },
        }


def _postgres_rules(t: Thresholds) -> list[_Rule]:
    levels: tuple[Literal["warning", "critical"], ...] = ("warning", "critical")
    connections = {"warning": t.postgres_connections_warning, "critical": t.postgres_connections_critical}
    lag = {"warning": t.postgres_replication_lag_warning_mb, "critical": t.postgres_replication_lag_critical_mb}
    return [
        _Rule(
            "PostgresDown",
            "critical",
            "pg_up == 0",
            "1m",
            "PostgreSQL behind {instance} is down",
            "The postgres exporter {instance} cannot reach PostgreSQL: pg_up = {value}.",
            "raw",
        ),
        *(
            _Rule(
                "PostgresConnectionsHigh",
                level,
                f"{EXPR_PG_CONNECTIONS_PERCENT} > {_num(connections[level])}",
                "5m",
                "PostgreSQL {instance} is near max_connections",
                f"PostgreSQL behind {{instance}} has {{value}}% of its max_connections in use ({level} above "
                f"{_num(connections[level])}%); new connections will soon be refused.",
                "percent",
            )
            for level in levels
        ),
        *(
            _Rule(
                "PostgresReplicationLagHigh",
                level,
                f"{EXPR_PG_REPLICATION_LAG_BYTES} > {lag[level]} * 1048576",
                "5m",
                "Standby {application_name} is behind its primary",
                f"The standby {{application_name}} has not replayed {{value}} of the WAL of the primary behind "
                f"{{instance}} ({level} above {lag[level]} MiB for 5 minutes).",
                "bytes",
            )
            for level in levels
        ),
        _Rule(
            # Not streaming: the standby is down or cut off, it falls behind, and the slot
            # keeps the WAL on the primary (up to max_slot_wal_keep_size).
            "PostgresStandbyNotStreaming",
            "critical",
            f"pg_replication_slots_active{{{PG_WEBSTACK_SLOTS}}} == 0",
            "2m",
            "No standby streams through slot {slot_name}",
            "Nothing has streamed through the replication slot {slot_name} of the primary behind {instance} "
            "for 2 minutes (active = {value}): its standby is down or cut off, and the primary keeps its WAL.",
            "raw",
        ),
    ]


def _drill_rules(t: Thresholds, max_age_hours: int) -> list[_Rule]:
    """Restore drills (backup.drill, components/render/backup_drill.py's metrics)."""
    slow = t.drill_max_duration_hours
    return [
        _Rule(
            # A drill that failed: the backups may not restore. It names what (the record says why).
            "BackupDrillFailed",
            "critical",
            "webstack_backup_drill_last_run_success == 0",
            None,
            "The last restore drill on {instance} failed",
            "The last restore drill on {instance} failed (webstack_backup_drill_last_run_success = {value}): "
            "the backups may not restore. Its record says why: drill.sh records 1.",
            "raw",
        ),
        _Rule(
            "BackupDrillTooOld",
            "critical",
            f"time() - webstack_backup_drill_last_success_timestamp_seconds > {max_age_hours} * 3600",
            "5m",
            "No restore drill has passed on {instance} for too long",
            f"The last restore drill that passed on {{instance}} finished {{value}} ago; the limit is "
            f"{max_age_hours}h (the drill schedule's longest gap and some).",
            "duration",
        ),
        _Rule(
            # Before the first drill ever reports, or when its metric stops being exported.
            "BackupDrillMissing",
            "critical",
            "absent(webstack_backup_drill_last_run_timestamp_seconds)",
            f"{max_age_hours}h",
            "No restore drill has reported",
            f"webstack_backup_drill_last_run_timestamp_seconds has been absent for {max_age_hours}h "
            "(absent = {value}): no drill has run, or its metric is not exported.",
            "raw",
        ),
        _Rule(
            "BackupDrillSlow",
            "warning",
            f"webstack_backup_drill_duration_seconds > {_num(slow)} * 3600",
            None,
            "The last restore drill on {instance} was slow",
            f"The last restore drill on {{instance}} took {{value}}, more than the {_humanize_duration(slow * 3600)} "
            "a restore may take (seed 000: restored within 4 hours).",
            "duration",
        ),
    ]


def _rule_groups(
    t: Thresholds, backups: bool, postgres: bool = False, drill_max_age_hours: int | None = None
) -> list[tuple[str, list[_Rule]]]:
    levels: tuple[Literal["warning", "critical"], ...] = ("warning", "critical")
    error = {"warning": t.error_rate_warning, "critical": t.error_rate_critical}
    latency = {"warning": t.latency_p95_warning_s, "critical": t.latency_p95_critical_s}
    cpu = {"warning": t.cpu_warning, "critical": t.cpu_critical}
    memory = {"warning": t.memory_warning, "critical": t.memory_critical}
    disk = {"warning": t.disk_warning, "critical": t.disk_critical}
    disk_for = {"warning": "10m", "critical": "5m"}  # a nearly full disk can fill up fast

    targets = [
        _Rule(
            "InstanceDown",
            "critical",
            "up == 0",
            "2m",
            "{job} target {instance} is down",
            "Prometheus could not scrape {instance} (job {job}) for 2 minutes: up = {value}.",
            "raw",
        ),
    ]
    app = [
        _Rule(
            "AppErrorRateHigh",
            level,
            f"{EXPR_ERROR_RATIO} > {_num(error[level])}",
            "5m",
            "High 5xx error rate on service {service}",
            f"{{value}} of the requests to {{service}} ({{job}}) failed with a 5xx status over the last "
            f"5 minutes ({level} above {_pct(error[level])}).",
            "ratio",
        )
        for level in levels
    ] + [
        _Rule(
            "AppLatencyP95High",
            level,
            f"{EXPR_LATENCY_P95} > {_num(latency[level])}",
            "5m",
            "Slow responses from service {service}",
            f"The p95 response time of {{service}} ({{job}}) is {{value}} over the last 5 minutes "
            f"({level} above {_humanize_duration(latency[level])}).",
            "duration",
        )
        for level in levels
    ]
    hosts = (
        [
            _Rule(
                "HostCpuHigh",
                level,
                f"{EXPR_CPU_PERCENT} > {cpu[level]}",
                "10m",
                "High CPU usage on {instance}",
                f"CPU usage on {{instance}} is {{value}}% ({level} above {cpu[level]}% for 10 minutes).",
                "percent",
            )
            for level in levels
        ]
        + [
            _Rule(
                "HostMemoryHigh",
                level,
                f"{EXPR_MEMORY_PERCENT} > {memory[level]}",
                "5m",
                "High memory usage on {instance}",
                f"Memory usage on {{instance}} is {{value}}% ({level} above {memory[level]}% for 5 minutes).",
                "percent",
            )
            for level in levels
        ]
        + [
            _Rule(
                "HostDiskUsageHigh",
                level,
                f"{EXPR_DISK_PERCENT} > {disk[level]}",
                disk_for[level],
                "Disk {mountpoint} on {instance} is filling up",
                f"File system {{mountpoint}} ({{device}}) on {{instance}} is {{value}}% full "
                f"({level} above {disk[level]}%).",
                "percent",
            )
            for level in levels
        ]
    )
    hours = t.backup_max_age_hours
    backup = [
        _Rule(
            "BackupTooOld",
            "critical",
            f"{EXPR_BACKUP_AGE} > {hours} * 3600",
            "5m",
            "Backup of {target} is too old",
            f"The last successful backup of {{target}} (reported by {{instance}}) finished {{value}} ago; "
            f"the limit is {hours}h.",
            "duration",
        ),
        _Rule(
            # Before the first backup ever succeeds, or when its metric stops being exported.
            "BackupMissing",
            "critical",
            "absent(webstack_backup_last_success_timestamp_seconds)",
            f"{hours}h",
            "No backup has reported success",
            f"webstack_backup_last_success_timestamp_seconds has been absent for {hours}h "
            "(absent = {value}): no backup has succeeded, or its metric is not exported.",
            "raw",
        ),
        _Rule(
            # A failed run pages nobody at night: BackupTooOld escalates if the next run fails too.
            "BackupRunFailed",
            "warning",
            "webstack_backup_last_run_success == 0",
            None,
            "The last backup run of {target} failed",
            "The last backup run of {target} on {instance} failed (webstack_backup_last_run_success = {value}).",
            "raw",
        ),
    ]
    days = t.certificate_expiry_days
    edge = [
        _Rule(
            "TlsCertificateExpiry",
            "warning",
            f"webstack_tls_certificate_expiry_timestamp_seconds < time() + {days} * 86400",
            "10m",
            "TLS certificate for {server_name} expires soon",
            f"The TLS certificate for {{server_name}} on {{instance}} expires at {{value}} "
            f"(warning within {days} days).",
            "timestamp",
        ),
        _Rule(
            "TlsCertificateExpiry",
            "critical",
            "webstack_tls_certificate_expiry_timestamp_seconds <= time()",
            "2m",
            "TLS certificate for {server_name} has expired",
            "The TLS certificate for {server_name} on {instance} expired at {value}.",
            "timestamp",
        ),
        _Rule(
            "NginxDown",
            "critical",
            "nginx_up == 0",
            "1m",
            "nginx behind {instance} is down",
            "The nginx exporter {instance} cannot reach nginx: nginx_up = {value}.",
            "raw",
        ),
    ]
    redis = [
        _Rule(
            "RedisMemoryNearMax",
            "warning",
            # maxmemory 0 means no limit: the ratio is +Inf then, not a problem.
            f"{EXPR_REDIS_MEMORY_PERCENT} > {REDIS_MEMORY_WARNING_PERCENT} and redis_memory_max_bytes > 0",
            "5m",
            "Redis {instance} is near its maxmemory",
            f"Redis {{instance}} uses {{value}}% of its maxmemory (warning above {REDIS_MEMORY_WARNING_PERCENT}%); "
            "keys are being evicted or writes will fail.",
            "percent",
        ),
        _Rule(
            "RedisDown",
            "critical",
            "redis_up == 0",
            "1m",
            "Redis behind {instance} is down",
            "The Redis exporter {instance} cannot reach Redis: redis_up = {value}.",
            "raw",
        ),
    ]
    groups = [
        ("webstack-targets", targets),
        ("webstack-app", app),
        ("webstack-hosts", hosts),
        ("webstack-backups", backup),
        ("webstack-edge", edge),
        ("webstack-redis", redis),
    ]
    if postgres:
        groups.append(("webstack-postgres", _postgres_rules(t)))
    if drill_max_age_hours is not None:
        groups.append(("webstack-backup-drills", _drill_rules(t, drill_max_age_hours)))
    return [(name, rules) for name, rules in groups if backups or not name.startswith("webstack-backup")]


def render_alert_rules(
    thresholds: Thresholds,
    *,
    environment: str,
    backups: bool = True,
    postgres: bool = False,
    drill_max_age_hours: int | None = None,
) -> str:
    """A Prometheus rule file. `backups=False` leaves out the backup alerts (no BackupJob);
    `postgres=True` adds PostgreSQL's (a webstack:postgres cluster); `drill_max_age_hours`
    adds the restore drills' (backup.drill on: StackConfig.drill_max_age_hours())."""
    groups = [
        {"name": name, "rules": [rule.as_rule(environment) for rule in rules]}
        for name, rules in _rule_groups(thresholds, backups, postgres, drill_max_age_hours)
    ]
    return _dump({"groups": groups})
