"""What each host carries, whether it fits, and what the hosts cost: pure, no Pulumi import.

`capacity_report(config)` places every container of a validated `StackConfig` (platform
docker) on its host, the way the components declare them: the app replicas round-robin
over their service's hosts, the edge and its exporter, Redis (primary, replica,
Sentinels, exporter), Prometheus, Alertmanager and Grafana, the backup runner, and a node
exporter on every host. For each host it sums

- memory: every container's memory limit (the same figures the components set; the
  infrastructure's are the constants below), at a deploy's peak: the app replicas are
  replaced start-before-stop, so a roll runs each one twice for a moment;
- CPUs: every container's CPU limit (the app replicas'; the infrastructure containers have
  none, and the host's CPU reserve stands for them);
- disk: estimates of what the containers keep on the host: Prometheus' TSDB for the
  configured retention, Redis' RDB and AOF files, the backup's dump and restic cache,
  Alertmanager's and Grafana's data, every container's rotated logs;

and compares them with the host's size (its `plan` of the catalogue, or its own figures)
less the reserve for the OS and Docker (`webstack:capacity.reserve`). Memory or disk
over what is available, or CPU limits over the CPUs times `cpuOvercommit`, is a problem
the config loader reports before any resource is declared. A host without a size (a
`connection: local` host that declares none: this machine) is not checked.

`MonthlyCost` is the hosts' monthly prices in the stack's currency, their total, and the
budget the policy `monthly-budget` holds it to. docs/capacity.md explains every figure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from components.config.capacity import CapacityConfig, load_catalogue
from components.config.logs import retention_hours
from components.config.postgres import PostgresSettings, size_kb

if TYPE_CHECKING:
    from components.config import HostConfig, StackConfig

NAMESPACE = "webstack"

# --- the infrastructure containers' sizes ------------------------------------------------------
# The memory limits of the infrastructure containers: the components take them from here
# (nginx_edge.py, wiring.py's exporter(), redis_cache.py, monitoring_stack.py, backup_job.py).
# tests/unit/test_capacity.py runs every stack under mocks and checks each host's declared
# containers, memory and CPU limits and log rotation against this model.


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


# Docker's json-file logs, rotated (components/wiring.py LOG_OPTS): at most this many files of this size.
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


# --- placements ----------------------------------------------------------------------------------


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


# --- host sizes and the check --------------------------------------------------------------------


@dataclass(frozen=True)
class HostSize:
    cpus: float
    memory_mb: int
    disk_gb: int
    monthly_price: float | None
    currency: str | None
    plan: str | None

    def describe(self) -> str:
        what = f"plan {self.plan}" if self.plan else "its own size"
        return f"{what}: {_num(self.cpus)} vCPU, {self.memory_mb} MB memory, {self.disk_gb} GB disk"


def host_size(host: HostConfig, currency: str) -> HostSize | None:
    """A host's size and price: its plan's figures, overridden by its own; None when it has neither."""
    plan = load_catalogue().plans[host.plan] if host.plan is not None else None
    if plan is None and host.cpus is None:
        return None
    cpus = host.cpus if host.cpus is not None else plan.cpus if plan else None
    memory = host.memory_mb if host.memory_mb is not None else plan.memory_mb if plan else None
    disk = host.disk_gb if host.disk_gb is not None else plan.disk_gb if plan else None
    assert cpus is not None and memory is not None and disk is not None  # validated: together, or a plan
    price: float | None = None
    price_currency: str | None = None
    if host.monthly_price is not None:
        price, price_currency = host.monthly_price, currency
    elif plan is not None:
        price, price_currency = plan.monthly_price, plan.currency
    return HostSize(cpus, memory, disk, price, price_currency, host.plan)


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _listing(items: list[Placement], unit: str, figure: Any) -> str:
    return ", ".join(f"{p.name} {_num(figure(p))} {unit}" for p in items)


@dataclass(frozen=True)
class HostCapacity:
    """One host: what is placed on it and what it has."""

    name: str
    index: int  # in webstack:hosts
    size: HostSize | None
    placed: tuple[Placement, ...]
    capacity: CapacityConfig

    @property
    def checked(self) -> bool:
        return self.size is not None

    @property
    def memory_mb(self) -> int:
        return sum(p.memory_mb for p in self.placed)

    @property
    def memory_peak_mb(self) -> int:
        """Memory during a deploy: every app replica's successor running beside it."""
        return self.memory_mb + sum(p.memory_mb for p in self.placed if p.rolls)

    @property
    def cpus(self) -> float:
        return sum(p.cpus for p in self.placed if p.cpus is not None)

    @property
    def disk_gb(self) -> float:
        return sum(p.disk_gb for p in self.placed)

    @property
    def available_memory_mb(self) -> int | None:
        return None if self.size is None else self.size.memory_mb - self.capacity.reserve.memory_mb

    @property
    def available_cpus(self) -> float | None:
        if self.size is None:
            return None
        return max(0.0, self.size.cpus - self.capacity.reserve.cpus) * self.capacity.cpu_overcommit

    @property
    def available_disk_gb(self) -> int | None:
        return None if self.size is None else self.size.disk_gb - self.capacity.reserve.disk_gb

    def problems(self) -> list[tuple[str, str]]:
        """(key, detail) for each resource the host is over on."""
        if self.size is None:
            return []
        key = f"{NAMESPACE}:hosts[{self.index}]"
        reserve = self.capacity.reserve
        out: list[tuple[str, str]] = []
        memory_available = self.available_memory_mb
        assert memory_available is not None
        if self.memory_peak_mb > memory_available:
            rolling = [p for p in self.placed if p.rolls]
            during = ""
            if rolling:
                extra = self.memory_peak_mb - self.memory_mb
                during = f"; a deploy starts each app replica's successor beside it: +{extra} MB"
            out.append(
                (
                    key,
                    f"host {self.name!r} ({self.size.describe()}) is over its memory by "
                    f"{self.memory_peak_mb - memory_available} MB: {self.memory_peak_mb} MB placed at a deploy's peak, "
                    f"{memory_available} MB available ({self.size.memory_mb} MB less {reserve.memory_mb} MB for the OS "
                    f"and Docker); on it: {_listing(list(self.placed), 'MB', lambda p: p.memory_mb)}{during}; "
                    f"allowed: at most {memory_available} MB: fewer or smaller containers on it (services.<name>."
                    "replicas, memoryMb or hosts; redis.maxmemoryMb; the hosts Redis, monitoring and backup run on), "
                    "a plan with more memory, or another host",
                )
            )
        disk_available = self.available_disk_gb
        assert disk_available is not None
        if self.disk_gb > disk_available:
            out.append(
                (
                    key,
                    f"host {self.name!r} ({self.size.describe()}) is over its disk by "
                    f"{_num(self.disk_gb - disk_available)} GB: {_num(self.disk_gb)} GB placed (estimated), "
                    f"{disk_available} GB available ({self.size.disk_gb} GB less {reserve.disk_gb} GB for the OS, "
                    f"Docker and its images); on it: {_listing(list(self.placed), 'GB', lambda p: p.disk_gb)}; "
                    f"allowed: at most {disk_available} GB: a shorter monitoring.retentionDays, a smaller "
                    "redis.maxmemoryMb or capacity.databaseDumpGb, a plan with more disk, or another host",
                )
            )
        cpus_available = self.available_cpus
        assert cpus_available is not None
        if self.cpus > cpus_available + 1e-9:
            limited = [p for p in self.placed if p.cpus is not None]
            out.append(
                (
                    key,
                    f"host {self.name!r} ({self.size.describe()}) is over its CPUs by "
                    f"{_num(self.cpus - cpus_available)}: CPU limits of {_num(self.cpus)} placed, "
                    f"{_num(cpus_available)} available (({_num(self.size.cpus)} vCPU less {_num(reserve.cpus)} reserved) "
                    f"x capacity.cpuOvercommit {_num(self.capacity.cpu_overcommit)}); on it: "
                    f"{_listing(limited, 'CPU', lambda p: p.cpus)}; allowed: at most {_num(cpus_available)}: fewer "
                    "replicas or smaller services.<name>.cpus on it, a plan with more vCPUs, another host, or a "
                    "higher capacity.cpuOvercommit",
                )
            )
        return out

    def output(self) -> dict[str, Any]:
        return {
            "plan": self.size.plan if self.size else None,
            "checked": self.checked,
            "placed": {
                "memoryMb": self.memory_mb,
                "memoryPeakMb": self.memory_peak_mb,
                "cpus": round(float(self.cpus), 2),
                "diskGb": round(self.disk_gb, 1),
            },
            "available": (
                {
                    "memoryMb": self.available_memory_mb,
                    "cpus": round(float(self.available_cpus or 0.0), 2),
                    "diskGb": self.available_disk_gb,
                }
                if self.checked
                else None
            ),
            "containers": [p.name for p in self.placed],
        }


# --- cost ----------------------------------------------------------------------------------------


def _cents(value: float) -> int:
    return round(value * 100)


@dataclass(frozen=True)
class MonthlyCost:
    currency: str
    hosts: dict[str, float | None]  # None: no price known
    budget: float | None
    known: bool = True  # False on platform kubernetes: the program does not know the cluster's cost

    @property
    def unpriced(self) -> list[str]:
        return [name for name, price in self.hosts.items() if price is None]

    @property
    def total(self) -> float | None:
        if not self.known:
            return None
        return sum(_cents(p) for p in self.hosts.values() if p is not None) / 100

    @property
    def over_budget(self) -> float | None:
        """By how much the total exceeds the budget (None: within it, or no budget or total)."""
        total = self.total
        if self.budget is None or total is None or _cents(total) <= _cents(self.budget):
            return None
        return (_cents(total) - _cents(self.budget)) / 100

    def with_budget(self, budget: float | None) -> MonthlyCost:
        return replace(self, budget=budget)

    def output(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "hosts": dict(self.hosts),
            "total": self.total,
            "budget": self.budget,
            "unpriced": self.unpriced,
        }

    def describe(self) -> str:
        parts = " + ".join(f"{name} {'unpriced' if p is None else f'{p:.2f}'}" for name, p in self.hosts.items())
        return f"{parts} = {self.total:.2f} {self.currency}" if self.total is not None else parts


# --- the report ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CapacityReport:
    hosts: tuple[HostCapacity, ...]
    cost: MonthlyCost
    price_problems: tuple[tuple[str, str], ...] = ()
    platform_problems: tuple[tuple[str, str], ...] = ()

    def problems(self) -> list[tuple[str, str]]:
        found = [*self.platform_problems, *self.price_problems]
        for host in self.hosts:
            found += host.problems()
        return found

    def capacity_output(self) -> dict[str, Any]:
        return {h.name: h.output() for h in self.hosts}

    def cost_output(self) -> dict[str, Any]:
        return self.cost.output()


_DOCKER_ONLY = ("cpu_overcommit", "reserve", "database_dump_gb", "monthly_budget")


def capacity_report(config: StackConfig) -> CapacityReport:
    """Every host's placed and available figures, the monthly cost, and what does not fit."""
    capacity = config.capacity
    currency = capacity.currency
    if config.platform != "docker":
        problems = tuple(
            (
                f"{NAMESPACE}:capacity.{CapacityConfig.model_fields[field].alias or field}",
                "not used on platform kubernetes (the cluster schedules every part and the program does not know "
                "what its nodes cost); allowed: no such key",
            )
            for field in _DOCKER_ONLY
            if field in capacity.model_fields_set
        )
        return CapacityReport((), MonthlyCost(currency, {}, None, known=False), platform_problems=problems)
    placed = placements(config)
    hosts: list[HostCapacity] = []
    prices: dict[str, float | None] = {}
    price_problems: list[tuple[str, str]] = []
    for index, host in enumerate(config.hosts):
        size = host_size(host, currency)
        hosts.append(HostCapacity(host.name, index, size, tuple(placed[host.name]), capacity))
        if size is None or size.monthly_price is None:
            # This machine costs nothing more; a remote host with no known price is unpriced.
            prices[host.name] = 0.0 if host.connection == "local" and host.monthly_price is None else None
        elif size.currency != currency:
            prices[host.name] = None
            price_problems.append(
                (
                    f"{NAMESPACE}:hosts[{index}].plan",
                    f"plan {size.plan} is priced in {size.currency}, not in the stack's currency {currency} "
                    "(webstack:capacity.currency); allowed: a plan priced in "
                    f"{currency}, or the host's own monthlyPrice in {currency}",
                )
            )
        else:
            prices[host.name] = size.monthly_price
    cost = MonthlyCost(currency, prices, capacity.monthly_budget)
    return CapacityReport(tuple(hosts), cost, tuple(price_problems))


def render_text(report: CapacityReport) -> str:
    """The report as the offline plan prints it."""
    lines = ["capacity (placed / available after the reserve; memory at a deploy's peak, CPU limits, disk estimated):"]
    if not report.hosts:
        lines.append("  no hosts (platform kubernetes: the cluster schedules every part)")
    width = max([len(h.name) for h in report.hosts] + [4])
    for h in report.hosts:
        if h.size is None:
            figures = f"memory {h.memory_peak_mb} MB, CPU limits {_num(h.cpus)}, disk {_num(round(h.disk_gb, 1))} GB"
            lines.append(f"  {h.name:<{width}}  no size: not checked ({figures})")
            continue
        lines.append(
            f"  {h.name:<{width}}  {h.size.plan or 'own size':<20}  memory {h.memory_peak_mb}/{h.available_memory_mb} MB"
            f"  CPUs {_num(h.cpus)}/{_num(h.available_cpus or 0.0)}"
            f"  disk {_num(round(h.disk_gb, 1))}/{h.available_disk_gb} GB"
        )
    cost = report.cost
    if not cost.known:
        lines.append(f"monthly cost ({cost.currency}): not known (platform kubernetes)")
    else:
        text = f"monthly cost: {cost.describe()}"
        if cost.unpriced:
            text += f" (unpriced: {', '.join(cost.unpriced)})"
        if cost.budget is not None:
            over = cost.over_budget
            text += f"; budget {cost.budget:.2f}" + (f", OVER by {over:.2f}" if over is not None else "")
        lines.append(text)
    return "\n".join(lines)
