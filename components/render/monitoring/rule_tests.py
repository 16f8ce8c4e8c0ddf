"""The promtool tests of the alert rules (`promtool test rules`), from the same `Thresholds`
as the rules, so the tests follow the config: for every alert and severity a case that fires
and one that must not."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from components.config import Thresholds
from components.render.monitoring.common import _dump, _num
from components.render.monitoring.promtool import _between, _check, _flat, _ramp, _series, _short, _test
from components.render.monitoring.rules import REDIS_MEMORY_WARNING_PERCENT, _rule_groups


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
