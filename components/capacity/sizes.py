"""The infrastructure containers' sizes and what they keep on disk: pure, no Pulumi import.

The memory limits of the infrastructure containers: the components take them from here
(nginx_edge.py, targets/containers.py's exporter(), redis_cache.py, postgres_cluster.py,
monitoring_stack.py, log_store.py, backup_job.py), and the capacity check counts the same
figures (placement.py). tests/unit/test_capacity.py runs every stack under mocks and checks
each host's declared containers, memory and CPU limits and log rotation against this model.

Below them, the disk estimates: Prometheus' TSDB, Redis' and PostgreSQL's files, the
backup's work space, Alertmanager's and Grafana's data, the log store's.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.config.postgres import PostgresSettings, size_kb

# --- the infrastructure containers' sizes ------------------------------------------------------


@dataclass(frozen=True)
class ContainerSize:
    memory_mb: int
    cpus: float | None = None  # its CPU limit; None: none (the host's CPU reserve stands for it)


EDGE = ContainerSize(512)  # nginx
EXPORTER = ContainerSize(64)  # the node, nginx and Redis exporters
SENTINEL = ContainerSize(64)
BACKUP = ContainerSize(1024)  # restic, mongodump or pg_dump, redis-cli --rdb
MONITORING: dict[str, ContainerSize] = {
    "prometheus": ContainerSize(1024),
    "alertmanager": ContainerSize(256),
    "grafana": ContainerSize(256),
}


PGBOUNCER = ContainerSize(128)
# webstack:logs (docs/logs.md has the measurements): VictoriaLogs took 190-230 MB at 70,000
# lines/s; vmalert 16 MB with its two rules; syslog-ng 22 MB shipping at full speed.
LOG_STORE = ContainerSize(512)
VMALERT = ContainerSize(64)
LOG_SHIPPER = ContainerSize(128)
POSTGRES_SHM_MB = 256  # /dev/shm of a PostgreSQL container: parallel queries' dynamic shared memory


def postgres_memory_mb(settings: PostgresSettings) -> int:
    """A PostgreSQL node's memory limit: shared_buffers and the WAL buffers, one
    maintenance_work_mem (a VACUUM or an index build), each allowed connection's work_mem
    and about 1 MB of its own, its /dev/shm, and 64 MB for the server's processes."""
    per_connection_kb = size_kb(settings.work_mem) + 1024
    kb = (
        size_kb(settings.shared_buffers)
        + size_kb(settings.wal_buffers)
        + size_kb(settings.maintenance_work_mem)
        + settings.max_connections * per_connection_kb
    )
    return -(-kb // 1024) + POSTGRES_SHM_MB + 64


def postgres_disk_gb(settings: PostgresSettings, *, database_gb: float) -> float:
    """A node's data directory: the databases (estimated as twice their dump: tables and
    indexes), 1 GB of WAL, and the WAL a standby's slot may hold back on the primary (either
    node, after a switchover)."""
    held = size_kb(settings.max_slot_wal_keep_size) / 1024**2 if settings.max_slot_wal_keep_size else 0
    return database_gb * 2 + 1.0 + held


def redis_memory_mb(maxmemory_mb: int) -> int:
    """A Redis node's memory limit: maxmemory, half again (fragmentation, the copy-on-write of a
    background save, client buffers), and 64 MB for the server itself."""
    return int(maxmemory_mb * 1.5) + 64


# Docker's json-file logs, rotated (components/targets/containers.py LOG_OPTS): at most this many files of this size.
LOG_FILE_MB = 10
LOG_FILES = 3

# --- disk estimates ------------------------------------------------------------------------------

# Prometheus' TSDB. Series per scrape target (estimates: a node exporter on a VPS with a few
# dozen container interfaces and mounts; the exporters' own Go runtime series; a web app's
# request histograms); samples of 2 bytes on disk (Prometheus documents 1 to 2); 10% more
# while blocks are compacted; 0.5 GB of write-ahead log and head chunks.
SERIES_PER_TARGET: dict[str, int] = {
    "node": 1200,
    "nginx": 60,
    "redis": 300,
    "app": 500,
    "prometheus": 1000,
    "alertmanager": 300,
    "postgres": 400,
    "log-store": 300,
    "vmalert": 200,
}
BYTES_PER_SAMPLE = 2
COMPACTION_HEADROOM = 1.1
PROMETHEUS_WAL_GB = 0.5
ALERTMANAGER_DISK_GB = 0.1  # silences and the notification log
GRAFANA_DISK_GB = 1.0  # its SQLite database and plugins
RESTIC_CACHE_GB = 1.0
# The log store's disk a day when no logs.maxDiskGb caps it: 50 MB per million lines
# (bench/logs), at a steady 60 lines/s (some 5 million lines a day).
LOG_STORE_GB_PER_DAY = 0.25
GB = 1024  # MB


def prometheus_disk_gb(*, series: int, scrape_interval_s: int, retention_days: int) -> float:
    """Prometheus' documented sizing: retention x samples per second x bytes per sample."""
    samples = series / scrape_interval_s * retention_days * 86_400
    return samples * BYTES_PER_SAMPLE * COMPACTION_HEADROOM / 1024**3 + PROMETHEUS_WAL_GB


def redis_disk_gb(maxmemory_mb: int, *, appendonly: bool) -> float:
    """Its RDB file, the temporary one a background save writes beside it, and the AOF."""
    return maxmemory_mb / GB * (3 if appendonly else 2)
