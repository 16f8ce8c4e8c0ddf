"""PostgreSQL primary and hot standby, PgBouncer, their URLs and scrape job. Pure: no Pulumi import.

What is rendered, for a `ClusterSpec` made from `webstack:postgres` and the nodes' addresses:

- postgresql.conf per node: seed 004's settings, `listen_addresses`, `wal_level = replica`,
  `hot_standby`, the WAL senders and slots; a standby's also names its primary
  (`primary_conninfo` with a passfile, never a password) and its replication slot.
- pg_hba.conf, the same on both nodes (either may be primary after a switchover): the admin
  on the local socket only (peer); every database owner to its own database, the exporter to
  `postgres`, and replication (and pg_rewind's reads, on `postgres`) only from the listed
  networks, all with scram-sha-256; anything else rejected.
- the primary's init SQL, idempotent, run on every start of the primary: roles (an owner per
  database, `replicator`, `exporter` with pg_monitor), databases, the standby's replication
  slot (and stale webstack slots dropped). Passwords come from the environment through psql's
  `\\getenv`, never from the file, and statement logging is off while it runs.
- start scripts (bash, from Jinja2 templates): the primary's (initdb on an empty data
  directory, start, promote a standby's data directory that the stack now names primary, run
  the init SQL, wait) and the standby's (a base backup through the slot into a side directory
  renamed into place when complete; a former primary's data directory rewound with pg_rewind,
  or backed up afresh when that fails; then start).
- PgBouncer's ini (transaction pooling, seed 004's pool sizes) and its start script, which
  writes the userlist from the environment.
- `database_url` for DATABASE_URL / DATABASE_REPLICA_URL, and the exporter's scrape job.

The passwords' environment variables are `env_names(cluster)`; docs/postgres.md has the rest.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlencode

from components.config.postgres import (
    ADMIN_ROLE,
    EXPORTER_ROLE,
    REPLICATION_ROLE,
    SUPERUSER_RESERVED_CONNECTIONS,
    PostgresConfig,
)
from components.render.monitoring import ScrapeJob
from components.render.shell import shell_templates

Role = Literal["primary", "standby"]

REPLICATION_PASSWORD_ENV = "POSTGRES_REPLICATION_PASSWORD"
EXPORTER_PASSWORD_ENV = "POSTGRES_EXPORTER_PASSWORD"
SLOT_PREFIX = "webstack_"
SCRAPE_JOB = "postgres"

_ADDRESS_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
_NODE_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_PATH_RE = re.compile(r"^/[A-Za-z0-9._/-]*$")


def owner_password_env(owner: str) -> str:
    """The environment variable holding a database owner's password."""
    return f"POSTGRES_PASSWORD_{owner.upper()}"


def slot_name(node: str) -> str:
    """The physical replication slot a standby streams through, on whichever node is primary."""
    return SLOT_PREFIX + node.replace("-", "_")


def _ident(name: str) -> str:
    """A SQL identifier, quoted (names are validated lowercase identifiers; quoted all the same)."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _conf_string(text: str) -> str:
    """A postgresql.conf string value."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _network(value: str) -> str:
    """An address or CIDR as pg_hba.conf wants it (a single address gets /32 or /128)."""
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or network (CIDR)") from None


@dataclass(frozen=True)
class PostgresPaths:
    """Where things are where PostgreSQL runs (the defaults: a Debian-based postgres:15 image)."""

    bindir: str = "/usr/lib/postgresql/15/bin"
    # The data directory is a subdirectory of the volume, so that a base backup can be made
    # beside it and renamed into place only once complete.
    data_dir: str = "/var/lib/postgresql/data/pgdata"
    config_dir: str = "/etc/postgresql"  # postgresql.conf, pg_hba.conf, init.sql (rendered)
    socket_dir: str = "/var/run/postgresql"
    # Written by the start scripts at each start, from the environment: the replication
    # passfile and PgBouncer's userlist. A tmpfs is best.
    run_dir: str = "/tmp/webstack-postgres"
    pgbouncer: str = "/usr/sbin/pgbouncer"

    def __post_init__(self) -> None:
        for name in ("bindir", "data_dir", "config_dir", "socket_dir", "run_dir", "pgbouncer"):
            value = getattr(self, name)
            if not _PATH_RE.match(value) or value.rstrip("/") == "":
                raise ValueError(f"{name} {value!r}: an absolute path of letters, digits, '.', '_', '-'")

    @property
    def conf(self) -> str:
        return f"{self.config_dir}/postgresql.conf"

    @property
    def hba(self) -> str:
        return f"{self.config_dir}/pg_hba.conf"

    @property
    def init_sql(self) -> str:
        return f"{self.config_dir}/init.sql"

    @property
    def passfile(self) -> str:
        return f"{self.run_dir}/pgpass"

    @property
    def pgbouncer_ini(self) -> str:
        return f"{self.config_dir}/pgbouncer.ini"

    @property
    def userlist(self) -> str:
        return f"{self.run_dir}/userlist.txt"


@dataclass(frozen=True)
class PostgresNode:
    name: str  # the host's name: the standby's application_name and slot
    address: str  # where the other node (and PgBouncer, clients) reach it

    def __post_init__(self) -> None:
        if not _NODE_RE.match(self.name):
            raise ValueError(f"node name {self.name!r}: a host name of webstack:hosts")
        if not _ADDRESS_RE.match(self.address) and not _is_ip(self.address):
            raise ValueError(f"node {self.name}: address {self.address!r} is not an IP address or host name")


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class ClusterSpec:
    config: PostgresConfig
    primary: PostgresNode
    standby: PostgresNode | None
    # Who may connect as a database owner or the exporter (the app hosts, the backup host,
    # PgBouncer's, the monitoring host): addresses or CIDRs.
    client_networks: tuple[str, ...]
    # Who may stream WAL (and read files for pg_rewind): both nodes, since either may be
    # the standby after a switchover.
    replication_networks: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.standby is not None and self.standby.name == self.primary.name:
            raise ValueError("the standby must be another node than the primary")
        for value in (*self.client_networks, *self.replication_networks):
            _network(value)
        if not self.client_networks:
            raise ValueError("client_networks is empty: nobody could connect")

    @classmethod
    def from_config(
        cls,
        config: PostgresConfig,
        *,
        addresses: Mapping[str, str],
        client_networks: Sequence[str],
    ) -> ClusterSpec:
        """From `webstack:postgres`: `addresses` maps host names to where the nodes reach each other."""
        if config.host is None:
            raise ValueError("postgres.host is not set")
        primary = PostgresNode(config.host, addresses[config.host])
        standby = None
        if config.standby_host is not None:
            standby = PostgresNode(config.standby_host, addresses[config.standby_host])
        replication = [primary.address] + ([standby.address] if standby else [])
        return cls(
            config=config,
            primary=primary,
            standby=standby,
            client_networks=tuple(dict.fromkeys(client_networks)),
            replication_networks=tuple(dict.fromkeys(replication)),
        )

    @property
    def slots(self) -> list[str]:
        """The replication slots the primary keeps (one for the standby)."""
        return [slot_name(self.standby.name)] if self.standby else []

    def node(self, role: Role) -> PostgresNode:
        if role == "primary":
            return self.primary
        if self.standby is None:
            raise ValueError("this cluster has no standby")
        return self.standby


def env_names(cluster: ClusterSpec) -> list[str]:
    """The environment variables (all secret) the start scripts read: the replication and
    exporter passwords, and each database owner's."""
    return [
        REPLICATION_PASSWORD_ENV,
        EXPORTER_PASSWORD_ENV,
        *(owner_password_env(owner) for owner in cluster.config.owners),
    ]


# --- postgresql.conf --------------------------------------------------------------------


def render_postgresql_conf(
    cluster: ClusterSpec, role: Role, *, listen_addresses: str = "*", paths: PostgresPaths | None = None
) -> str:
    """A node's postgresql.conf. `listen_addresses`: '*' in a container (Docker publishes the
    port on the private address only), the private address itself on a host."""
    paths = paths or PostgresPaths()
    for address in listen_addresses.split(","):
        address = address.strip()
        if address not in ("*", "localhost") and not _is_ip(address):
            raise ValueError(f"listen_addresses: {address!r} is not '*', 'localhost' or an IP address")
    pg, s = cluster.config, cluster.config.settings
    node = cluster.node(role)
    lines = [
        f"# webstack: PostgreSQL {pg.version}, {role} on {node.name}. Rendered by components/render/postgres.py;",
        "# settings from seed 004 (docs/postgres.md). No password is in this file.",
        "",
        "# connections",
        f"listen_addresses = {_conf_string(listen_addresses)}",
        f"port = {pg.port}",
        f"unix_socket_directories = {_conf_string(paths.socket_dir)}",
        f"hba_file = {_conf_string(paths.hba)}",
        f"max_connections = {s.max_connections}",
        f"superuser_reserved_connections = {SUPERUSER_RESERVED_CONNECTIONS}",
        "password_encryption = 'scram-sha-256'",
        "",
        "# memory and workers",
        f"shared_buffers = {_conf_string(s.shared_buffers)}",
        f"effective_cache_size = {_conf_string(s.effective_cache_size)}",
        f"maintenance_work_mem = {_conf_string(s.maintenance_work_mem)}",
        f"work_mem = {_conf_string(s.work_mem)}",
        f"max_worker_processes = {s.max_worker_processes}",
        f"max_parallel_workers = {s.max_parallel_workers}",
        "",
        "# WAL and checkpoints",
        f"wal_buffers = {_conf_string(s.wal_buffers)}",
        f"checkpoint_completion_target = {s.checkpoint_completion_target}",
        "",
        "# replication: the primary sends WAL, the standby replays it and answers read-only queries",
        "wal_level = replica",
        f"max_wal_senders = {s.max_wal_senders}",
        f"max_replication_slots = {s.max_replication_slots}",
        f"max_slot_wal_keep_size = {_conf_string(s.max_slot_wal_keep_size) if s.max_slot_wal_keep_size else -1}",
        "hot_standby = on",
        f"hot_standby_feedback = {'on' if s.hot_standby_feedback else 'off'}",
    ]
    if role == "standby":
        primary = cluster.primary
        conninfo = (
            f"host={primary.address} port={pg.port} user={REPLICATION_ROLE} passfile={paths.passfile} "
            f"application_name={node.name} connect_timeout=5"
        )
        lines += [
            f"primary_conninfo = {_conf_string(conninfo)}",
            f"primary_slot_name = {_conf_string(slot_name(node.name))}",
        ]
    lines += [
        "",
        "# logging (to stderr: the container's log)",
        f"log_min_duration_statement = {s.log_min_duration_statement}",
        "log_line_prefix = '%m [%p] %q%u@%d '",
        "log_timezone = 'UTC'",
        "timezone = 'UTC'",
    ]
    return "\n".join(lines) + "\n"


# --- pg_hba.conf ------------------------------------------------------------------------


def render_pg_hba(cluster: ClusterSpec) -> str:
    """pg_hba.conf: first match wins; what no line admits is rejected (and said so)."""
    pg = cluster.config
    clients = [_network(n) for n in cluster.client_networks]
    replication = [_network(n) for n in cluster.replication_networks]
    rows: list[tuple[str, str, str, str, str]] = [("local", "all", ADMIN_ROLE, "", "peer")]
    for network in replication:
        rows.append(("host", "replication", REPLICATION_ROLE, network, "scram-sha-256"))
        # pg_rewind reads the new primary's files over a normal connection to `postgres`.
        rows.append(("host", "postgres", REPLICATION_ROLE, network, "scram-sha-256"))
    for database in pg.databases:
        for network in clients:
            rows.append(("host", database.name, database.owner, network, "scram-sha-256"))
    for network in clients:
        rows.append(("host", "postgres", EXPORTER_ROLE, network, "scram-sha-256"))
    for keyword in ("all", "replication"):
        for network in ("0.0.0.0/0", "::/0"):
            rows.append(("host", keyword, "all", network, "reject"))
    rows.append(("local", "all", "all", "", "reject"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "# webstack: pg_hba.conf, rendered by components/render/postgres.py (the same on every node).",
        "# The admin on the local socket only; owners, the exporter and replication only from the",
        "# peers listed, with scram-sha-256; everything else rejected.",
        "# TYPE, DATABASE, USER, ADDRESS, METHOD",
    ]
    for row in rows:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row[:4], widths, strict=True)) + "  " + row[4])
    return "\n".join(lines) + "\n"


# --- the primary's init SQL -------------------------------------------------------------

# What pg_rewind needs on the source server when it does not connect as a superuser.
_REWIND_FUNCTIONS = (
    "pg_catalog.pg_ls_dir(text, boolean, boolean)",
    "pg_catalog.pg_stat_file(text, boolean)",
    "pg_catalog.pg_read_binary_file(text)",
    "pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)",
)


def _ensure_role(name: str) -> list[str]:
    return [
        f"SELECT format('CREATE ROLE %I', {_literal(name)})",
        f"  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_literal(name)})",
        "\\gexec",
    ]


def render_primary_init_sql(cluster: ClusterSpec) -> str:
    """Roles, databases and slots, run by psql as the admin on every start of the primary."""
    pg = cluster.config
    variables = {REPLICATION_ROLE: "replication_password", EXPORTER_ROLE: "exporter_password"}
    lines = [
        "-- webstack: the primary's roles, databases and replication slots. Rendered by",
        "-- components/render/postgres.py; run by the primary's start script on every start",
        "-- (idempotent). Passwords come from the environment, never from this file.",
        "\\set ON_ERROR_STOP on",
        "-- Statements here carry passwords: keep them out of the server's log.",
        "SET log_statement = 'none';",
        "SET log_min_duration_statement = -1;",
        "SET log_min_error_statement = 'panic';",
        f"\\getenv replication_password {REPLICATION_PASSWORD_ENV}",
        f"\\getenv exporter_password {EXPORTER_PASSWORD_ENV}",
    ]
    for owner in pg.owners:
        variable = f"password_{owner}"
        variables[owner] = variable
        lines.append(f"\\getenv {variable} {owner_password_env(owner)}")
    lines += ["", "-- streaming replication (and pg_rewind's reads after a switchover)"]
    lines += _ensure_role(REPLICATION_ROLE)
    lines.append(
        f"ALTER ROLE {_ident(REPLICATION_ROLE)} WITH LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE "
        f"CONNECTION LIMIT -1 PASSWORD :'{variables[REPLICATION_ROLE]}';"
    )
    for function in _REWIND_FUNCTIONS:
        lines.append(f"GRANT EXECUTE ON FUNCTION {function} TO {_ident(REPLICATION_ROLE)};")
    lines += ["", "-- the Prometheus exporter: read-only statistics"]
    lines += _ensure_role(EXPORTER_ROLE)
    lines.append(
        f"ALTER ROLE {_ident(EXPORTER_ROLE)} WITH LOGIN NOREPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE "
        f"CONNECTION LIMIT 3 PASSWORD :'{variables[EXPORTER_ROLE]}';"
    )
    lines.append(f"GRANT pg_monitor TO {_ident(EXPORTER_ROLE)};")
    lines += ["", "-- database owners: each app connects as its database's owner"]
    for owner in pg.owners:
        lines += _ensure_role(owner)
        lines.append(
            f"ALTER ROLE {_ident(owner)} WITH LOGIN NOREPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE "
            f"PASSWORD :'{variables[owner]}';"
        )
    for database in pg.databases:
        name, owner = database.name, database.owner
        lines += [
            f"SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L', {_literal(name)}, {_literal(owner)}, 'UTF8')",
            f"  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = {_literal(name)})",
            "\\gexec",
            f"ALTER DATABASE {_ident(name)} OWNER TO {_ident(owner)};",
            f"REVOKE ALL ON DATABASE {_ident(name)} FROM PUBLIC;",
            f"GRANT CONNECT, TEMPORARY ON DATABASE {_ident(name)} TO {_ident(owner)};",
        ]
    slots = cluster.slots
    wanted = "ARRAY[" + ", ".join(_literal(s) for s in slots) + "]::name[]"
    lines += ["", "-- the standby's replication slot; webstack slots of no standby any more are dropped"]
    for slot in slots:
        lines.append(
            f"SELECT pg_create_physical_replication_slot({_literal(slot)}) "
            f"WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = {_literal(slot)});"
        )
    lines.append(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
        f"WHERE slot_name LIKE {_literal(SLOT_PREFIX.replace('_', chr(92) + '_') + '%')} "
        f"AND slot_name <> ALL ({wanted}) AND NOT active;"
    )
    return "\n".join(lines) + "\n"


# --- start scripts ----------------------------------------------------------------------


def _render_script(template: str, cluster: ClusterSpec, paths: PostgresPaths, role: Role) -> str:
    return (
        shell_templates()
        .get_template(f"postgres/{template}")
        .render(
            cluster=cluster,
            pg=cluster.config,
            paths=paths,
            role=role,
            node=cluster.node(role),
            env_names=env_names(cluster),
            replication_role=REPLICATION_ROLE,
            admin_role=ADMIN_ROLE,
            replication_env=REPLICATION_PASSWORD_ENV,
            slot=slot_name(cluster.node(role).name),
        )
    )


def render_primary_start(cluster: ClusterSpec, paths: PostgresPaths | None = None) -> str:
    """The primary's start script: initdb when empty, start, promote a standby's data
    directory, run the init SQL, then wait for the server (signals passed on as a fast shutdown)."""
    return _render_script("primary.sh.j2", cluster, paths or PostgresPaths(), "primary")


def render_standby_start(cluster: ClusterSpec, paths: PostgresPaths | None = None) -> str:
    """The standby's start script: a base backup through its slot when the data directory is
    missing, pg_rewind when it holds a former primary's, then the server in its place."""
    return _render_script("standby.sh.j2", cluster, paths or PostgresPaths(), "standby")


# --- PgBouncer --------------------------------------------------------------------------


def render_pgbouncer_ini(
    cluster: ClusterSpec, *, server_host: str, listen_addr: str = "*", paths: PostgresPaths | None = None
) -> str:
    """pgbouncer.ini: each database pooled to the primary (`server_host`, as PgBouncer reaches it)."""
    paths = paths or PostgresPaths()
    pg, bouncer = cluster.config, cluster.config.pgbouncer
    if bouncer is None or not bouncer.enabled:
        raise ValueError("postgres.pgbouncer is not enabled")
    if not _ADDRESS_RE.match(server_host) and not _is_ip(server_host):
        raise ValueError(f"server_host {server_host!r} is not an IP address or host name")
    if listen_addr != "*" and not _is_ip(listen_addr):
        raise ValueError(f"listen_addr {listen_addr!r} is not '*' or an IP address")
    lines = [
        "; webstack: PgBouncer in front of the primary. Rendered by components/render/postgres.py;",
        "; pool sizes from seed 004. The userlist is written at start from the environment.",
        "[databases]",
    ]
    for database in pg.databases:
        lines.append(f"{database.name} = host={server_host} port={pg.port} dbname={database.name}")
    lines += [
        "",
        "[pgbouncer]",
        f"listen_addr = {listen_addr}",
        f"listen_port = {bouncer.port}",
        "unix_socket_dir =",
        "auth_type = scram-sha-256",
        f"auth_file = {paths.userlist}",
        f"pool_mode = {bouncer.pool_mode}",
        f"max_client_conn = {bouncer.max_client_conn}",
        f"default_pool_size = {bouncer.default_pool_size}",
        f"min_pool_size = {bouncer.min_pool_size}",
        f"reserve_pool_size = {bouncer.reserve_pool_size}",
        # The exporter may read SHOW STATS/POOLS on the admin console; nobody may administer it.
        f"stats_users = {EXPORTER_ROLE}",
        "admin_users =",
        # Sent by some drivers (JDBC, Npgsql) at startup; PgBouncer would refuse them.
        "ignore_startup_parameters = extra_float_digits",
        "server_reset_query = DISCARD ALL",
        "server_check_query = select 1",
        "log_connections = 0",
        "log_disconnections = 0",
    ]
    return "\n".join(lines) + "\n"


def render_pgbouncer_start(cluster: ClusterSpec, paths: PostgresPaths | None = None) -> str:
    """PgBouncer's start script: the userlist (each owner and the exporter) from the
    environment into the run directory, then PgBouncer in the foreground."""
    paths = paths or PostgresPaths()
    pg = cluster.config
    users = [(owner, owner_password_env(owner)) for owner in pg.owners] + [(EXPORTER_ROLE, EXPORTER_PASSWORD_ENV)]
    return (
        shell_templates()
        .get_template("postgres/pgbouncer.sh.j2")
        .render(paths=paths, users=users, env_names=[env for _, env in users])
    )


# --- URLs and scraping ------------------------------------------------------------------


def database_url(
    *,
    user: str,
    password: str,
    host: str,
    port: int,
    database: str,
    params: Mapping[str, str] | None = None,
) -> str:
    """postgresql://user:password@host:port/database, every part percent-encoded as needed."""
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port}: 1 to 65535")
    if _is_ip(host):
        host_part = f"[{host}]" if ":" in host else host
    elif _ADDRESS_RE.match(host):
        host_part = host
    else:
        raise ValueError(f"host {host!r} is not an IP address or host name")
    url = (
        f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{host_part}:{port}/{quote(database, safe='')}"
    )
    if params:
        url += "?" + urlencode(sorted(params.items()))
    return url


def url_endpoint(
    config: PostgresConfig, target: Literal["primary", "replica"], *, primary: str, standby: str | None
) -> tuple[str, int]:
    """(host, port) a service's DATABASE_URL (primary: PgBouncer when it is on) or
    DATABASE_REPLICA_URL (the standby) points at; `primary`/`standby`: their addresses as
    the service reaches them."""
    if target == "replica":
        if standby is None:
            raise ValueError("a replica URL needs a standby")
        return standby, config.port
    if config.pgbouncer is not None and config.pgbouncer.enabled:
        return primary, config.pgbouncer.port
    return primary, config.port


def postgres_scrape_job(targets: Sequence[str]) -> ScrapeJob:
    """The postgres exporters (one beside each node), scraped as job `postgres`."""
    job = ScrapeJob(SCRAPE_JOB, list(targets))
    job.validate()
    return job
