"""`webstack:postgres`: a PostgreSQL primary, an optional hot standby, an optional PgBouncer.

Pure: no Pulumi import. The defaults are seed 004's (Neurmatic on OVH: PostgreSQL 15 with a
hot standby): its `docker-compose.production.yml` settings (`max_connections=200`,
`shared_buffers=512MB`, ...), its replica block (`max_wal_senders=10`,
`max_replication_slots=10`, `hot_standby_feedback=on`) and its PgBouncer (transaction
pooling, `max_client_conn` 1000, `default_pool_size` 50). docs/postgres.md lists each key
with its source.

Names here end up in SQL, in pg_hba.conf, in pgbouncer.ini and in URLs: databases and their
owners are lowercase identifiers that need no quoting anywhere (the renderers quote them in
SQL all the same). The program's own roles (`postgres`, `replicator`, `exporter`) are
reserved. Checks that need the rest of the stack (hosts that must exist, ports that must not
clash, services asking for a database) are in `postgres_problems`, called by
components/config/checks.py with the key each problem names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

# The program's own roles: the superuser (local socket only), streaming replication, the
# Prometheus exporter (pg_monitor).
ADMIN_ROLE = "postgres"
REPLICATION_ROLE = "replicator"  # seed 004's name for it
EXPORTER_ROLE = "exporter"
PROGRAM_ROLES = (ADMIN_ROLE, REPLICATION_ROLE, EXPORTER_ROLE)
# Names PostgreSQL itself reserves for roles; `pg_` is its prefix for built-in roles.
RESERVED_ROLE_NAMES = frozenset({"public", "none", "current_user", "current_role", "session_user"})
# postgres and the templates are the cluster's; `pgbouncer` is PgBouncer's admin console.
RESERVED_DATABASES = frozenset({"postgres", "template0", "template1", "pgbouncer"})

SUPPORTED_VERSIONS = (15,)

# Ports: PostgreSQL's, the postgres exporter's, PgBouncer's (each project's default).
POSTGRES_PORT = 5432
POSTGRES_EXPORTER_PORT = 9187
PGBOUNCER_PORT = 6432

# Connections kept free of PgBouncer's pools: the superuser's reserve (PostgreSQL's default
# superuser_reserved_connections), the exporter, a backup's pg_dump and an operator's psql.
SUPERUSER_RESERVED_CONNECTIONS = 3
OTHER_CONNECTIONS = 7

SQL_NAME_RULES = "a lowercase SQL identifier: a letter or '_', then letters, digits or '_', at most 63 characters"
_SQL_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# PostgreSQL's memory units, case-sensitive as it reads them.
_SIZE_RE = re.compile(r"^([0-9]{1,12})(kB|MB|GB|TB)$")
_UNIT_KB = {"kB": 1, "MB": 1024, "GB": 1024**2, "TB": 1024**3}
SIZE_RULES = "a whole number and one of PostgreSQL's units kB, MB, GB, TB (case-sensitive), such as 512MB"


def size_kb(value: str) -> int:
    """A PostgreSQL memory size ("512MB", "2621kB") in kB."""
    match = _SIZE_RE.fullmatch(value)
    if match is None:
        raise ValueError(SIZE_RULES)
    return int(match.group(1)) * _UNIT_KB[match.group(2)]


def _describe_kb(kb: int) -> str:
    for unit in ("TB", "GB", "MB"):
        if kb % _UNIT_KB[unit] == 0:
            return f"{kb // _UNIT_KB[unit]}{unit}"
    return f"{kb}kB"


def _size(minimum_kb: int, maximum_kb: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        kb = size_kb(value)
        if not minimum_kb <= kb <= maximum_kb:
            raise ValueError(f"a size from {_describe_kb(minimum_kb)} to {_describe_kb(maximum_kb)} ({SIZE_RULES})")
        return value

    return check


def _sql_name(value: str) -> str:
    if not _SQL_NAME_RE.fullmatch(value):
        raise ValueError(SQL_NAME_RULES)
    return value


def _version(value: int) -> int:
    if value not in SUPPORTED_VERSIONS:
        raise ValueError(
            f"{', '.join(map(str, SUPPORTED_VERSIONS))} (the rendered files are tested on Debian's PostgreSQL 15)"
        )
    return value


SqlName = Annotated[str, AfterValidator(_sql_name)]
# As components.config.Name (a host of webstack:hosts); repeated here to keep this file standalone.
HostName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")]
Port = Annotated[int, Field(ge=1, le=65535)]
_MAX_KB = 2_147_483_647  # PostgreSQL's limit for a setting in kB (INT_MAX)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


class PostgresSettings(_Model):
    """postgresql.conf settings, the same on the primary and the standby (a hot standby needs
    max_connections, max_worker_processes and max_wal_senders at least the primary's)."""

    # seed 004, "PostgreSQL Production Settings"
    max_connections: Annotated[int, Field(ge=10, le=10_000)] = 200
    shared_buffers: Annotated[str, AfterValidator(_size(128, 1024**3))] = "512MB"
    effective_cache_size: Annotated[str, AfterValidator(_size(8, _MAX_KB))] = "2GB"
    maintenance_work_mem: Annotated[str, AfterValidator(_size(1024, _MAX_KB))] = "128MB"
    checkpoint_completion_target: Annotated[float, Field(ge=0, le=1)] = 0.9
    wal_buffers: Annotated[str, AfterValidator(_size(32, 2 * 1024**2))] = "16MB"
    work_mem: Annotated[str, AfterValidator(_size(64, _MAX_KB))] = "2621kB"
    max_worker_processes: Annotated[int, Field(ge=0, le=1024)] = 4
    max_parallel_workers: Annotated[int, Field(ge=0, le=1024)] = 4
    # Milliseconds; -1 logs no statement by its duration, 0 logs every one.
    log_min_duration_statement: Annotated[int, Field(ge=-1, le=86_400_000)] = 1000
    # seed 004, "Database Replication (High Availability)"
    max_wal_senders: Annotated[int, Field(ge=0, le=100)] = 10
    max_replication_slots: Annotated[int, Field(ge=0, le=100)] = 10
    hot_standby_feedback: bool = True
    # Not in the seeds: the most WAL a replication slot may hold back on the primary. A standby
    # gone longer than that loses its slot (and needs a fresh base backup) instead of filling
    # the primary's disk; null: no limit.
    max_slot_wal_keep_size: Annotated[str, AfterValidator(_size(1024, _MAX_KB))] | None = "10GB"


class PostgresDatabase(_Model):
    """A database and the role that owns it (the app connects as the owner)."""

    name: SqlName
    owner: SqlName


class PgBouncerConfig(_Model):
    """PgBouncer beside the primary; services' DATABASE_URL then points at it. seed 004, "PgBouncer"."""

    enabled: bool = True
    port: Port = PGBOUNCER_PORT
    pool_mode: Literal["transaction", "session"] = "transaction"
    max_client_conn: Annotated[int, Field(ge=1, le=100_000)] = 1000
    # Server connections per database (each database has one owner, so one pool each).
    default_pool_size: Annotated[int, Field(ge=1, le=10_000)] = 50
    min_pool_size: Annotated[int, Field(ge=0, le=10_000)] = 0
    reserve_pool_size: Annotated[int, Field(ge=0, le=10_000)] = 0


class PostgresConfig(_Model):
    host: HostName | None = None  # the primary's host: required on platform docker
    standby_host: HostName | None = None  # a hot standby streaming from the primary
    version: Annotated[int, AfterValidator(_version)] = 15
    port: Port = POSTGRES_PORT
    databases: Annotated[list[PostgresDatabase], Field(min_length=1)] = Field(
        default_factory=lambda: [PostgresDatabase(name="app", owner="app")]
    )
    settings: PostgresSettings = PostgresSettings()
    pgbouncer: PgBouncerConfig | None = None
    # Keep the data volumes when the container goes (and from `pulumi destroy`); default: production.
    protect_data: bool | None = None

    @property
    def owners(self) -> list[str]:
        """Each database owner once, in the order of the databases."""
        return list(dict.fromkeys(d.owner for d in self.databases))

    @property
    def pgbouncer_enabled(self) -> bool:
        return self.pgbouncer is not None and self.pgbouncer.enabled

    def database(self, name: str | None) -> PostgresDatabase | None:
        """A database by name; None names the first."""
        if name is None:
            return self.databases[0]
        return next((d for d in self.databases if d.name == name), None)


@dataclass(frozen=True)
class DatabaseRequest:
    """A service's secret env asking for a URL of this cluster (`{database: primary|replica}`)."""

    key: str  # the config key of the request, under webstack:
    target: Literal["primary", "replica"]
    database_name: str | None


def postgres_problems(
    pg: PostgresConfig,
    *,
    platform: str,
    taken_ports: dict[str, dict[int, str]],
    requests: Sequence[DatabaseRequest],
) -> list[tuple[str, str]]:
    """(key under webstack:, detail) for what the model alone cannot see.

    `taken_ports`: per host name, the host ports other parts of the stack use there.
    Host names that must exist are checked with the other keys' in components/config/checks.py.
    """
    problems: list[tuple[str, str]] = []

    def problem(key: str, detail: str) -> None:
        problems.append((key, detail))

    if platform != "docker":
        problem(
            "postgres",
            f"not available on platform {platform} yet (the PostgreSQL component runs on platform docker); "
            "allowed: no postgres key, or platform docker",
        )
        return problems
    if pg.host is None:
        problem("postgres.host", "missing; required on platform docker (the primary's host)")
    if pg.standby_host is not None and pg.standby_host == pg.host:
        problem("postgres.standbyHost", f"is the primary's host {pg.host!r}; allowed: another host")

    seen: set[str] = set()
    for i, database in enumerate(pg.databases):
        key = f"postgres.databases[{i}]"
        if database.name in RESERVED_DATABASES:
            problem(
                f"{key}.name",
                f"got {database.name!r}; allowed: a name other than {', '.join(sorted(RESERVED_DATABASES))}",
            )
        if database.name in seen:
            problem(f"{key}.name", f"{database.name!r} is listed twice; allowed: unique database names")
        seen.add(database.name)
        if database.owner in PROGRAM_ROLES or database.owner in RESERVED_ROLE_NAMES:
            reserved = ", ".join((*PROGRAM_ROLES, *sorted(RESERVED_ROLE_NAMES)))
            problem(f"{key}.owner", f"got {database.owner!r}; allowed: a role name other than {reserved}")
        elif database.owner.startswith("pg_"):
            problem(f"{key}.owner", f"got {database.owner!r}; allowed: a name not starting with 'pg_' (PostgreSQL's)")

    s = pg.settings
    if s.max_parallel_workers > s.max_worker_processes:
        problem(
            "postgres.settings.maxParallelWorkers",
            f"got {s.max_parallel_workers}; allowed: at most maxWorkerProcesses ({s.max_worker_processes}), "
            "from whose pool parallel workers come",
        )
    if pg.standby_host is not None:
        if s.max_wal_senders < 2:
            problem(
                "postgres.settings.maxWalSenders",
                f"got {s.max_wal_senders}; allowed: at least 2 with a standbyHost (a base backup streams its WAL on "
                "a second connection)",
            )
        if s.max_replication_slots < 1:
            problem(
                "postgres.settings.maxReplicationSlots",
                f"got {s.max_replication_slots}; allowed: at least 1 with a standbyHost (the standby streams "
                "through a slot)",
            )

    bouncer = pg.pgbouncer
    if bouncer is not None and bouncer.enabled:
        pools = len(pg.databases)
        available = s.max_connections - SUPERUSER_RESERVED_CONNECTIONS - OTHER_CONNECTIONS
        per_pool = bouncer.default_pool_size + bouncer.reserve_pool_size
        if per_pool * pools > available:
            problem(
                "postgres.pgbouncer.defaultPoolSize",
                f"{pools} pool(s) of {bouncer.default_pool_size} (+ reservePoolSize {bouncer.reserve_pool_size}) "
                f"need {per_pool * pools} server connections; allowed: at most {available} in all "
                f"(settings.maxConnections {s.max_connections} less {SUPERUSER_RESERVED_CONNECTIONS} for the "
                f"superuser and {OTHER_CONNECTIONS} for the exporter, backups and operators)",
            )
        if bouncer.min_pool_size > bouncer.default_pool_size:
            problem(
                "postgres.pgbouncer.minPoolSize",
                f"got {bouncer.min_pool_size}; allowed: at most defaultPoolSize ({bouncer.default_pool_size})",
            )
        if bouncer.default_pool_size > bouncer.max_client_conn:
            problem(
                "postgres.pgbouncer.maxClientConn",
                f"got {bouncer.max_client_conn}; allowed: at least defaultPoolSize ({bouncer.default_pool_size}), "
                "or the pool can never fill",
            )
        if bouncer.port == pg.port:
            problem("postgres.pgbouncer.port", f"got {bouncer.port}, PostgreSQL's port too; allowed: another port")

    own = {"postgres.port": pg.port}
    if bouncer is not None and bouncer.enabled:
        own["postgres.pgbouncer.port"] = bouncer.port
    for host in dict.fromkeys(h for h in (pg.host, pg.standby_host) if h is not None):
        used = taken_ports.get(host, {})
        for key, port in own.items():
            if key == "postgres.pgbouncer.port" and host != pg.host:
                continue  # PgBouncer runs beside the primary only
            if port in used:
                problem(key, f"got {port}, which {used[port]} uses on host {host!r}; allowed: a free port")

    for request in requests:
        if request.target == "replica" and pg.standby_host is None:
            problem(
                f"{request.key}.database",
                "got 'replica' but webstack:postgres has no standbyHost; allowed: 'primary', or set "
                "postgres.standbyHost",
            )
        if pg.database(request.database_name) is None:
            names = ", ".join(d.name for d in pg.databases)
            problem(
                f"{request.key}.databaseName",
                f"got {request.database_name!r}; allowed: a database of postgres.databases ({names})",
            )
    return problems
