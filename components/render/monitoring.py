"""Monitoring config: prometheus.yml, alert rules and their promtool tests, Alertmanager,
Grafana provisioning. Pure: no Pulumi import; plain values in, deterministic text out.

The alert rules and their promtool tests come from the same `Thresholds`, so the tests
follow the config. Annotations are written once as `str.format` templates: the rules
fill them with Go template actions, the tests with the values Prometheus must print.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import yaml

from components.config import Thresholds

__all__ = [
    "GRAFANA_DATASOURCE_UID",
    "REDIS_MEMORY_WARNING_PERCENT",
    "ScrapeJob",
    "render_alert_rule_tests",
    "render_alert_rules",
    "render_alertmanager_config",
    "render_drill_alert_rule_tests",
    "render_grafana_dashboard",
    "render_grafana_dashboard_providers",
    "render_grafana_datasources",
    "render_prometheus_config",
]

GRAFANA_DATASOURCE_UID = "prometheus"
REDIS_MEMORY_WARNING_PERCENT = 90

# PromQL shared by the rules and the dashboard.
APP_SELECTOR = 'job=~"app-.+"'
# Pseudo and container file systems: their usage says nothing about the host's disks.
FS_SELECTOR = 'fstype!~"tmpfs|devtmpfs|ramfs|overlay|squashfs|nsfs|autofs|fuse.lxcfs"'
EXPR_REQUEST_RATE = f"sum by (job, service) (rate(http_requests_total{{{APP_SELECTOR}}}[5m]))"
EXPR_ERROR_RATIO = (
    f'sum by (job, service) (rate(http_requests_total{{{APP_SELECTOR},status=~"5.."}}[5m])) / {EXPR_REQUEST_RATE}'
)
EXPR_LATENCY_P95 = (
    "histogram_quantile(0.95, sum by (job, service, le) "
    f"(rate(http_request_duration_seconds_bucket{{{APP_SELECTOR}}}[5m])))"
)
EXPR_CPU_PERCENT = '100 * (1 - avg by (job, instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])))'
EXPR_MEMORY_PERCENT = "100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)"
EXPR_DISK_PERCENT = (
    f"100 * (1 - node_filesystem_avail_bytes{{{FS_SELECTOR}}} / node_filesystem_size_bytes{{{FS_SELECTOR}}})"
)
EXPR_REDIS_MEMORY_PERCENT = "100 * redis_memory_used_bytes / redis_memory_max_bytes"
EXPR_BACKUP_AGE = "time() - webstack_backup_last_success_timestamp_seconds"
# PostgreSQL, from the postgres exporter (the metrics of Debian's 0.11 and of later releases):
# client connections (pg_stat_activity rows of a database) against max_connections, and on
# the primary the WAL each standby has not replayed yet (bytes), and its slots' state.
EXPR_PG_CONNECTIONS_PERCENT = (
    "100 * sum by (job, instance) (pg_stat_activity_count) / max by (job, instance) (pg_settings_max_connections)"
)
EXPR_PG_REPLICATION_LAG_BYTES = "pg_stat_replication_pg_wal_lsn_diff"
PG_WEBSTACK_SLOTS = 'slot_name=~"webstack_.+"'

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_JOB_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_TARGET = re.compile(r"^([A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$")


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000, allow_unicode=True)


def _num(value: float) -> str:
    """A number as PromQL and promtool series notation read it, without float noise."""
    as_float = float(value)
    return str(int(as_float)) if as_float.is_integer() else repr(as_float)


# --- Prometheus -------------------------------------------------------------------------


@dataclass(frozen=True)
class ScrapeJob:
    name: str  # e.g. "node", "nginx", "redis", "app-backend", "prometheus", "alertmanager"
    targets: list[str]  # "host:port"
    metrics_path: str = "/metrics"
    labels: dict[str, str] = field(default_factory=dict)  # static labels, e.g. {"service": "backend"}
    # Where Prometheus reads this job's targets and labels (file-based discovery) instead of
    # its config: targets that move with a deploy then need no reload (render_targets_file).
    targets_file: str | None = None

    def validate(self) -> None:
        if not _JOB_NAME.match(self.name):
            raise ValueError(f"scrape job name {self.name!r}: letters, digits, '_', '.', '-'")
        for target in self.targets:
            if not _TARGET.match(target):
                raise ValueError(f"scrape job {self.name!r}: target {target!r} is not host:port")
        if not self.metrics_path.startswith("/"):
            raise ValueError(f"scrape job {self.name!r}: metrics_path must start with '/'")
        for label in self.labels:
            if not _LABEL_NAME.match(label) or label.startswith("__"):
                raise ValueError(f"scrape job {self.name!r}: {label!r} is not a valid label name")


def render_prometheus_config(
    *,
    scrape_interval_s: int,
    jobs: list[ScrapeJob],
    alertmanager_targets: list[str],
    rule_files: list[str],
    environment: str,
) -> str:
    if scrape_interval_s < 1:
        raise ValueError("scrape_interval_s must be at least 1")
    names = [job.name for job in jobs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate scrape job names: {', '.join(duplicates)}")
    for job in jobs:
        job.validate()
    for target in alertmanager_targets:
        if not _TARGET.match(target):
            raise ValueError(f"alertmanager target {target!r} is not host:port")

    config: dict[str, Any] = {
        "global": {
            "scrape_interval": f"{scrape_interval_s}s",
            # Prometheus rejects a timeout longer than the interval.
            "scrape_timeout": f"{min(10, scrape_interval_s)}s",
            "evaluation_interval": f"{scrape_interval_s}s",
            "external_labels": {"environment": environment},
        },
    }
    if alertmanager_targets:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(alertmanager_targets)}]}]}
    config["rule_files"] = list(rule_files)
    scrape_configs: list[dict[str, Any]] = []
    for job in jobs:
        scrape: dict[str, Any] = {"job_name": job.name, "metrics_path": job.metrics_path}
        if job.targets_file is not None:
            # Prometheus watches the file; the interval is the fallback when a change is missed.
            scrape["file_sd_configs"] = [{"files": [job.targets_file], "refresh_interval": "30s"}]
        else:
            static: dict[str, Any] = {"targets": list(job.targets)}
            if job.labels:
                static["labels"] = dict(job.labels)
            scrape["static_configs"] = [static]
        scrape_configs.append(scrape)
    config["scrape_configs"] = scrape_configs
    return _dump(config)


def render_targets_file(targets: Sequence[str], *, job: str, labels: Mapping[str, str] | None = None) -> str:
    """A job's targets and static labels in Prometheus' file-based discovery format (JSON)."""
    ScrapeJob(name=job, targets=list(targets), labels=dict(labels or {})).validate()
    group: dict[str, Any] = {"targets": sorted(targets)}
    if labels:
        group["labels"] = dict(labels)
    return json.dumps([group], indent=2) + "\n"


# --- Alert rules ------------------------------------------------------------------------

ValueFormat = Literal["raw", "percent", "ratio", "duration", "timestamp", "bytes"]

# How each rule prints $value, in Go (rules) and in Python (the expected test output).
_GO_VALUE: dict[str, str] = {
    "raw": "{{ $value }}",
    "percent": '{{ $value | printf "%.1f" }}',
    "ratio": "{{ $value | humanizePercentage }}",
    "duration": "{{ $value | humanizeDuration }}",
    "timestamp": "{{ $value | humanizeTimestamp }}",
    "bytes": "{{ $value | humanize1024 }}B",
}


def _go_g4(value: float) -> str:
    return f"{value:.4g}"


def _humanize_duration(value: float) -> str:
    """Prometheus' humanizeDuration template function."""
    if math.isnan(value) or math.isinf(value):
        return _go_g4(value)
    if value == 0:
        return f"{_go_g4(value)}s"
    if abs(value) >= 1:
        sign = "-" if value < 0 else ""
        value = abs(value)
        whole = int(value)
        seconds, minutes, hours, days = whole % 60, (whole // 60) % 60, (whole // 3600) % 24, whole // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_go_g4(value)}s"
    prefix = ""
    for unit in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(value) >= 1:
            break
        prefix = unit
        value *= 1000
    return f"{_go_g4(value)}{prefix}s"


def _humanize_1024(value: float) -> str:
    """Prometheus' humanize1024 template function."""
    if abs(value) <= 1 or math.isnan(value) or math.isinf(value):
        return _go_g4(value)
    prefix = ""
    for unit in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(value) < 1024:
            break
        prefix = unit
        value /= 1024
    return f"{_go_g4(value)}{prefix}"


def _format_value(kind: ValueFormat, value: float) -> str:
    """What Prometheus prints for `$value` with the rule's pipeline."""
    if kind == "bytes":
        return f"{_humanize_1024(value)}B"
    if kind == "raw":
        return _num(value) if math.isfinite(value) else repr(value)
    if kind == "percent":
        return f"{value:.1f}"
    if kind == "ratio":
        return f"{_go_g4(value * 100)}%"
    if kind == "duration":
        return _humanize_duration(value)
    if not float(value).is_integer():
        raise ValueError("timestamps in rule tests are whole seconds")
    return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


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


def _pct(ratio: float) -> str:
    return f"{_go_g4(ratio * 100)}%"


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


# --- promtool rule tests ----------------------------------------------------------------


def _series(metric: str, labels: Mapping[str, str], values: str) -> dict[str, str]:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{metric}{{{inner}}}", "values": values}


def _short(value: float) -> float:
    """Drop float noise (12.599999999999998) from test inputs; 12 digits are plenty."""
    return float(f"{value:.12g}")


def _flat(value: float, steps: int) -> str:
    return f"{_num(_short(value))}+0x{steps}"


def _ramp(per_step: float, steps: int) -> str:
    return f"0+{_num(_short(per_step))}x{steps}"


def _check(minute: int, alert: str, expected: list[dict[str, Any]]) -> dict[str, Any]:
    return {"eval_time": f"{minute}m", "alertname": alert, "exp_alerts": expected}


def _test(name: str, series: list[dict[str, str]], checks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "interval": "1m", "input_series": series, "alert_rule_test": checks}


def _between(low: float, high: float) -> float:
    return (low + high) / 2


def render_alert_rule_tests(
    thresholds: Thresholds,
    *,
    rule_file: str,
    environment: str,
    backups: bool = True,
    postgres: bool = False,
) -> str:
    """A `promtool test rules` file for `render_alert_rules(thresholds, ...)`.

    For every alert and severity: a case that fires (labels and annotations checked)
    and one that must not (just under the threshold, or before `for:` elapses).
    """
    t = thresholds
    rules = {(r.alert, r.severity): r for _, group in _rule_groups(t, backups, postgres) for r in group}

    def exp(
        alert: str, severity: Literal["warning", "critical"], labels: Mapping[str, str], value: float
    ) -> dict[str, Any]:
        return rules[(alert, severity)].expected(labels, value, environment)

    tests: list[dict[str, Any]] = []

    # InstanceDown: web-1 is down (fires after 2m), web-2 is up.
    down = [
        {"job": "node", "instance": "web-1:9100"},
        {"job": "app-backend", "instance": "web-1:8000", "service": "backend"},
    ]
    tests.append(
        _test(
            "InstanceDown: down targets fire after 2m, up targets never",
            [_series("up", lbl, _flat(0, 6)) for lbl in down]
            + [_series("up", {"job": "node", "instance": "web-2:9100"}, _flat(1, 6))],
            [
                _check(1, "InstanceDown", []),
                _check(3, "InstanceDown", [exp("InstanceDown", "critical", lbl, 0) for lbl in down]),
            ],
        )
    )

    # Error ratio per service: 600 requests a minute, a share of them 5xx.
    warn_e, crit_e = t.error_rate_warning, t.error_rate_critical
    error_cases = {
        "calm": warn_e * 0.9,
        "degraded": _between(warn_e, crit_e),
        "failing": min(crit_e * 2, _between(crit_e, 1.0)),
    }
    series: list[dict[str, str]] = []
    for service, ratio in error_cases.items():
        base = {"job": f"app-{service}", "service": service}
        series.append(_series("http_requests_total", {**base, "status": "500"}, _ramp(600 * ratio, 12)))
        series.append(_series("http_requests_total", {**base, "status": "200"}, _ramp(600 * (1 - ratio), 12)))

    def app_labels(service: str) -> dict[str, str]:
        return {"job": f"app-{service}", "service": service}

    tests.append(
        _test(
            "AppErrorRateHigh: calm under warning, degraded warning only, failing both",
            series,
            [
                _check(5, "AppErrorRateHigh", []),
                _check(
                    8,
                    "AppErrorRateHigh",
                    [
                        exp("AppErrorRateHigh", "warning", app_labels("degraded"), error_cases["degraded"]),
                        exp("AppErrorRateHigh", "warning", app_labels("failing"), error_cases["failing"]),
                        exp("AppErrorRateHigh", "critical", app_labels("failing"), error_cases["failing"]),
                    ],
                ),
            ],
        )
    )

    # p95 latency: every request lands in one bucket (0, b], so p95 = 0.95 * b.
    warn_l, crit_l = t.latency_p95_warning_s, t.latency_p95_critical_s
    latency_cases = {"fast": warn_l * 0.9, "slow": _between(warn_l, crit_l), "stuck": crit_l * 1.5}
    series = []
    p95: dict[str, float] = {}
    for service, seconds in latency_cases.items():
        bound = _short(seconds / 0.95)
        p95[service] = bound * 0.95
        for le in (repr(bound), "+Inf"):
            labels = {**app_labels(service), "le": le}
            series.append(_series("http_request_duration_seconds_bucket", labels, _ramp(60, 12)))
    tests.append(
        _test(
            "AppLatencyP95High: fast under warning, slow warning only, stuck both",
            series,
            [
                _check(5, "AppLatencyP95High", []),
                _check(
                    8,
                    "AppLatencyP95High",
                    [
                        exp("AppLatencyP95High", "warning", app_labels("slow"), p95["slow"]),
                        exp("AppLatencyP95High", "warning", app_labels("stuck"), p95["stuck"]),
                        exp("AppLatencyP95High", "critical", app_labels("stuck"), p95["stuck"]),
                    ],
                ),
            ],
        )
    )

    def three_levels(warning: int, critical: int) -> dict[str, float]:
        """Usage in percent: just under warning, between the two, above critical."""
        levels = {"web-1:9100": float(warning - 1), "web-2:9100": _between(warning, critical)}
        if critical < 100:
            levels["web-3:9100"] = _between(critical, 100)
        return levels

    def level_alerts(
        alert: str, usage: Mapping[str, float], warning: int, critical: int, extra: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        found = []
        for instance, percent in usage.items():
            labels = {"job": "node", "instance": instance, **extra}
            if percent > warning:
                found.append(exp(alert, "warning", labels, percent))
            if percent > critical:
                found.append(exp(alert, "critical", labels, percent))
        return found

    # CPU: two cores per host, idle seconds growing by (1 - usage) each second.
    cpu_usage = three_levels(t.cpu_warning, t.cpu_critical)
    series = [
        _series(
            "node_cpu_seconds_total",
            {"job": "node", "instance": instance, "cpu": str(core), "mode": "idle"},
            _ramp(60 * (1 - percent / 100), 16),
        )
        for instance, percent in cpu_usage.items()
        for core in (0, 1)
    ]
    tests.append(
        _test(
            f"HostCpuHigh: warning above {t.cpu_warning}%, critical above {t.cpu_critical}%, after 10m",
            series,
            [
                _check(10, "HostCpuHigh", []),
                _check(13, "HostCpuHigh", level_alerts("HostCpuHigh", cpu_usage, t.cpu_warning, t.cpu_critical, {})),
            ],
        )
    )

    # Memory and disk: totals of 100 MB, so the percentages are exact.
    total = 100_000_000
    memory_usage = three_levels(t.memory_warning, t.memory_critical)
    series = []
    for instance, percent in memory_usage.items():
        labels = {"job": "node", "instance": instance}
        series.append(_series("node_memory_MemTotal_bytes", labels, _flat(total, 10)))
        series.append(
            _series("node_memory_MemAvailable_bytes", labels, _flat(round(total * (100 - percent) / 100), 10))
        )
    tests.append(
        _test(
            f"HostMemoryHigh: warning above {t.memory_warning}%, critical above {t.memory_critical}%, after 5m",
            series,
            [
                _check(4, "HostMemoryHigh", []),
                _check(
                    7,
                    "HostMemoryHigh",
                    level_alerts("HostMemoryHigh", memory_usage, t.memory_warning, t.memory_critical, {}),
                ),
            ],
        )
    )

    disk_usage = three_levels(t.disk_warning, t.disk_critical)
    root = {"device": "/dev/vda1", "fstype": "ext4", "mountpoint": "/"}
    series = []
    for instance, percent in disk_usage.items():
        labels = {"job": "node", "instance": instance, **root}
        series.append(_series("node_filesystem_size_bytes", labels, _flat(total, 15)))
        series.append(_series("node_filesystem_avail_bytes", labels, _flat(round(total * (100 - percent) / 100), 15)))
    for pseudo in (
        {"device": "tmpfs", "fstype": "tmpfs", "mountpoint": "/run"},
        {"device": "overlay", "fstype": "overlay", "mountpoint": "/var/lib/docker/overlay2/x/merged"},
    ):
        labels = {"job": "node", "instance": "web-1:9100", **pseudo}
        series.append(_series("node_filesystem_size_bytes", labels, _flat(total, 15)))
        series.append(_series("node_filesystem_avail_bytes", labels, _flat(total // 100, 15)))
    tests.append(
        _test(
            f"HostDiskUsageHigh: warning above {t.disk_warning}%, critical above {t.disk_critical}%, "
            "full tmpfs and overlay ignored",
            series,
            [
                _check(4, "HostDiskUsageHigh", []),
                _check(
                    12,
                    "HostDiskUsageHigh",
                    level_alerts("HostDiskUsageHigh", disk_usage, t.disk_warning, t.disk_critical, root),
                ),
            ],
        )
    )

    if backups:
        limit = t.backup_max_age_hours * 60  # minutes
        steps = limit + 10
        node = {"job": "node", "instance": "backup-1:9100"}
        tests.append(
            _test(
                f"BackupTooOld: postgres last succeeded at 0 and goes stale after {t.backup_max_age_hours}h, "
                "redis stays fresh",
                [
                    _series(
                        "webstack_backup_last_success_timestamp_seconds",
                        {**node, "target": "postgres"},
                        _flat(0, steps),
                    ),
                    _series(
                        "webstack_backup_last_success_timestamp_seconds", {**node, "target": "redis"}, _ramp(60, steps)
                    ),
                ],
                [
                    _check(limit, "BackupTooOld", []),
                    _check(limit + 3, "BackupTooOld", []),
                    _check(
                        limit + 8,
                        "BackupTooOld",
                        [exp("BackupTooOld", "critical", {**node, "target": "postgres"}, (limit + 8) * 60)],
                    ),
                    _check(limit + 8, "BackupMissing", []),
                ],
            )
        )
        tests.append(
            _test(
                f"BackupMissing: no backup metric at all for {t.backup_max_age_hours}h",
                [_series("up", node, _flat(1, limit + 5))],
                [
                    _check(limit - 1, "BackupMissing", []),
                    _check(limit + 1, "BackupMissing", [exp("BackupMissing", "critical", {}, 1)]),
                ],
            )
        )
        tests.append(
            _test(
                "BackupRunFailed: fires while the last run failed, clears on the next success",
                [
                    _series("webstack_backup_last_run_success", {**node, "target": "postgres"}, "1 1 0 0 1 1"),
                    _series("webstack_backup_last_run_success", {**node, "target": "redis"}, _flat(1, 5)),
                ],
                [
                    _check(1, "BackupRunFailed", []),
                    _check(
                        2, "BackupRunFailed", [exp("BackupRunFailed", "warning", {**node, "target": "postgres"}, 0)]
                    ),
                    _check(4, "BackupRunFailed", []),
                ],
            )
        )

    # TLS: expiry timestamps relative to the test clock, which starts at the epoch.
    day, days = 86400, t.certificate_expiry_days
    edge = {"job": "node", "instance": "edge-1:9100"}
    certs = {"example.com": days * day - 3600, "www.example.com": days * day + 3600, "old.example.com": 60}

    def cert(name: str) -> dict[str, str]:
        return {**edge, "server_name": name}

    tests.append(
        _test(
            f"TlsCertificateExpiry: warning within {days} days after 10m, critical once expired after 2m",
            [
                _series("webstack_tls_certificate_expiry_timestamp_seconds", cert(name), _flat(expiry, 15))
                for name, expiry in certs.items()
            ],
            [
                _check(2, "TlsCertificateExpiry", []),
                _check(
                    5,
                    "TlsCertificateExpiry",
                    [exp("TlsCertificateExpiry", "critical", cert("old.example.com"), certs["old.example.com"])],
                ),
                _check(
                    12,
                    "TlsCertificateExpiry",
                    [
                        exp("TlsCertificateExpiry", "warning", cert("example.com"), certs["example.com"]),
                        exp("TlsCertificateExpiry", "warning", cert("old.example.com"), certs["old.example.com"]),
                        exp("TlsCertificateExpiry", "critical", cert("old.example.com"), certs["old.example.com"]),
                    ],
                ),
            ],
        )
    )

    tests.append(
        _test(
            "NginxDown: fires after 1m of nginx_up == 0",
            [
                _series("nginx_up", {"job": "nginx", "instance": "edge-1:9113"}, _flat(0, 5)),
                _series("nginx_up", {"job": "nginx", "instance": "edge-2:9113"}, _flat(1, 5)),
            ],
            [
                _check(0, "NginxDown", []),
                _check(2, "NginxDown", [exp("NginxDown", "critical", {"job": "nginx", "instance": "edge-1:9113"}, 0)]),
            ],
        )
    )

    # Redis memory: 89% and 95% of a 100 MB maxmemory, and one instance without a limit.
    redis_usage = {
        "redis-1:9121": REDIS_MEMORY_WARNING_PERCENT - 1.0,
        "redis-2:9121": _between(REDIS_MEMORY_WARNING_PERCENT, 100),
    }
    series = []
    for instance, percent in redis_usage.items():
        labels = {"job": "redis", "instance": instance}
        series.append(_series("redis_memory_max_bytes", labels, _flat(total, 10)))
        series.append(_series("redis_memory_used_bytes", labels, _flat(round(total * percent / 100), 10)))
    unlimited = {"job": "redis", "instance": "redis-3:9121"}
    series.append(_series("redis_memory_max_bytes", unlimited, _flat(0, 10)))
    series.append(_series("redis_memory_used_bytes", unlimited, _flat(total, 10)))
    tests.append(
        _test(
            f"RedisMemoryNearMax: above {REDIS_MEMORY_WARNING_PERCENT}% of maxmemory after 5m, never without a limit",
            series,
            [
                _check(4, "RedisMemoryNearMax", []),
                _check(
                    7,
                    "RedisMemoryNearMax",
                    [
                        exp(
                            "RedisMemoryNearMax",
                            "warning",
                            {"job": "redis", "instance": "redis-2:9121"},
                            redis_usage["redis-2:9121"],
                        )
                    ],
                ),
            ],
        )
    )
    tests.append(
        _test(
            "RedisDown: fires after 1m of redis_up == 0",
            [
                _series("redis_up", {"job": "redis", "instance": "redis-1:9121"}, _flat(0, 5)),
                _series("redis_up", {"job": "redis", "instance": "redis-2:9121"}, _flat(1, 5)),
            ],
            [
                _check(0, "RedisDown", []),
                _check(2, "RedisDown", [exp("RedisDown", "critical", {"job": "redis", "instance": "redis-1:9121"}, 0)]),
            ],
        )
    )
    if postgres:
        tests += _postgres_rule_tests(t, exp)
    return _dump({"rule_files": [rule_file], "evaluation_interval": "1m", "tests": tests})


def _postgres_rule_tests(t: Thresholds, exp: Any) -> list[dict[str, Any]]:
    """promtool cases for the webstack-postgres group, from the same thresholds."""
    tests: list[dict[str, Any]] = []
    exporter = "postgres"
    primary = {"job": exporter, "instance": "data-1:9187"}
    standby = {"job": exporter, "instance": "data-2:9187"}
    tests.append(
        _test(
            "PostgresDown: fires after 1m of pg_up == 0",
            [_series("pg_up", primary, _flat(0, 5)), _series("pg_up", standby, _flat(1, 5))],
            [
                _check(0, "PostgresDown", []),
                _check(2, "PostgresDown", [exp("PostgresDown", "critical", primary, 0)]),
            ],
        )
    )

    # Connections on servers of max_connections 10000 (0.01% steps): just under warning, just
    # over it, just over critical; each count split over two pg_stat_activity_count series.
    limit = 10_000
    warning, critical = t.postgres_connections_warning, t.postgres_connections_critical
    counts = {
        "pg-1:9187": math.floor(warning * limit / 100) - 1,
        "pg-2:9187": math.floor(warning * limit / 100) + 1,
    }
    if math.floor(critical * limit / 100) + 1 <= limit:
        counts["pg-3:9187"] = math.floor(critical * limit / 100) + 1
    series: list[dict[str, str]] = []
    fired: list[dict[str, Any]] = []
    for instance, count in counts.items():
        labels = {"job": exporter, "instance": instance}
        series.append(_series("pg_settings_max_connections", {**labels, "server": "x:5432"}, _flat(limit, 10)))
        idle = count // 3
        for state, value in (("idle", idle), ("active", count - idle)):
            activity = {**labels, "datname": "app", "server": "x:5432", "state": state}
            series.append(_series("pg_stat_activity_count", activity, _flat(value, 10)))
        percent = 100 * count / limit
        for level, threshold in (("warning", warning), ("critical", critical)):
            if percent > threshold:
                fired.append(exp("PostgresConnectionsHigh", level, labels, percent))
    tests.append(
        _test(
            f"PostgresConnectionsHigh: warning above {_num(warning)}%, critical above {_num(critical)}% "
            "of max_connections, after 5m",
            series,
            [_check(4, "PostgresConnectionsHigh", []), _check(7, "PostgresConnectionsHigh", fired)],
        )
    )

    mib = 1_048_576
    lag_warning, lag_critical = t.postgres_replication_lag_warning_mb, t.postgres_replication_lag_critical_mb
    lags = {
        "data-2": lag_warning * mib - 1,
        "data-3": _between(lag_warning, lag_critical) * mib,
        "data-4": lag_critical * mib * 2,
    }
    series = []
    fired = []
    for standby_name, lag in lags.items():
        labels = {
            **primary,
            "application_name": standby_name,
            "client_addr": "10.0.0.14",
            "server": "10.0.0.13:5432",
            "state": "streaming",
        }
        series.append(_series("pg_stat_replication_pg_wal_lsn_diff", labels, _flat(lag, 10)))
        for level, threshold in (("warning", lag_warning), ("critical", lag_critical)):
            if lag > threshold * mib:
                fired.append(exp("PostgresReplicationLagHigh", level, labels, lag))
    tests.append(
        _test(
            f"PostgresReplicationLagHigh: warning above {lag_warning} MiB, critical above {lag_critical} MiB "
            "not replayed, after 5m",
            series,
            [_check(4, "PostgresReplicationLagHigh", []), _check(7, "PostgresReplicationLagHigh", fired)],
        )
    )

    def slot(name: str) -> dict[str, str]:
        return {**primary, "server": "10.0.0.13:5432", "slot_name": name}

    tests.append(
        _test(
            "PostgresStandbyNotStreaming: a webstack slot inactive for 2m; other slots never",
            [
                _series("pg_replication_slots_active", slot("webstack_data_2"), "1 1 0 0 0 0 0"),
                _series("pg_replication_slots_active", slot("webstack_data_3"), _flat(1, 6)),
                _series("pg_replication_slots_active", slot("someone_elses"), _flat(0, 6)),
            ],
            [
                _check(3, "PostgresStandbyNotStreaming", []),
                _check(
                    5,
                    "PostgresStandbyNotStreaming",
                    [exp("PostgresStandbyNotStreaming", "critical", slot("webstack_data_2"), 0)],
                ),
            ],
        )
    )
    return tests


# --- Alertmanager -----------------------------------------------------------------------

# Labels that tell two alerts of one family apart; absent labels compare as equal.
_INHIBIT_EQUAL = ["alertname", "environment", "job", "instance", "service", "mountpoint", "target", "server_name"]


def render_alertmanager_config(*, webhook_url: str | None, environment: str) -> str:
    """Routes by severity. Without a webhook (the local stack) the receivers are null."""

    def receiver(name: str) -> dict[str, Any]:
        if webhook_url is None:
            return {"name": name}
        return {"name": name, "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}

    config = {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": "default",
            "group_by": ["alertname", "environment", "severity"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                {
                    "receiver": "critical",
                    "matchers": ['severity="critical"'],
                    "group_wait": "10s",
                    "group_interval": "1m",
                    "repeat_interval": "1h",
                },
                {
                    "receiver": "warning",
                    "matchers": ['severity="warning"'],
                    "group_wait": "1m",
                    "group_interval": "5m",
                    "repeat_interval": "12h",
                },
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity="warning"'],
                "equal": list(_INHIBIT_EQUAL),
            }
        ],
        "receivers": [receiver("default"), receiver("critical"), receiver("warning")],
    }
    return f"# Alertmanager for webstack {environment}\n" + _dump(config)


# --- Grafana ----------------------------------------------------------------------------


def render_grafana_datasources(*, prometheus_url: str) -> str:
    config = {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "uid": GRAFANA_DATASOURCE_UID,
                "type": "prometheus",
                "access": "proxy",
                "url": prometheus_url,
                "isDefault": True,
                "editable": False,
            }
        ],
    }
    return _dump(config)


def render_grafana_dashboard_providers(*, dashboards_dir: str) -> str:
    config = {
        "apiVersion": 1,
        "providers": [
            {
                "name": "webstack",
                "orgId": 1,
                "folder": "webstack",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {"path": dashboards_dir, "foldersFromFilesStructure": False},
            }
        ],
    }
    return _dump(config)


# (title, unit, [(expr, legend)])
_PANELS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("Request rate", "reqps", [(EXPR_REQUEST_RATE, "{{service}}")]),
    ("Error rate (5xx)", "percentunit", [(EXPR_ERROR_RATIO, "{{service}}")]),
    ("Latency p95", "s", [(EXPR_LATENCY_P95, "{{service}}")]),
    ("CPU usage", "percent", [(EXPR_CPU_PERCENT, "{{instance}}")]),
    ("Memory usage", "percent", [(EXPR_MEMORY_PERCENT, "{{instance}}")]),
    ("Disk usage", "percent", [(EXPR_DISK_PERCENT, "{{instance}} {{mountpoint}}")]),
    (
        "Redis memory",
        "bytes",
        [("redis_memory_used_bytes", "{{instance}} used"), ("redis_memory_max_bytes", "{{instance}} max")],
    ),
    ("Backup age", "s", [(EXPR_BACKUP_AGE, "{{target}}")]),
]


def render_grafana_dashboard(*, environment: str) -> str:
    datasource = {"type": "prometheus", "uid": GRAFANA_DATASOURCE_UID}
    panels = []
    for index, (title, unit, queries) in enumerate(_PANELS):
        panels.append(
            {
                "id": index + 1,
                "type": "timeseries",
                "title": title,
                "datasource": datasource,
                "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "options": {
                    "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"},
                },
                "targets": [
                    {"refId": chr(ord("A") + i), "datasource": datasource, "expr": expr, "legendFormat": legend}
                    for i, (expr, legend) in enumerate(queries)
                ],
            }
        )
    dashboard = {
        "uid": "webstack-overview",
        "title": f"webstack overview ({environment})",
        "tags": ["webstack", environment],
        "timezone": "utc",
        "editable": False,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "templating": {"list": []},
        "panels": panels,
    }
    return json.dumps(dashboard, indent=2) + "\n"


def render_drill_alert_rule_tests(
    thresholds: Thresholds, *, rule_file: str, environment: str, drill_max_age_hours: int
) -> str:
    """A `promtool test rules` file for the webstack-backup-drills group of
    `render_alert_rules(thresholds, ..., drill_max_age_hours=...)`: a file of its own, evaluated
    every 15 minutes, because a week and more at one-minute steps takes promtool minutes."""
    t = thresholds
    rules = {r.alert: r for r in _drill_rules(t, drill_max_age_hours)}

    def exp(alert: str, labels: Mapping[str, str], value: float) -> dict[str, Any]:
        return rules[alert].expected(labels, value, environment)

    node = {"job": "node", "instance": "data-1:9100"}
    other = {"job": "node", "instance": "data-2:9100"}
    step = 15  # minutes, the evaluation interval and the samples' (a sample every evaluation: none goes stale)
    limit = -(-drill_max_age_hours * 60 // step)  # the first step at or after the limit
    steps = limit + 4

    def check(at: int, alert: str, expected: list[dict[str, Any]]) -> dict[str, Any]:
        return {"eval_time": f"{at * step}m", "alertname": alert, "exp_alerts": expected}

    def test(name: str, series: list[dict[str, str]], checks: list[dict[str, Any]]) -> dict[str, Any]:
        return {"name": name, "interval": f"{step}m", "input_series": series, "alert_rule_test": checks}

    slow_s = _short(t.drill_max_duration_hours * 3600)
    last_run = "webstack_backup_drill_last_run_timestamp_seconds"
    tests = [
        test(
            "BackupDrillFailed: fires while the last drill failed, clears when one passes",
            [
                _series("webstack_backup_drill_last_run_success", node, "1 1 0 0 1 1"),
                _series("webstack_backup_drill_last_run_success", other, _flat(1, 5)),
            ],
            [
                check(1, "BackupDrillFailed", []),
                check(2, "BackupDrillFailed", [exp("BackupDrillFailed", node, 0)]),
                check(4, "BackupDrillFailed", []),
            ],
        ),
        test(
            f"BackupDrillTooOld: the last passing drill at 0 goes stale after {drill_max_age_hours}h (for 5m), "
            "a fresh one never",
            [
                _series("webstack_backup_drill_last_success_timestamp_seconds", node, _flat(0, steps)),
                _series("webstack_backup_drill_last_success_timestamp_seconds", other, _ramp(step * 60, steps)),
                _series(last_run, node, _ramp(step * 60, steps)),
            ],
            [
                check(limit, "BackupDrillTooOld", []),
                check(limit + 2, "BackupDrillTooOld", [exp("BackupDrillTooOld", node, (limit + 2) * step * 60)]),
                check(limit + 2, "BackupDrillMissing", []),
            ],
        ),
        test(
            f"BackupDrillMissing: no drill metric at all for {drill_max_age_hours}h",
            [_series("up", node, _flat(1, steps))],
            [
                check(limit - 1, "BackupDrillMissing", []),
                check(limit + 1, "BackupDrillMissing", [exp("BackupDrillMissing", {}, 1)]),
            ],
        ),
        test(
            f"BackupDrillSlow: a drill longer than {_num(t.drill_max_duration_hours)}h warns, a quicker one not",
            [
                _series("webstack_backup_drill_duration_seconds", node, _flat(slow_s + 60, 3)),
                _series("webstack_backup_drill_duration_seconds", other, _flat(slow_s - 60, 3)),
            ],
            [check(1, "BackupDrillSlow", [exp("BackupDrillSlow", node, slow_s + 60)])],
        ),
    ]
    return _dump({"rule_files": [rule_file], "evaluation_interval": f"{step}m", "tests": tests})
