"""What the monitoring renderers share: the PromQL the alert rules and the Grafana dashboard
both query, YAML dumping, and numbers as PromQL and promtool write them."""

from __future__ import annotations

from typing import Any

import yaml

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


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000, allow_unicode=True)


def _num(value: float) -> str:
    """A number as PromQL and promtool series notation read it, without float noise."""
    as_float = float(value)
    return str(int(as_float)) if as_float.is_integer() else repr(as_float)
