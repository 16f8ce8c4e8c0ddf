"""PostgresCluster: a PostgreSQL 15 primary, an optional hot standby, PgBouncer, exporters.

Platform docker. Each node is a container `webstack-<stack>-postgres` on its host, with its
data on a volume of that host (protected in production); which one is primary is the
stack's `postgres.host`. The rendered files and start scripts (components/render/postgres.py)
do the work: initdb or promotion on the primary, a base backup through the standby's slot
or pg_rewind on the standby. A switchover is a config change that swaps `host` and
`standbyHost`: the fence on the new standby's host stops the old primary first (two
primaries would each take writes), then the new primary is promoted, the PgBouncers beside
the services are pointed at it in place, and the old primary is rewound into its standby.
The services' URLs name their own host's PgBouncer, so nothing of theirs rolls.

Every password is generated (pulumi_random) and secret; the files carry none. The port is
published on the private address only, and only with several hosts; pg_hba admits the
stack's hosts' private addresses and the nodes' own Docker networks, with scram-sha-256.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from components.capacity import PGBOUNCER, POSTGRES_SHM_MB, postgres_memory_mb
from components.config.postgres import (
    ADMIN_ROLE,
    EXPORTER_ROLE,
    POSTGRES_EXPORTER_PORT,
    REPLICATION_ROLE,
    PostgresConfig,
)
from components.render.postgres import (
    EXPORTER_PASSWORD_ENV,
    REPLICATION_PASSWORD_ENV,
    ClusterSpec,
    PostgresPaths,
    Role,
    database_url,
    owner_password_env,
    render_pg_hba,
    render_pgbouncer_ini,
    render_pgbouncer_start,
    render_postgresql_conf,
    render_primary_init_sql,
    render_primary_start,
    render_standby_start,
    url_endpoint,
)
from components.targets.containers import (
    Endpoint,
    command_healthcheck,
    container_defaults,
    env_list,
    exporter,
    internal_port,
    uploads,
)
from components.targets.vps_host import VpsHost

PATHS = PostgresPaths()
VOLUME_PATH = "/var/lib/postgresql/data"  # the volume; the data directory is PATHS.data_dir inside it
NODE_ALIAS = "postgres"
PGBOUNCER_ALIAS = "pgbouncer"


def _pick(files: pulumi.Output[dict[str, str]], path: str) -> pulumi.Output[str]:
    return files.apply(lambda each: each[path])


@dataclass
class PostgresClusterArgs:
    postgres: PostgresConfig
    stack: str
    image: str
    # The primary's and the standby's hosts (by name), and every host of the stack whose
    # containers may connect (their private addresses are admitted by pg_hba).
    hosts: dict[str, VpsHost]
    client_hosts: Sequence[VpsHost]
    protect: bool
    # The hosts of the services that ask for the primary's URL: PgBouncer runs beside them.
    pooled_hosts: Sequence[VpsHost] = ()


class PostgresCluster(pulumi.ComponentResource):
    exporters: list[Endpoint]
    passwords: dict[str, pulumi.Output[str]]  # by environment variable

    def __init__(self, name: str, args: PostgresClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("webstack:database:PostgresCluster", name, None, opts)
        pg = args.postgres
        assert pg.host is not None  # validated: required on platform docker
        self._pg, self._args = pg, args
        self.primary_host = args.hosts[pg.host]
        self.standby_host = args.hosts[pg.standby_host] if pg.standby_host else None
        self.passwords = self._passwords(name)
        self._name = name
        self._images: dict[str, docker.RemoteImage] = {}
        networks = self._client_networks(args)

        fence = self._fence(name) if self.standby_host else None
        self.primary = self._node(name, self.primary_host, "primary", networks, [fence] if fence else [])
        self.standby = (
            self._node(name, self.standby_host, "standby", networks, [self.primary]) if self.standby_host else None
        )
        self.pgbouncers = [self._pgbouncer(name, host) for host in args.pooled_hosts] if pg.pgbouncer_enabled else []
        self.exporters = [
            self._exporter(name, host, node)
            for host, node in ((self.primary_host, self.primary), (self.standby_host, self.standby))
            if host is not None and node is not None
        ]
        # The operator's psql as the admin on the primary (the socket: no password).
        self.psql_command = self.primary_host.operator_command(
            f"docker exec -it webstack-{args.stack}-postgres psql -h {PATHS.socket_dir} -p {pg.port} -U {ADMIN_ROLE}"
        )
        self.register_outputs({"host": pg.host, "standbyHost": pg.standby_host, "port": pg.port})

    # --- URLs ---------------------------------------------------------------------------------

    def url_for(
        self,
        host_name: str,
        target: Literal["primary", "replica"],
        database_name: str | None = None,
        *,
        pooled: bool = True,
    ) -> pulumi.Output[str]:
        """A database owner's URL as a container on `host_name` reaches the cluster (secret):
        `primary` through the PgBouncer beside it when PgBouncer is on (unless `pooled=False`:
        pg_dump wants a session), else the primary's PostgreSQL; `replica` the standby's."""
        pg = self._pg
        database = pg.database(database_name)
        assert database is not None  # validated: a database of postgres.databases
        node_host = self.primary_host if target == "primary" else self.standby_host
        assert node_host is not None  # validated: replica only with a standbyHost
        if pooled and target == "primary" and pg.pgbouncer_enabled and pg.pgbouncer is not None:
            # PgBouncer beside the service, by its alias: the same URL whichever node is primary.
            assert host_name in {h.name for h in self._args.pooled_hosts}, f"no PgBouncer on {host_name}"
            host, port = PGBOUNCER_ALIAS, pg.pgbouncer.port
        elif host_name == node_host.name:
            host, port = NODE_ALIAS, pg.port
        else:
            host, port = url_endpoint(
                pg.model_copy(update={"pgbouncer": None}),
                target,
                primary=self.primary_host.internal_address,
                standby=self.standby_host.internal_address if self.standby_host else None,
            )
        password = self.passwords[owner_password_env(database.owner)]
        return pulumi.Output.secret(
            password.apply(
                lambda p: database_url(user=database.owner, password=p, host=host, port=port, database=database.name)
            )
        )

    # --- steps --------------------------------------------------------------------------------

    def _image(self, host: VpsHost) -> docker.RemoteImage:
        if host.name not in self._images:
            self._images[host.name] = docker.RemoteImage(
                f"{self._name}-image-{host.name}",
                name=self._args.image,
                keep_locally=True,
                opts=pulumi.ResourceOptions(parent=self, provider=host.docker),
            )
        return self._images[host.name]

    def _nodes(self) -> list[VpsHost]:
        return [self.primary_host, *([self.standby_host] if self.standby_host else [])]

    def _passwords(self, name: str) -> dict[str, pulumi.Output[str]]:
        """One generated password per role: replication, the exporter, each database owner.
        Letters and digits only: Debian's exporter calls a DSN whose password needs quoting malformed."""
        roles = {REPLICATION_PASSWORD_ENV: REPLICATION_ROLE, EXPORTER_PASSWORD_ENV: EXPORTER_ROLE}
        roles |= {owner_password_env(owner): owner for owner in self._pg.owners}
        passwords: dict[str, pulumi.Output[str]] = {}
        for env, role in roles.items():
            generated = random.RandomPassword(
                f"{name}-{role.replace('_', '-')}-password",
                length=40,
                special=False,
                opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["result"]),
            )
            passwords[env] = pulumi.Output.secret(generated.result)
        return passwords

    def _client_networks(self, args: PostgresClusterArgs) -> pulumi.Output[list[str]]:
        """Who may connect: the stack's hosts' private addresses (other hosts' containers
        arrive from them), and each node's Docker network (PgBouncer, the exporter, services
        and the backup beside it)."""
        peers = [h.internal_address for h in args.client_hosts if h.multi_host]
        subnets = [
            host.network.ipam_configs.apply(lambda configs: [c.subnet for c in configs or [] if c.subnet])
            for host in self._nodes()
        ]
        return pulumi.Output.all(*subnets).apply(
            lambda each: list(dict.fromkeys([*peers, *(s for subnet in each for s in subnet if ":" not in s)]))
        )

    def _spec(self, networks: list[str]) -> ClusterSpec:
        addresses = {host.name: host.internal_address for host in self._nodes()}
        return ClusterSpec.from_config(self._pg, addresses=addresses, client_networks=networks)

    def _node(
        self, name: str, host: VpsHost, role: Role, networks: pulumi.Output[list[str]], depends_on: list[Any]
    ) -> docker.Container:
        pg, stack = self._pg, self._args.stack
        volume = docker.Volume(
            f"{name}-data-{host.name}",
            name=f"webstack-{stack}-postgres-data",
            opts=pulumi.ResourceOptions(
                parent=self, provider=host.docker, protect=self._args.protect, retain_on_delete=self._args.protect
            ),
        )
        files = networks.apply(lambda nets: self._node_files(self._spec(nets), role))
        script = networks.apply(
            lambda nets: (render_primary_start if role == "primary" else render_standby_start)(self._spec(nets), PATHS)
        )
        ready = f"{PATHS.bindir}/pg_isready -q -h {PATHS.socket_dir} -p {pg.port} -d postgres"
        if role == "primary":
            ready = f"test -f {PATHS.run_dir}/initialised && {ready}"
        return docker.Container(
            f"{name}-{host.name}",
            name=f"webstack-{stack}-postgres",
            image=self._image(host).image_id,
            command=["bash", "-c", script],
            user="postgres",
            envs=env_list({}, self.passwords),
            uploads=uploads({path: _pick(files, path) for path in (PATHS.conf, PATHS.hba, PATHS.init_sql)}),
            volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path=VOLUME_PATH)],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=host.network_name, aliases=[NODE_ALIAS])],
            ports=[internal_port(pg.port, host.internal_address)] if host.multi_host else [],
            # Every 2 s: a promoted primary is healthy (and PgBouncer pointed at it) that much sooner.
            healthcheck=command_healthcheck(ready, interval_s=2),
            shm_size=POSTGRES_SHM_MB,
            # SIGINT is PostgreSQL's fast shutdown (SIGTERM, a smart one, waits for every session
            # to end: a standby being replaced in a switchover kept writes waiting); the primary's
            # script passes it on. A checkpoint may take a while.
            stop_signal="SIGINT",
            stop_timeout=60,
            destroy_grace_seconds=60,
            wait=True,
            # A standby's first start copies the primary (pg_basebackup) before it is healthy.
            wait_timeout=600,
            **container_defaults(memory_mb=postgres_memory_mb(pg.settings), stack=stack, service="postgres"),
            opts=pulumi.ResourceOptions(
                parent=self, provider=host.docker, depends_on=depends_on, delete_before_replace=True
            ),
        )

    @staticmethod
    def _node_files(spec: ClusterSpec, role: Role) -> dict[str, str]:
        return {
            PATHS.conf: render_postgresql_conf(spec, role, paths=PATHS),
            PATHS.hba: render_pg_hba(spec),
            PATHS.init_sql: render_primary_init_sql(spec),
        }

    def _fence(self, name: str) -> Any:
        """Before the primary's container (re)starts: a PostgreSQL on the standby's host that
        is not in recovery (the primary before a switchover) is stopped, so that two primaries
        never take writes at once. Runs again whenever the primary's host changes."""
        assert self.standby_host is not None
        container = shlex.quote(f"webstack-{self._args.stack}-postgres")
        ask = (
            f"docker exec {container} {PATHS.bindir}/psql -XAtq -h {PATHS.socket_dir} -p {self._pg.port} "
            f"-U {ADMIN_ROLE} -d postgres -c 'select pg_is_in_recovery()'"
        )
        script = (
            f'if [ "$({ask} 2>/dev/null)" = f ]; then '
            f"echo 'fence: stopping the former primary on {self.standby_host.name}'; docker stop -t 60 {container}; fi"
        )
        return self.standby_host.run(
            f"{name}-fence-{self.standby_host.name}",
            script,
            parent=self,
            triggers=[f"primary={self.primary_host.name}"],
        )

    def _pgbouncer(self, name: str, host: VpsHost) -> docker.Container:
        """PgBouncer beside the services of `host`, pooling to the primary. Services reach it by
        its alias on their own host, so their DATABASE_URL never names the primary's host and a
        switchover leaves them alone: the new primary's address reaches the running PgBouncer
        (its ini rewritten in place and reloaded by SIGHUP), nothing is replaced."""
        pg = self._pg
        assert pg.pgbouncer is not None
        spec = self._spec([host.internal_address])  # PgBouncer's files do not depend on who may connect
        # Several hosts: the primary's private address, also from the primary's own host.
        server = self.primary_host.internal_address if host.multi_host else NODE_ALIAS
        ini = render_pgbouncer_ini(spec, server_host=server, paths=PATHS)
        env = {e: self.passwords[e] for e in [*(owner_password_env(o) for o in pg.owners), EXPORTER_PASSWORD_ENV]}
        target = f"webstack-{self._args.stack}-pgbouncer"
        container = docker.Container(
            f"{name}-pgbouncer-{host.name}",
            name=target,
            image=self._image(host).image_id,
            command=["bash", "-c", render_pgbouncer_start(spec, PATHS)],
            user="postgres",
            envs=env_list({}, env),
            uploads=uploads({PATHS.pgbouncer_ini: ini}),
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=host.network_name, aliases=[PGBOUNCER_ALIAS])],
            healthcheck=command_healthcheck(f"bash -c 'exec 3<>/dev/tcp/127.0.0.1/{pg.pgbouncer.port}'"),
            stop_signal="SIGTERM",  # PgBouncer's immediate shutdown (the image's SIGINT is PostgreSQL's)
            wait=True,
            wait_timeout=120,
            **container_defaults(memory_mb=PGBOUNCER.memory_mb, stack=self._args.stack, service="pgbouncer"),
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=host.docker,
                depends_on=[self.primary],
                delete_before_replace=True,
                # Later inis reach the running PgBouncer (below), not a new container.
                ignore_changes=["uploads"],
            ),
        )
        new = f"{PATHS.pgbouncer_ini}.new"
        inside = f"cat > {new} && mv {new} {PATHS.pgbouncer_ini}"
        host.run(
            f"{name}-pgbouncer-reload-{host.name}",
            f"docker exec -i {target} sh -c {shlex.quote(inside)} && docker kill --signal HUP {target} >/dev/null",
            parent=self,
            stdin=ini,
            # Again for a new ini and for a new container (created with the ini it was first given).
            triggers=[hashlib.sha256(ini.encode()).hexdigest(), container.id],
            depends_on=[container, self.primary],
        )
        return container

    def _exporter(self, name: str, host: VpsHost, node: docker.Container) -> Endpoint:
        dsn = self.passwords[EXPORTER_PASSWORD_ENV].apply(
            lambda p: (
                database_url(user=EXPORTER_ROLE, password=p, host=NODE_ALIAS, port=self._pg.port, database="postgres")
                + "?sslmode=disable"
            )
        )
        return exporter(
            f"{name}-exporter-{host.name}",
            host=host,
            stack=self._args.stack,
            service="postgres-exporter",
            image=self._image(host).image_id,
            port=POSTGRES_EXPORTER_PORT,
            command=["prometheus-postgres-exporter", f"--web.listen-address=:{POSTGRES_EXPORTER_PORT}"],
            envs=env_list({}, {"DATA_SOURCE_NAME": dsn}),
            healthcheck=command_healthcheck(f"bash -c 'exec 3<>/dev/tcp/127.0.0.1/{POSTGRES_EXPORTER_PORT}'"),
            parent=self,
            depends_on=[node],
        )
