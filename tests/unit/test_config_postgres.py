"""webstack:postgres: the config key. Each bad value is refused with one message naming the
stack and the key (before any resource exists: the loader raises); the seed's defaults."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from components.config import RESERVED_HOST_PORTS, ConfigError
from components.config.postgres import PGBOUNCER_PORT, POSTGRES_EXPORTER_PORT, POSTGRES_PORT, size_kb
from components.config.stackfile import read_stack_file
from components.load import load_stack_config

Mutation = Callable[[dict[str, Any]], None]

SEED_004 = {"host": "data-1", "standbyHost": "data-2"}


def _load(stack: str, postgres: dict[str, Any] | None, mutate: Mutation | None = None) -> Any:
    raw, secrets = read_stack_file(stack)
    raw = copy.deepcopy(raw)
    if postgres is not None:
        raw["webstack:postgres"] = postgres
    if mutate:
        mutate(raw)
    return load_stack_config(stack, raw, secrets, placeholder_secrets=True)


def _with(**changes: Any) -> dict[str, Any]:
    """The seed's layout on production with some keys changed (dotted paths)."""
    config: dict[str, Any] = copy.deepcopy(SEED_004)
    for path, value in changes.items():
        node = config
        parts = path.split("__")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return config


def _secret_env(env: str, ref: Any) -> Mutation:
    def mutate(raw: dict[str, Any]) -> None:
        raw["webstack:services"]["backend"]["secretEnv"][env] = ref

    return mutate


# --- the config key ---------------------------------------------------------------------------


def test_seed_004_defaults() -> None:
    config = _load("production", dict(SEED_004, pgbouncer={}))
    pg = config.postgres
    assert (pg.host, pg.standby_host, pg.version, pg.port) == ("data-1", "data-2", 15, 5432)
    assert [(d.name, d.owner) for d in pg.databases] == [("app", "app")]
    s = pg.settings
    assert (s.max_connections, s.shared_buffers, s.effective_cache_size, s.maintenance_work_mem) == (
        200,
        "512MB",
        "2GB",
        "128MB",
    )
    assert (s.checkpoint_completion_target, s.wal_buffers, s.work_mem) == (0.9, "16MB", "2621kB")
    assert (s.max_worker_processes, s.max_parallel_workers, s.log_min_duration_statement) == (4, 4, 1000)
    assert (s.max_wal_senders, s.max_replication_slots, s.hot_standby_feedback) == (10, 10, True)
    bouncer = pg.pgbouncer
    assert (bouncer.pool_mode, bouncer.max_client_conn, bouncer.default_pool_size, bouncer.port) == (
        "transaction",
        1000,
        50,
        6432,
    )
    assert config.postgres_protected  # production keeps its data by default
    roles = config.roles()
    assert "postgres" in roles["data-1"] and "postgres-standby" in roles["data-2"]
    t = config.monitoring.thresholds
    assert (t.postgres_connections_warning, t.postgres_connections_critical) == (90, 97.5)  # 180 / 195 of 200


def test_no_postgres_key_changes_nothing() -> None:
    def without(raw: dict[str, Any]) -> None:
        raw.pop("webstack:postgres", None)
        raw.get("webstack:backup", {}).pop("database", None)
        for service in raw.get("webstack:services", {}).values():
            for env, ref in list(service.get("secretEnv", {}).items()):
                if "database" in ref:
                    del service["secretEnv"][env]

    for stack in ("local", "staging", "production", "production-k8s"):
        config = _load(stack, None, without)
        assert config.postgres is None
        assert not any(r in roles for roles in config.roles().values() for r in ("postgres", "postgres-standby"))


def test_snake_case_setting_names_are_accepted_as_postgresql_spells_them() -> None:
    config = _load("production", _with(settings={"max_connections": 300, "shared_buffers": "1GB"}))
    assert (config.postgres.settings.max_connections, config.postgres.settings.shared_buffers) == (300, "1GB")


def test_a_single_host_stack_may_have_a_primary_without_standby() -> None:
    config = _load("local", {"host": "local"})
    assert config.postgres.standby_host is None
    assert not config.postgres_protected


# (postgres key or None for the stack's own, mutation, the key the error must name)
BAD: list[tuple[str, dict[str, Any] | None, Mutation | None, str]] = [
    ("production", _with(host="data-9"), None, "webstack:postgres.host"),
    ("production", {"standbyHost": "data-2"}, None, "webstack:postgres.host"),
    ("production", _with(standbyHost="nowhere"), None, "webstack:postgres.standbyHost"),
    ("production", _with(standbyHost="data-1"), None, "webstack:postgres.standbyHost"),
    ("production", _with(standbyHost="Data_2"), None, "webstack:postgres.standbyHost"),
    ("production", _with(version=16), None, "webstack:postgres.version"),
    ("production", _with(version="fifteen"), None, "webstack:postgres.version"),
    ("production", _with(port=0), None, "webstack:postgres.port"),
    ("production", _with(port=6379), None, "webstack:postgres.port"),  # Redis on data-1
    ("production", _with(port=9187), None, "webstack:postgres.port"),  # its own exporter
    ("production", _with(databases=[]), None, "webstack:postgres.databases"),
    ("production", _with(databases=[{"name": "App", "owner": "app"}]), None, "webstack:postgres.databases[0].name"),
    ("production", _with(databases=[{"name": "a-b", "owner": "app"}]), None, "webstack:postgres.databases[0].name"),
    ("production", _with(databases=[{"name": "x" * 64, "owner": "app"}]), None, "webstack:postgres.databases[0].name"),
    (
        "production",
        _with(databases=[{"name": "postgres", "owner": "app"}]),
        None,
        "webstack:postgres.databases[0].name",
    ),
    (
        "production",
        _with(databases=[{"name": "template1", "owner": "app"}]),
        None,
        "webstack:postgres.databases[0].name",
    ),
    (
        "production",
        _with(databases=[{"name": "app", "owner": "app"}, {"name": "app", "owner": "other"}]),
        None,
        "webstack:postgres.databases[1].name",
    ),
    (
        "production",
        _with(databases=[{"name": "app", "owner": "app; drop"}]),
        None,
        "webstack:postgres.databases[0].owner",
    ),
    (
        "production",
        _with(databases=[{"name": "app", "owner": "replicator"}]),
        None,
        "webstack:postgres.databases[0].owner",
    ),
    (
        "production",
        _with(databases=[{"name": "app", "owner": "postgres"}]),
        None,
        "webstack:postgres.databases[0].owner",
    ),
    ("production", _with(databases=[{"name": "app", "owner": "public"}]), None, "webstack:postgres.databases[0].owner"),
    ("production", _with(databases=[{"name": "app", "owner": "pg_app"}]), None, "webstack:postgres.databases[0].owner"),
    ("production", _with(databases=[{"name": "app"}]), None, "webstack:postgres.databases[0].owner"),
    ("production", _with(settings={"maxConnections": 5}), None, "webstack:postgres.settings.maxConnections"),
    ("production", _with(settings={"sharedBuffers": "512mb"}), None, "webstack:postgres.settings.sharedBuffers"),
    ("production", _with(settings={"sharedBuffers": "64kB"}), None, "webstack:postgres.settings.sharedBuffers"),
    ("production", _with(settings={"sharedBuffers": 512}), None, "webstack:postgres.settings.sharedBuffers"),
    (
        "production",
        _with(settings={"effectiveCacheSize": "2 GB"}),
        None,
        "webstack:postgres.settings.effectiveCacheSize",
    ),
    (
        "production",
        _with(settings={"maintenanceWorkMem": "512kB"}),
        None,
        "webstack:postgres.settings.maintenanceWorkMem",
    ),
    (
        "production",
        _with(settings={"checkpointCompletionTarget": 1.5}),
        None,
        "webstack:postgres.settings.checkpointCompletionTarget",
    ),
    ("production", _with(settings={"walBuffers": "4GB"}), None, "webstack:postgres.settings.walBuffers"),
    ("production", _with(settings={"workMem": "2621KB"}), None, "webstack:postgres.settings.workMem"),
    ("production", _with(settings={"maxWorkerProcesses": -1}), None, "webstack:postgres.settings.maxWorkerProcesses"),
    ("production", _with(settings={"maxParallelWorkers": 8}), None, "webstack:postgres.settings.maxParallelWorkers"),
    (
        "production",
        _with(settings={"logMinDurationStatement": -2}),
        None,
        "webstack:postgres.settings.logMinDurationStatement",
    ),
    (
        "production",
        _with(settings={"logMinDurationStatement": "1s"}),
        None,
        "webstack:postgres.settings.logMinDurationStatement",
    ),
    ("production", _with(settings={"maxWalSenders": 1}), None, "webstack:postgres.settings.maxWalSenders"),
    ("production", _with(settings={"maxReplicationSlots": 0}), None, "webstack:postgres.settings.maxReplicationSlots"),
    (
        "production",
        _with(settings={"hotStandbyFeedback": "sometimes"}),
        None,
        "webstack:postgres.settings.hotStandbyFeedback",
    ),
    (
        "production",
        _with(settings={"maxSlotWalKeepSize": "1kB"}),
        None,
        "webstack:postgres.settings.maxSlotWalKeepSize",
    ),
    ("production", _with(settings={"fsync": "off"}), None, "webstack:postgres.settings.fsync"),
    ("production", _with(pgbouncer={"enabled": "yes please"}), None, "webstack:postgres.pgbouncer.enabled"),
    ("production", _with(pgbouncer={"port": 5432}), None, "webstack:postgres.pgbouncer.port"),
    ("production", _with(pgbouncer={"port": 26379}), None, "webstack:postgres.pgbouncer.port"),  # Sentinel on data-1
    ("production", _with(pgbouncer={"poolMode": "statement"}), None, "webstack:postgres.pgbouncer.poolMode"),
    ("production", _with(pgbouncer={"maxClientConn": 0}), None, "webstack:postgres.pgbouncer.maxClientConn"),
    ("production", _with(pgbouncer={"maxClientConn": 10}), None, "webstack:postgres.pgbouncer.maxClientConn"),
    ("production", _with(pgbouncer={"defaultPoolSize": 191}), None, "webstack:postgres.pgbouncer.defaultPoolSize"),
    ("production", _with(pgbouncer={"defaultPoolSize": 0}), None, "webstack:postgres.pgbouncer.defaultPoolSize"),
    ("production", _with(pgbouncer={"minPoolSize": 51}), None, "webstack:postgres.pgbouncer.minPoolSize"),
    ("production", _with(pgbouncer={"reservePoolSize": -1}), None, "webstack:postgres.pgbouncer.reservePoolSize"),
    ("production", _with(pgbouncer={"reservePoolSize": 150}), None, "webstack:postgres.pgbouncer.defaultPoolSize"),
    ("production", _with(pgbouncer={"poolSize": 10}), None, "webstack:postgres.pgbouncer.poolSize"),
    ("production", _with(protectData="sure"), None, "webstack:postgres.protectData"),
    ("production", _with(replicas=2), None, "webstack:postgres.replicas"),
    ("production-k8s", {"databases": [{"name": "app", "owner": "app"}]}, None, "webstack:postgres"),
    # services asking for a URL of the cluster
    (
        "production",
        None,
        _secret_env("DATABASE_URL", {"database": "primary"}),
        "webstack:services.backend.secretEnv.DATABASE_URL.database",
    ),
    (
        "production",
        {"host": "data-1"},
        _secret_env("DATABASE_REPLICA_URL", {"database": "replica"}),
        "webstack:services.backend.secretEnv.DATABASE_REPLICA_URL.database",
    ),
    (
        "production",
        SEED_004,
        _secret_env("DATABASE_URL", {"database": "standby"}),
        "webstack:services.backend.secretEnv.DATABASE_URL.database",
    ),
    (
        "production",
        SEED_004,
        _secret_env("DATABASE_URL", {"database": "primary", "databaseName": "other"}),
        "webstack:services.backend.secretEnv.DATABASE_URL.databaseName",
    ),
    (
        "production",
        SEED_004,
        _secret_env("DATABASE_URL", {"database": "primary", "databaseName": "Bad-Name"}),
        "webstack:services.backend.secretEnv.DATABASE_URL.databaseName",
    ),
    (
        "production",
        SEED_004,
        _secret_env("DATABASE_URL", {"database": "primary", "generate": 32}),
        "webstack:services.backend.secretEnv.DATABASE_URL",
    ),
    (
        "production",
        SEED_004,
        _secret_env("DATABASE_URL", {"databaseName": "app", "config": "jwtSecret"}),
        "webstack:services.backend.secretEnv.DATABASE_URL",
    ),
    # the thresholds of its alerts
    (
        "production",
        SEED_004,
        lambda raw: raw["webstack:monitoring"].update(thresholds={"postgresConnectionsWarning": 0}),
        "webstack:monitoring.thresholds.postgresConnectionsWarning",
    ),
    (
        "production",
        SEED_004,
        lambda raw: raw["webstack:monitoring"].update(thresholds={"postgresConnectionsCritical": 101}),
        "webstack:monitoring.thresholds.postgresConnectionsCritical",
    ),
    (
        "production",
        SEED_004,
        lambda raw: raw["webstack:monitoring"].update(thresholds={"postgresConnectionsWarning": 98}),
        "webstack:monitoring.thresholds",
    ),
    (
        "production",
        SEED_004,
        lambda raw: raw["webstack:monitoring"].update(thresholds={"postgresReplicationLagWarningMb": 0}),
        "webstack:monitoring.thresholds.postgresReplicationLagWarningMb",
    ),
    (
        "production",
        SEED_004,
        lambda raw: raw["webstack:monitoring"].update(thresholds={"postgresReplicationLagCriticalMb": "1GB"}),
        "webstack:monitoring.thresholds.postgresReplicationLagCriticalMb",
    ),
    (
        "production",
        SEED_004,
        lambda raw: raw["webstack:monitoring"].update(thresholds={"postgresReplicationLagWarningMb": 2048}),
        "webstack:monitoring.thresholds",
    ),
    # a service's replicas on PostgreSQL's port (published on the private address)
    (
        "production",
        SEED_004,
        lambda raw: raw["webstack:services"]["frontend"].update(publishedPortBase=5431),
        "webstack:services.frontend.publishedPortBase",
    ),
]


@pytest.mark.parametrize(
    ("stack", "postgres", "mutate", "key"), BAD, ids=[f"{s}:{k}:{i}" for i, (s, _, _, k) in enumerate(BAD)]
)
def test_a_bad_value_is_refused_naming_its_key(
    stack: str, postgres: dict[str, Any] | None, mutate: Mutation | None, key: str
) -> None:
    with pytest.raises(ConfigError) as error:
        _load(stack, postgres, mutate)
    assert key in error.value.keys, str(error.value)
    assert f"stack '{stack}'" in str(error.value)
    problem = next(p for p in error.value.problems if p.key == key)
    assert "allowed" in problem.detail or "required" in problem.detail, problem.detail


def test_messages_say_what_is_allowed() -> None:
    def detail(postgres: dict[str, Any], key: str) -> str:
        with pytest.raises(ConfigError) as error:
            _load("production", postgres)
        return next(p.detail for p in error.value.problems if p.key == key)

    assert "PostgreSQL's units kB, MB, GB, TB (case-sensitive)" in detail(
        _with(settings={"sharedBuffers": "512mb"}), "webstack:postgres.settings.sharedBuffers"
    )
    assert "a size from 64kB to" in detail(_with(settings={"workMem": "8kB"}), "webstack:postgres.settings.workMem")
    assert "allowed: at most 190 in all" in detail(
        _with(pgbouncer={"defaultPoolSize": 100}, databases=[{"name": "a", "owner": "a"}, {"name": "b", "owner": "b"}]),
        "webstack:postgres.pgbouncer.defaultPoolSize",
    )
    assert "which Redis uses on host 'data-1'" in detail(_with(port=6379), "webstack:postgres.port")
    assert "allowed: another host" in detail(_with(standbyHost="data-1"), "webstack:postgres.standbyHost")
    assert "a lowercase SQL identifier" in detail(
        _with(databases=[{"name": "Shop", "owner": "shop"}]), "webstack:postgres.databases[0].name"
    )


def test_pool_sizes_that_fit_are_accepted() -> None:
    # Two pools of 90 + 5 = 190: exactly what 200 leaves after the reserve.
    config = _load(
        "production",
        _with(
            pgbouncer={"defaultPoolSize": 90, "reservePoolSize": 5, "minPoolSize": 10},
            databases=[{"name": "app", "owner": "app"}, {"name": "reports", "owner": "reporter"}],
        ),
    )
    assert config.postgres.pgbouncer.default_pool_size == 90
    # Off: its sizes are not held against max_connections.
    config = _load("production", _with(pgbouncer={"enabled": False, "defaultPoolSize": 500, "maxClientConn": 1000}))
    assert not config.postgres.pgbouncer_enabled


def test_services_ask_for_urls_by_role_and_database() -> None:
    def mutate(raw: dict[str, Any]) -> None:
        env = raw["webstack:services"]["backend"]["secretEnv"]
        env["DATABASE_URL"] = {"database": "primary"}
        env["DATABASE_REPLICA_URL"] = {"database": "replica"}
        env["REPORTS_URL"] = {"database": "replica", "databaseName": "reports"}

    config = _load(
        "production",
        _with(databases=[{"name": "app", "owner": "app"}, {"name": "reports", "owner": "reporter"}]),
        mutate,
    )
    requests = {r.key: (r.target, r.database_name) for r in config.database_requests()}
    assert requests == {
        "services.backend.secretEnv.DATABASE_REPLICA_URL": ("replica", None),
        "services.backend.secretEnv.DATABASE_URL": ("primary", None),
        "services.backend.secretEnv.REPORTS_URL": ("replica", "reports"),
    }
    # A URL is neither a secret config key to set nor a generated value.
    assert "DATABASE_URL" not in config.required_secrets()
    assert config.postgres.database(None).name == "app"
    assert config.postgres.database("reports").owner == "reporter"


def test_the_reserved_host_ports_include_postgres_pgbouncer_and_the_exporter() -> None:
    assert {POSTGRES_PORT, PGBOUNCER_PORT, POSTGRES_EXPORTER_PORT} <= set(RESERVED_HOST_PORTS)
    assert (POSTGRES_PORT, PGBOUNCER_PORT, POSTGRES_EXPORTER_PORT) == (5432, 6432, 9187)


@pytest.mark.parametrize(("size", "kb"), [("2621kB", 2621), ("512MB", 524288), ("2GB", 2097152), ("1TB", 1073741824)])
def test_sizes_in_postgresql_units(size: str, kb: int) -> None:
    assert size_kb(size) == kb


@pytest.mark.parametrize("size", ["512mb", "512", "1.5GB", "512 MB", "-1MB", "1PB", ""])
def test_sizes_postgresql_would_refuse(size: str) -> None:
    with pytest.raises(ValueError, match="PostgreSQL's units"):
        size_kb(size)


def test_production_with_the_seed_declares_the_cluster_and_hands_out_its_urls() -> None:
    """Seed 004's layout on production, under mocks: a node on data-1 and data-2 (same
    container name, its own volume each), PgBouncer beside the back end on each of its hosts,
    an exporter beside each node, the fence on the standby's host; the backend's DATABASE_URL
    through its host's PgBouncer and DATABASE_REPLICA_URL to the standby, both secret."""
    from tools.offline import Secret, reveal, run_offline

    raw, secrets = read_stack_file("production")
    raw = copy.deepcopy(raw)
    raw["webstack:postgres"] = {**SEED_004, "pgbouncer": {}}
    raw["webstack:services"]["backend"]["secretEnv"] = {
        "DATABASE_URL": {"database": "primary"},
        "DATABASE_REPLICA_URL": {"database": "replica"},
    }
    run = run_offline("production", raw=raw, secret_keys=secrets)
    containers = {r.name: r for r in run.of_type("docker:index/container:Container")}
    nodes = [containers["postgres-data-1"], containers["postgres-data-2"]]
    assert {n.plain_inputs["name"] for n in nodes} == {"webstack-production-postgres"}
    assert [n.provider.split("::")[-1].split("-docker")[0] for n in nodes] == ["data-1", "data-2"]
    assert "initialised" in str(nodes[0].plain_inputs["healthcheck"]) and "initialised" not in str(
        nodes[1].plain_inputs["healthcheck"]
    )
    assert nodes[0].urn in nodes[1].dependencies  # the standby copies the primary
    fence = next(r for r in run.resources if r.name == "postgres-fence-data-2")
    assert fence.urn in nodes[0].dependencies  # the old primary is stopped before a promotion
    # PgBouncer beside the back end on app-1 and app-2, on no host port, reloaded in place.
    bouncers = [containers["postgres-pgbouncer-app-1"], containers["postgres-pgbouncer-app-2"]]
    assert not any(name.startswith("postgres-pgbouncer-data") for name in containers)
    assert all(not b.plain_inputs.get("ports") for b in bouncers)
    reloads = {r.name for r in run.resources if r.name.startswith("postgres-pgbouncer-reload-")}
    assert reloads == {"postgres-pgbouncer-reload-app-1", "postgres-pgbouncer-reload-app-2"}
    assert {"postgres-exporter-data-1", "postgres-exporter-data-2"} <= set(containers)
    for node, address in zip(nodes, ("10.0.0.13", "10.0.0.14"), strict=True):
        assert [(p["ip"], p["external"]) for p in node.plain_inputs["ports"]] == [(address, 5432)]
    volumes = [r for r in run.of_type("docker:index/volume:Volume") if "postgres" in r.name]
    assert len(volumes) == 2 and all(v.protect and v.retain_on_delete for v in volumes)
    backends = [c for name, c in containers.items() if name.startswith("app-backend-")]
    assert backends
    for backend in backends:
        envs = backend.inputs["envs"]
        assert isinstance(envs, Secret)
        urls = dict(e.split("=", 1) for e in reveal(envs) if e.startswith("DATABASE"))
        assert urls["DATABASE_URL"].endswith("@pgbouncer:6432/app"), urls
        assert urls["DATABASE_REPLICA_URL"].endswith("@10.0.0.14:5432/app"), urls
        assert urls["DATABASE_URL"].startswith("postgresql://app:")
    for node in nodes:
        files = "".join(str(u["content"]) for u in reveal(node.inputs["uploads"]))
        assert urls["DATABASE_URL"].split(":")[2].split("@")[0] not in files  # no password in a file
        assert "scram-sha-256" in files and "host    all" not in files
    outputs = reveal(run.outputs["postgres"])
    assert (outputs["enabled"], outputs["host"], outputs["standbyHost"], outputs["pgbouncerPort"]) == (
        True,
        "data-1",
        "data-2",
        6432,
    )
