"""What each host carries: every container of a docker stack, placed the way the components declare it.

`placements(config)` puts the app replicas round-robin over their service's hosts, the edge
and its exporter, Redis (primary, replica, Sentinels, exporter), PostgreSQL and PgBouncer,
Prometheus, Alertmanager and Grafana, the log store, vmalert and the log shippers, the backup
runner, and a node exporter on every host; each with its memory limit, its CPU limit (the
app replicas'), and what it keeps on the host (sizes.py's estimates). Pure: no Pulumi import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from components.capacity.sizes import (
    ALERTMANAGER_DISK_GB,
    BACKUP,
    EDGE,
    EXPORTER,
    GB,
    GRAFANA_DISK_GB,
    LOG_FILE_MB,
    LOG_FILES,
    LOG_SHIPPER,
    LOG_STORE,
    LOG_STORE_GB_PER_DAY,
    MONITORING,
    PGBOUNCER,
    RESTIC_CACHE_GB,
    SENTINEL,
    SERIES_PER_TARGET,
    VMALERT,
    postgres_disk_gb,
    postgres_memory_mb,
    prometheus_disk_gb,
    redis_disk_gb,
    redis_memory_mb,
)
from components.config.logs import retention_hours

if TYPE_CHECKING:
    from components.config import StackConfig


@dataclass(frozen=True)
class Placement:
    """One container on a host, as the capacity check counts it."""

    name: str
    memory_mb: int
    cpus: float | None = None  # its CPU limit
    data_gb: float = 0.0  # what it keeps on the host besides its logs
    rolls: bool = False  # a deploy starts its successor beside it before stopping it (app replicas)

    @property
    def disk_gb(self) -> float:
        return self.data_gb + LOG_FILE_MB * LOG_FILES / GB


def replica_hosts(config: StackConfig) -> dict[str, list[str]]:
    """Each service's replicas' hosts, in replica order (round-robin over the service's hosts)."""
    return {
        name: [service.hosts[i % len(service.hosts)] for i in range(service.replicas)]
        for name, service in config.services.items()
        if service.hosts
    }


def prometheus_series(config: StackConfig) -> int:
    """The series Prometheus keeps: its targets (components/stack.py) times their estimates."""
    targets = {
        "node": len(config.hosts),
        "nginx": 1,
        "redis": 1,
        "app": sum(s.replicas for s in config.services.values() if s.metrics_path),
        "prometheus": 1,
        "alertmanager": 1,
        "postgres": 0 if config.postgres is None else 1 + (config.postgres.standby_host is not None),
        "log-store": int(config.logs.effective(config.platform)),
        "vmalert": int(config.logs.effective(config.platform)),
    }
    return sum(SERIES_PER_TARGET[kind] * count for kind, count in targets.items())


def placements(config: StackConfig) -> dict[str, list[Placement]]:
    """Every container of a docker stack, by host, in the order the hosts are listed."""
    if config.platform != "docker":
        return {}
    placed: dict[str, list[Placement]] = {h.name: [] for h in config.hosts}

    def put(host: str | None, placement: Placement) -> None:
        if host is not None and host in placed:
            placed[host].append(placement)

    for host in config.hosts:
        put(host.name, Placement("node-exporter", EXPORTER.memory_mb))
    put(config.edge.host, Placement("edge", EDGE.memory_mb))
    put(config.edge.host, Placement("edge-exporter", EXPORTER.memory_mb))
    for name, hosts in replica_hosts(config).items():
        service = config.services[name]
        for index, host_name in enumerate(hosts):
            put(host_name, Placement(f"{name}-{index}", service.memory_mb, service.cpus, rolls=True))
    redis = config.redis
    node = Placement(
        "redis",
        redis_memory_mb(redis.maxmemory_mb),
        data_gb=redis_disk_gb(redis.maxmemory_mb, appendonly=redis.appendonly),
    )
    put(redis.host, node)
    put(redis.host, Placement("redis-exporter", EXPORTER.memory_mb))
    if redis.replica_host is not None:
        put(redis.replica_host, Placement("redis-replica", node.memory_mb, data_gb=node.data_gb))
    for host_name in redis.sentinel_hosts:
        put(host_name, Placement("redis-sentinel", SENTINEL.memory_mb))
    pg = config.postgres
    if pg is not None:
        memory = postgres_memory_mb(pg.settings)
        database_gb = config.capacity.database_dump_gb
        for node_host, role in ((pg.host, "postgres"), (pg.standby_host, "postgres-standby")):
            if node_host is not None:
                disk = postgres_disk_gb(pg.settings, database_gb=database_gb)
                put(node_host, Placement(role, memory, data_gb=disk))
                put(node_host, Placement(f"{role}-exporter", EXPORTER.memory_mb))
        for pooled in config.pooled_hosts():  # PgBouncer beside the services that use the primary
            put(pooled, Placement("pgbouncer", PGBOUNCER.memory_mb))
    monitoring = config.monitoring
    tsdb = prometheus_disk_gb(
        series=prometheus_series(config),
        scrape_interval_s=monitoring.scrape_interval_s,
        retention_days=monitoring.retention_days,
    )
    put(monitoring.host, Placement("prometheus", MONITORING["prometheus"].memory_mb, data_gb=tsdb))
    put(monitoring.host, Placement("alertmanager", MONITORING["alertmanager"].memory_mb, data_gb=ALERTMANAGER_DISK_GB))
    if monitoring.grafana:
        put(monitoring.host, Placement("grafana", MONITORING["grafana"].memory_mb, data_gb=GRAFANA_DISK_GB))
    logs = config.logs
    if logs.effective(config.platform):
        store_gb = logs.max_disk_gb or retention_hours(logs.retention) / 24 * LOG_STORE_GB_PER_DAY
        put(logs.store_host(monitoring.host), Placement("log-store", LOG_STORE.memory_mb, data_gb=store_gb))
        put(monitoring.host, Placement("vmalert", VMALERT.memory_mb))
        for host in config.hosts:  # each shipper's disk buffer may fill while the store is away
            put(host.name, Placement("log-shipper", LOG_SHIPPER.memory_mb, data_gb=logs.buffer_mb / GB))
    backup = config.backup
    if backup.enabled:
        work = RESTIC_CACHE_GB
        if backup.database != "none":
            work += config.capacity.database_dump_gb
        if backup.redis:
            work += redis.maxmemory_mb / GB
        put(backup.host, Placement("backup", BACKUP.memory_mb, data_gb=work))
    return placed
