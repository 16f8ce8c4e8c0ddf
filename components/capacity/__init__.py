"""What each host carries, whether it fits, and what the hosts cost: pure, no Pulumi import.

`capacity_report(config)` places every container of a validated `StackConfig` (platform
docker) on its host, the way the components declare them: the app replicas round-robin
over their service's hosts, the edge and its exporter, Redis (primary, replica,
Sentinels, exporter), Prometheus, Alertmanager and Grafana, the backup runner, and a node
exporter on every host. For each host it sums

- memory: every container's memory limit (the same figures the components set; the
  infrastructure's are the constants of `sizes`), at a deploy's peak: the app replicas are
  replaced start-before-stop, so a roll runs each one twice for a moment;
- CPUs: every container's CPU limit (the app replicas'; the infrastructure containers have
  none, and the host's CPU reserve stands for them);
- disk: estimates of what the containers keep on the host: Prometheus' TSDB for the
  configured retention, Redis' RDB and AOF files, the backup's dump and restic cache,
  Alertmanager's and Grafana's data, every container's rotated logs;

and compares them with the host's size (its `plan` of the catalogue, `plans.yaml` here, or
its own figures) less the reserve for the OS and Docker (`webstack:capacity.reserve`).
Memory or disk over what is available, or CPU limits over the CPUs times `cpuOvercommit`,
is a problem the config loader reports before any resource is declared. A host without a
size (a `connection: local` host that declares none: this machine) is not checked.

`MonthlyCost` is the hosts' monthly prices in the stack's currency, their total, and the
budget the policy `monthly-budget` holds it to. docs/capacity.md explains every figure.

By concern: `sizes` (the infrastructure containers' sizes and the disk estimates),
`placement` (what each host carries), `hosts` (a host's size and the check), `cost` (the
monthly cost), `report` (`CapacityReport`, its problems and outputs), `text` (the report as
the offline plan prints it). Callers import the names below from this package.
"""

from components.capacity.cost import MonthlyCost
from components.capacity.hosts import NAMESPACE, HostCapacity, HostSize, host_size
from components.capacity.placement import Placement, placements, prometheus_series, replica_hosts
from components.capacity.report import CapacityReport, capacity_report
from components.capacity.sizes import (
    ALERTMANAGER_DISK_GB,
    BACKUP,
    BYTES_PER_SAMPLE,
    COMPACTION_HEADROOM,
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
    POSTGRES_SHM_MB,
    PROMETHEUS_WAL_GB,
    RESTIC_CACHE_GB,
    SENTINEL,
    SERIES_PER_TARGET,
    VMALERT,
    ContainerSize,
    postgres_disk_gb,
    postgres_memory_mb,
    prometheus_disk_gb,
    redis_disk_gb,
    redis_memory_mb,
)
from components.capacity.text import render_text

__all__ = [
    "ALERTMANAGER_DISK_GB",
    "BACKUP",
    "BYTES_PER_SAMPLE",
    "COMPACTION_HEADROOM",
    "EDGE",
    "EXPORTER",
    "GB",
    "GRAFANA_DISK_GB",
    "LOG_FILES",
    "LOG_FILE_MB",
    "LOG_SHIPPER",
    "LOG_STORE",
    "LOG_STORE_GB_PER_DAY",
    "MONITORING",
    "NAMESPACE",
    "PGBOUNCER",
    "POSTGRES_SHM_MB",
    "PROMETHEUS_WAL_GB",
    "RESTIC_CACHE_GB",
    "SENTINEL",
    "SERIES_PER_TARGET",
    "VMALERT",
    "CapacityReport",
    "ContainerSize",
    "HostCapacity",
    "HostSize",
    "MonthlyCost",
    "Placement",
    "capacity_report",
    "host_size",
    "placements",
    "postgres_disk_gb",
    "postgres_memory_mb",
    "prometheus_disk_gb",
    "prometheus_series",
    "redis_disk_gb",
    "redis_memory_mb",
    "render_text",
    "replica_hosts",
]
