"""PostgreSQL primary, hot standby, PgBouncer and the exporter: the rendered files run for real.

What runs: Debian's PostgreSQL 15 started by the rendered start scripts with the rendered
postgresql.conf, pg_hba.conf and init SQL (a primary on 127.0.0.2, its standby on 127.0.0.3
made by the standby script's base backup through its slot), Debian's PgBouncer with the
rendered ini and start script, Debian's postgres exporter, promtool and shellcheck. Checked:
replication (a write on the primary read on the standby, the slot active, the standby
read-only), pg_hba's decision for each source address, role and database (from loopback
source addresses libpq cannot use, by the protocol's first message), scram-sha-256 and a
wrong password refused, the exporter's pg_monitor view, that no password lands in a rendered
file, a data directory or a log, the init SQL run again (a rotated password, stale slots
dropped), PgBouncer's pooling, the metrics the alert rules use, and a switchover: the
standby promoted by the primary script and the former primary rewound by the standby script.

The module's tests share one cluster and run in order; the switchover is last.
"""

from __future__ import annotations

import functools
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import Thresholds
from components.config.postgres import PostgresConfig
from components.render import monitoring as m
from components.render.postgres import (
    EXPORTER_PASSWORD_ENV,
    REPLICATION_PASSWORD_ENV,
    ClusterSpec,
    PostgresNode,
    PostgresPaths,
    Role,
    database_url,
    owner_password_env,
    postgres_scrape_job,
    render_pgbouncer_start,
    render_primary_start,
    render_standby_start,
)

from .backup_servers import need
from .postgres_cluster import (
    CLIENT_SOURCE,
    EXPORTER,
    PG_BIN,
    Cluster,
    PgBouncer,
    free_port,
    need_file,
    startup_probe,
)

pytestmark = pytest.mark.timeout(300)

PRIMARY = "127.0.0.2"
STANDBY = "127.0.0.3"
BOUNCER = "127.0.0.4"
OUTSIDER = "127.0.0.5"  # in no list
REPLICA_PEER = "127.0.0.6"  # in the replication list only
CLIENT_PEER = "127.0.0.7"  # in the client list only

# Every character that needs care in SQL, a passfile, a userlist, a URL and the shell; the
# exporter's only letters and digits, as the stack generates them (pulumi_random, no special
# characters): Debian's postgres exporter 0.11 calls any DSN "malformed" whose password needs
# quoting (a space, a quote, a backslash), however it is encoded in the URL.
PASSWORDS = {
    REPLICATION_PASSWORD_ENV: "rep:l\\ica'tion\"pa$$ %+/@#?",
    EXPORTER_PASSWORD_ENV: "Exp0rterPassw0rdFromRandom48",
    owner_password_env("app"): "p@ss:w/rd%+ $'\"\\x;#?",
    owner_password_env("reporter"): "rep0rter \"quoted\" 'single' :colon:",
}
APP = ("app", PASSWORDS[owner_password_env("app")])
REPORTER = ("reporter", PASSWORDS[owner_password_env("reporter")])
EXPORTER_LOGIN = ("exporter", PASSWORDS[EXPORTER_PASSWORD_ENV])


def _config(port: int, bouncer_port: int, *, primary: str = "pg-a", standby: str = "pg-b") -> PostgresConfig:
    return PostgresConfig.model_validate(
        {
            "host": primary,
            "standbyHost": standby,
            "port": port,
            "databases": [{"name": "app", "owner": "app"}, {"name": "reports", "owner": "reporter"}],
            "pgbouncer": {"port": bouncer_port},
        }
    )


def _spec(config: PostgresConfig, *, primary: PostgresNode, standby: PostgresNode) -> ClusterSpec:
    # libpq connects from 127.0.0.1 here, so 127.0.0.1 stands for the peers in both lists.
    return ClusterSpec(
        config=config,
        primary=primary,
        standby=standby,
        client_networks=(CLIENT_SOURCE, CLIENT_PEER),
        replication_networks=(CLIENT_SOURCE, REPLICA_PEER),
    )


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    need("shellcheck")
    port, bouncer_port = free_port(PRIMARY), free_port(BOUNCER)
    spec = _spec(
        _config(port, bouncer_port), primary=PostgresNode("pg-a", PRIMARY), standby=PostgresNode("pg-b", STANDBY)
    )
    pg = Cluster(spec, PASSWORDS)
    try:
        pg.start("primary")
        pg.start("standby")
        _wait(lambda: _streaming(pg) == [("pg-b", "streaming")], 60, "the standby streaming")
        yield pg
    finally:
        pg.close()


@pytest.fixture(scope="module")
def bouncer(cluster: Cluster) -> Iterator[PgBouncer]:
    assert cluster.spec.config.pgbouncer is not None
    pool = PgBouncer(cluster, BOUNCER, cluster.spec.config.pgbouncer.port, server_host=PRIMARY)
    try:
        pool.start()
        yield pool
    finally:
        pool.stop()


def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return
        except (AssertionError, OSError) as error:  # not there yet
            last = error
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")


def _rows(result: subprocess.CompletedProcess[str]) -> list[list[str]]:
    return [line.split("|") for line in result.stdout.strip().splitlines() if line]


def _streaming(pg: Cluster) -> list[tuple[str, str]]:
    primary = pg.node("primary")
    rows = _rows(
        pg.psql(
            primary,
            "SELECT application_name, state FROM pg_stat_replication ORDER BY 1",
            user=EXPORTER_LOGIN[0],
            password=EXPORTER_LOGIN[1],
            database="postgres",
        )
    )
    return [(r[0], r[1]) for r in rows]


def _app(pg: Cluster, role: Role, sql: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    return pg.psql(pg.node(role), sql, user=APP[0], password=APP[1], database="app", check=check)


# --- replication ------------------------------------------------------------------------------


def test_the_standby_streams_through_its_slot(cluster: Cluster) -> None:
    primary, standby = cluster.node("primary"), cluster.node("standby")
    slots = _rows(cluster.admin(primary, "SELECT slot_name, slot_type, active FROM pg_replication_slots ORDER BY 1"))
    assert slots == [["webstack_pg_b", "physical", "t"]]
    replication = _rows(
        cluster.admin(
            primary,
            "SELECT r.application_name, r.client_addr, s.slot_name FROM pg_stat_replication r "
            "JOIN pg_replication_slots s ON s.active_pid = r.pid",
        )
    )
    assert replication == [["pg-b", CLIENT_SOURCE, "webstack_pg_b"]]
    assert cluster.admin(standby, "SELECT pg_is_in_recovery()").stdout.strip() == "t"
    assert cluster.admin(primary, "SELECT pg_is_in_recovery()").stdout.strip() == "f"
    log = standby.log_text()
    assert "base backup of 127.0.0.2:" in log and "through the slot webstack_pg_b" in log
    assert "base backup complete" in log
    assert not Path(standby.paths.data_dir + ".partial").exists()


def test_the_rendered_settings_are_the_running_ones(cluster: Cluster) -> None:
    expected = {
        "max_connections": "200",
        "shared_buffers": "512MB",
        "effective_cache_size": "2GB",
        "maintenance_work_mem": "128MB",
        "checkpoint_completion_target": "0.9",
        "wal_buffers": "16MB",
        "work_mem": "2621kB",
        "max_worker_processes": "4",
        "max_parallel_workers": "4",
        "log_min_duration_statement": "1s",
        "wal_level": "replica",
        "max_wal_senders": "10",
        "max_replication_slots": "10",
        "max_slot_wal_keep_size": "10GB",
        "hot_standby": "on",
        "hot_standby_feedback": "on",
        "password_encryption": "scram-sha-256",
        "data_checksums": "on",
    }
    names = ", ".join(f"'{n}'" for n in expected)
    roles: tuple[tuple[Role, str], ...] = (("primary", PRIMARY), ("standby", STANDBY))
    for role, address in roles:
        node = cluster.node(role)
        query = f"SELECT name, current_setting(name) FROM pg_settings WHERE name IN ({names})"
        shown = {row[0]: row[1] for row in _rows(cluster.admin(node, query))}
        assert shown == expected, role
        assert cluster.admin(node, "SHOW listen_addresses").stdout.strip() == address
        # Every line of the rendered files was accepted.
        errors = cluster.admin(node, "SELECT count(*) FROM pg_file_settings WHERE error IS NOT NULL").stdout.strip()
        assert errors == "0", role
        assert (
            cluster.admin(node, "SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL").stdout.strip() == "0"
        )
    standby = cluster.node("standby")
    assert "passfile=" in cluster.admin(standby, "SHOW primary_conninfo").stdout
    assert cluster.admin(standby, "SHOW primary_slot_name").stdout.strip() == "webstack_pg_b"


def test_a_write_on_the_primary_is_read_on_the_standby(cluster: Cluster) -> None:
    _app(cluster, "primary", "CREATE TABLE notes (id integer PRIMARY KEY, body text NOT NULL)")
    _app(
        cluster,
        "primary",
        "INSERT INTO notes SELECT g, 'note ' || g || E' \\'quoted\\'' FROM generate_series(1, 1000) g",
    )
    checksum = "SELECT count(*) || ':' || md5(string_agg(body, ',' ORDER BY id)) FROM notes"
    on_primary = _app(cluster, "primary", checksum).stdout.strip()
    assert on_primary.startswith("1000:")
    _wait(
        lambda: _app(cluster, "standby", checksum, check=False).stdout.strip() == on_primary,
        30,
        "the rows on the standby",
    )
    refused = _app(cluster, "standby", "INSERT INTO notes VALUES (1001, 'x')", check=False)
    assert refused.returncode != 0
    assert "cannot execute INSERT in a read-only transaction" in refused.stderr


# --- who may connect --------------------------------------------------------------------------

# (source, user, database, replication, answer): "sasl" is admitted (asked for SCRAM-SHA-256).
HBA_CASES = [
    (CLIENT_SOURCE, "app", "app", False, "sasl"),
    (CLIENT_SOURCE, "reporter", "reports", False, "sasl"),
    (CLIENT_SOURCE, "exporter", "postgres", False, "sasl"),
    (CLIENT_SOURCE, "replicator", "postgres", True, "sasl"),
    (CLIENT_SOURCE, "replicator", "postgres", False, "sasl"),  # pg_rewind's reads
    (CLIENT_PEER, "app", "app", False, "sasl"),
    (CLIENT_PEER, "exporter", "postgres", False, "sasl"),
    (REPLICA_PEER, "replicator", "postgres", True, "sasl"),
    # another database than the owner's, a role that is not a client, the admin over TCP
    (CLIENT_SOURCE, "app", "reports", False, "rejected"),
    (CLIENT_SOURCE, "reporter", "app", False, "rejected"),
    (CLIENT_SOURCE, "exporter", "app", False, "rejected"),
    (CLIENT_SOURCE, "app", "postgres", False, "rejected"),
    (CLIENT_SOURCE, "postgres", "postgres", False, "rejected"),
    (CLIENT_SOURCE, "app", "app", True, "rejected"),
    (CLIENT_SOURCE, "replicator", "app", False, "rejected"),
    # replication only from the replication list, clients only from the client list
    (CLIENT_PEER, "replicator", "postgres", True, "rejected"),
    (REPLICA_PEER, "app", "app", False, "rejected"),
    (REPLICA_PEER, "exporter", "postgres", False, "rejected"),
    # an address in no list: nothing
    (OUTSIDER, "app", "app", False, "rejected"),
    (OUTSIDER, "exporter", "postgres", False, "rejected"),
    (OUTSIDER, "replicator", "postgres", True, "rejected"),
    (OUTSIDER, "postgres", "postgres", False, "rejected"),
]


@pytest.mark.parametrize(
    ("source", "user", "database", "replication", "answer"),
    HBA_CASES,
    ids=[f"{s}-{u}-{'replication' if r else d}-{a}" for s, u, d, r, a in HBA_CASES],
)
def test_pg_hba_admits_only_the_listed_peers(
    cluster: Cluster, source: str, user: str, database: str, replication: bool, answer: str
) -> None:
    for node in (cluster.node("primary"), cluster.node("standby")):
        got = startup_probe(
            node.address, cluster.port, source=source, user=user, database=database, replication=replication
        )
        if answer == "sasl":
            assert (got.kind, got.detail) == ("sasl", "SCRAM-SHA-256"), (node.name, got)
        else:
            assert got.kind == "rejected", (node.name, got)
            what = "replication connection" if replication else "connection"
            assert f'pg_hba.conf rejects {what} for host "{source}"' in got.detail, got


def test_a_wrong_password_is_refused_and_passwords_are_scram(cluster: Cluster) -> None:
    primary = cluster.node("primary")
    for user, database in (("app", "app"), ("exporter", "postgres"), ("reporter", "reports")):
        wrong = cluster.psql(
            primary, "SELECT 1", user=user, password="not-the-password", database=database, check=False
        )
        assert wrong.returncode != 0
        assert f'password authentication failed for user "{user}"' in wrong.stderr
    stored = _rows(
        cluster.admin(
            primary,
            "SELECT rolname, rolpassword LIKE 'SCRAM-SHA-256$4096:%' FROM pg_authid "
            "WHERE rolname IN ('app', 'reporter', 'exporter', 'replicator', 'postgres') ORDER BY 1",
        )
    )
    # The admin has no password at all: the local socket's peer authentication only.
    assert stored == [["app", "t"], ["exporter", "t"], ["postgres", ""], ["replicator", "t"], ["reporter", "t"]]
    # The right passwords, with every awkward character, work from the URLs the services get.
    for user, password, database in ((*APP, "app"), (*REPORTER, "reports")):
        url = database_url(user=user, password=password, host=PRIMARY, port=cluster.port, database=database)
        result = subprocess.run(
            ["psql", "-X", "-A", "-t", "-c", "SELECT current_user || '@' || current_database()", url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={"PATH": "/usr/bin:/bin", "PGSSLMODE": "disable"},
        )
        assert result.stdout.strip() == f"{user}@{database}", result.stderr


def test_the_exporter_reads_replication_state_and_an_owner_does_not(cluster: Cluster) -> None:
    primary = cluster.node("primary")
    sql = "SELECT application_name, client_addr IS NOT NULL, replay_lsn IS NOT NULL, state FROM pg_stat_replication"
    as_exporter = _rows(cluster.psql(primary, sql, user="exporter", password=EXPORTER_LOGIN[1], database="postgres"))
    assert as_exporter == [["pg-b", "t", "t", "streaming"]]
    # Without pg_monitor the same view hides what matters (insufficient privilege).
    as_owner = _rows(_app(cluster, "primary", sql))
    assert as_owner == [["pg-b", "f", "f", ""]]
    roles = cluster.admin(
        primary,
        "SELECT string_agg(b.rolname, ',') FROM pg_auth_members m "
        "JOIN pg_roles b ON b.oid = m.roleid JOIN pg_roles u ON u.oid = m.member "
        "WHERE u.rolname = 'exporter'",
    ).stdout.strip()
    assert roles == "pg_monitor"


def test_no_password_is_in_a_rendered_file_a_data_directory_or_a_log(cluster: Cluster) -> None:
    secrets = [p for p in PASSWORDS.values()]
    seen: list[str] = []
    for node in cluster.nodes.values():
        for path in [*Path(node.paths.config_dir).iterdir(), *node.logs]:
            seen.append(path.name)
            text = path.read_text(errors="replace")
            for secret in secrets:
                assert secret not in text, f"a password in {path}"
        data = Path(node.paths.data_dir)
        for name in ("postgresql.auto.conf", "postgresql.conf", "standby.signal"):
            if (data / name).exists():
                for secret in secrets:
                    assert secret not in (data / name).read_text(errors="replace"), f"a password in {data / name}"
        # The one place the replication password is written: the run directory's passfile, 0600.
        passfile = Path(node.paths.passfile)
        assert passfile.stat().st_mode & 0o777 == 0o600
        assert Path(node.paths.run_dir).stat().st_mode & 0o777 == 0o700
    assert {"postgresql.conf", "pg_hba.conf", "init.sql", "start.sh"} <= set(seen)


def test_the_init_sql_runs_again_rotating_a_password_and_dropping_stale_slots(cluster: Cluster) -> None:
    primary = cluster.node("primary")
    init_sql = str(Path(primary.paths.config_dir) / "init.sql")
    cluster.admin(primary, "SELECT pg_create_physical_replication_slot('webstack_gone')")
    cluster.admin(primary, "SELECT pg_create_physical_replication_slot('someone_elses')")
    rotated = "rotated 'pass' \"word\" :\\"
    try:
        cluster.admin_file(primary, ["-f", init_sql], env={owner_password_env("app"): rotated})
        old = cluster.psql(primary, "SELECT 1", user="app", password=APP[1], database="app", check=False)
        assert "password authentication failed" in old.stderr
        assert cluster.psql(primary, "SELECT 1", user="app", password=rotated, database="app").stdout.strip() == "1"
        slots = _rows(cluster.admin(primary, "SELECT slot_name, active FROM pg_replication_slots ORDER BY 1"))
        assert slots == [["someone_elses", "f"], ["webstack_pg_b", "t"]]
        # Nothing created twice, the table written earlier still there.
        assert _rows(
            cluster.admin(
                primary, "SELECT count(*) FROM pg_roles WHERE rolname IN ('app','reporter','exporter','replicator')"
            )
        ) == [["4"]]
        assert (
            cluster.psql(
                primary, "SELECT count(*) FROM notes", user="app", password=rotated, database="app"
            ).stdout.strip()
            == "1000"
        )
    finally:
        cluster.admin_file(primary, ["-f", init_sql])
        cluster.admin(primary, "SELECT pg_drop_replication_slot('someone_elses')", check=False)
    assert cluster.psql(primary, "SELECT 1", user="app", password=APP[1], database="app").stdout.strip() == "1"


def test_a_missing_password_stops_the_scripts_before_anything_runs(cluster: Cluster, tmp_path: Path) -> None:
    spec = cluster.spec
    for name, text in (
        ("primary.sh", render_primary_start(spec)),
        ("standby.sh", render_standby_start(spec)),
        ("pgbouncer.sh", render_pgbouncer_start(spec)),
    ):
        path = tmp_path / name
        path.write_text(text)
        env = {k: v for k, v in PASSWORDS.items() if k != REPLICATION_PASSWORD_ENV and k != EXPORTER_PASSWORD_ENV}
        result = subprocess.run(
            ["bash", str(path)], env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, timeout=30
        )
        assert result.returncode != 0, name
        assert "is not set; it must be passed to this script" in result.stderr, (name, result.stderr)


def test_the_primary_script_starts_no_empty_primary_over_an_unfinished_base_backup(
    cluster: Cluster, tmp_path: Path
) -> None:
    paths = PostgresPaths(
        bindir=str(PG_BIN),
        data_dir=str(tmp_path / "volume" / "pgdata"),
        config_dir=str(tmp_path / "etc"),
        socket_dir=str(tmp_path / "sock"),
        run_dir=str(tmp_path / "run"),
    )
    (tmp_path / "volume" / "pgdata.partial").mkdir(parents=True)
    script = tmp_path / "primary.sh"
    script.write_text(render_primary_start(cluster.spec, paths))
    result = subprocess.run(
        ["bash", str(script)], env={"PATH": "/usr/bin:/bin", **PASSWORDS}, capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert "is an unfinished base backup: this node never became a standby" in result.stderr
    assert not (tmp_path / "volume" / "pgdata").exists()


def test_the_rendered_scripts_pass_shellcheck(cluster: Cluster, tmp_path: Path) -> None:
    spec = cluster.spec
    paths = []
    for name, text in (
        ("primary.sh", render_primary_start(spec)),
        ("standby.sh", render_standby_start(spec)),
        ("pgbouncer.sh", render_pgbouncer_start(spec)),
    ):
        path = tmp_path / name
        path.write_text(text)
        paths.append(str(path))
    result = subprocess.run(["shellcheck", "--severity=style", *paths], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


# --- PgBouncer --------------------------------------------------------------------------------


def _via(
    cluster: Cluster, bouncer: PgBouncer, sql: str, *, user: str, password: str, database: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """psql through PgBouncer."""
    return cluster.psql(
        cluster.node("primary"),
        sql,
        user=user,
        password=password,
        database=database,
        check=check,
        address=BOUNCER,
        port=bouncer.port,
    )


def test_pgbouncer_pools_transactions_to_the_primary(cluster: Cluster, bouncer: PgBouncer) -> None:
    got = _via(
        cluster,
        bouncer,
        "SELECT current_user, current_database(), inet_server_addr()",
        user="app",
        password=APP[1],
        database="app",
    )
    assert got.stdout.strip() == f"app|app|{PRIMARY}"
    _via(
        cluster,
        bouncer,
        "INSERT INTO notes VALUES (5000, 'through pgbouncer')",
        user="app",
        password=APP[1],
        database="app",
    )
    assert _app(cluster, "primary", "SELECT body FROM notes WHERE id = 5000").stdout.strip() == "through pgbouncer"
    reports = _via(
        cluster, bouncer, "SELECT current_database()", user="reporter", password=REPORTER[1], database="reports"
    )
    assert reports.stdout.strip() == "reports"
    # A URL the way a service gets it (DATABASE_URL through PgBouncer).
    url = database_url(user="app", password=APP[1], host=BOUNCER, port=bouncer.port, database="app")
    result = subprocess.run(
        ["psql", "-X", "-A", "-t", "-c", "SELECT count(*) FROM notes", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PGSSLMODE": "disable"},
    )
    assert result.stdout.strip() == "1001", result.stderr
    wrong = _via(cluster, bouncer, "SELECT 1", user="app", password="wrong", database="app", check=False)
    assert wrong.returncode != 0 and "FATAL:  SASL authentication failed" in wrong.stderr

    # The exporter (stats_users) reads PgBouncer's console: the seed's pool settings are live.
    def console(command: str) -> list[list[str]]:
        return _rows(_via(cluster, bouncer, command, user="exporter", password=EXPORTER_LOGIN[1], database="pgbouncer"))

    config = {row[0]: row[1] for row in console("SHOW CONFIG")}
    assert (config["pool_mode"], config["max_client_conn"], config["default_pool_size"]) == (
        "transaction",
        "1000",
        "50",
    )
    assert config["auth_type"] == "scram-sha-256"
    pools = {row[0] for row in console("SHOW POOLS")}
    assert {"app", "reports"} <= pools
    # The userlist came from the environment into the run directory, 0600; the ini holds no password.
    userlist = Path(bouncer.paths.userlist)
    assert userlist.stat().st_mode & 0o777 == 0o600
    ini = (bouncer.root / "etc" / "pgbouncer.ini").read_text()
    assert all(p not in ini for p in PASSWORDS.values())


# --- the exporter and the alert rules ---------------------------------------------------------


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text: str = response.read().decode()
    return text


def _metric(text: str, name: str, **labels: str) -> list[float]:
    values = []
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            values.append(float(line.rsplit(" ", 1)[1]))
    return values


def _exporter_up(port: int) -> bool:
    return _metric(_scrape(port), "pg_up") == [1.0]


@pytest.fixture(scope="module")
def exporters(cluster: Cluster) -> Iterator[dict[str, int]]:
    binary = need_file(EXPORTER, "prometheus-postgres-exporter")
    processes: list[subprocess.Popen[bytes]] = []
    ports: dict[str, int] = {}
    try:
        for role, address in (("primary", PRIMARY), ("standby", STANDBY)):
            port = free_port()
            dsn = database_url(
                user="exporter",
                password=EXPORTER_LOGIN[1],
                host=address,
                port=cluster.port,
                database="postgres",
                params={"sslmode": "disable"},
            )
            processes.append(
                subprocess.Popen(
                    [binary, f"--web.listen-address=127.0.0.1:{port}"],
                    env={"PATH": "/usr/bin:/bin", "DATA_SOURCE_NAME": dsn},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            ports[role] = port
        for role, port in ports.items():
            _wait(functools.partial(_exporter_up, port), 30, f"the {role}'s exporter")
        yield ports
    finally:
        for process in processes:
            process.terminate()
            process.wait(30)


def test_every_metric_the_alert_rules_use_comes_from_the_exporter(cluster: Cluster, exporters: dict[str, int]) -> None:
    primary_metrics = _scrape(exporters["primary"])
    standby_metrics = _scrape(exporters["standby"])
    rules = yaml.safe_load(m.render_alert_rules(Thresholds(), environment="production", postgres=True))
    group = next(g for g in rules["groups"] if g["name"] == "webstack-postgres")
    used = {name for rule in group["rules"] for name in re.findall(r"\bpg_[a-z_]+\b", rule["expr"])}
    assert used == {
        "pg_up",
        "pg_stat_activity_count",
        "pg_settings_max_connections",
        "pg_stat_replication_pg_wal_lsn_diff",
        "pg_replication_slots_active",
    }
    for name in used:
        assert _metric(primary_metrics, name), f"{name} is not exported by the primary's exporter"
    assert _metric(primary_metrics, "pg_settings_max_connections") == [200.0]
    assert _metric(standby_metrics, "pg_settings_max_connections") == [200.0]
    assert _metric(primary_metrics, "pg_replication_slots_active", slot_name="webstack_pg_b") == [1.0]
    assert _metric(primary_metrics, "pg_stat_replication_pg_wal_lsn_diff", application_name="pg-b") != []
    assert sum(_metric(primary_metrics, "pg_stat_activity_count")) >= 1  # the exporter's own connection


def test_replication_lag_shows_in_the_metric_the_alert_uses(cluster: Cluster, exporters: dict[str, int]) -> None:
    standby = cluster.node("standby")
    cluster.admin(standby, "SELECT pg_wal_replay_pause()")
    try:
        _app(cluster, "primary", "CREATE TABLE bulk AS SELECT g, md5(g::text) AS h FROM generate_series(1, 100000) g")

        def lag() -> float:
            values = _metric(
                _scrape(exporters["primary"]), "pg_stat_replication_pg_wal_lsn_diff", application_name="pg-b"
            )
            return values[0] if values else 0.0

        _wait(lambda: lag() > 4 * 1048576, 30, "a lag of more than 4 MiB")
    finally:
        cluster.admin(standby, "SELECT pg_wal_replay_resume()")
    _wait(lambda: lag() == 0.0, 60, "the lag back to 0")
    assert _app(cluster, "standby", "SELECT count(*) FROM bulk").stdout.strip() == "100000"


POSTGRES_THRESHOLDS = {
    "default": Thresholds(),
    "custom": Thresholds(
        postgres_connections_warning=50,
        postgres_connections_critical=99.99,
        postgres_replication_lag_warning_mb=1,
        postgres_replication_lag_critical_mb=3,
    ),
    "ceiling": Thresholds(postgres_connections_warning=80.5, postgres_connections_critical=100),
}


@pytest.mark.parametrize("name", POSTGRES_THRESHOLDS)
def test_postgres_alert_rules_pass_promtool_and_their_tests(tmp_path: Path, name: str) -> None:
    promtool = need("promtool")
    thresholds = POSTGRES_THRESHOLDS[name]
    (tmp_path / "alerts.yml").write_text(m.render_alert_rules(thresholds, environment="production", postgres=True))
    (tmp_path / "tests.yml").write_text(
        m.render_alert_rule_tests(thresholds, rule_file="alerts.yml", environment="production", postgres=True)
    )
    check = subprocess.run([promtool, "check", "rules", "alerts.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert check.returncode == 0 and "SUCCESS" in check.stdout, check.stdout + check.stderr
    tested = subprocess.run([promtool, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    tests = yaml.safe_load((tmp_path / "tests.yml").read_text())["tests"]
    postgres_alerts = {
        check["alertname"] for t in tests for check in t["alert_rule_test"] if check["alertname"].startswith("Postgres")
    }
    assert postgres_alerts == {
        "PostgresDown",
        "PostgresConnectionsHigh",
        "PostgresReplicationLagHigh",
        "PostgresStandbyNotStreaming",
    }


def test_a_broken_threshold_fails_the_promtool_tests(tmp_path: Path) -> None:
    """The promtool cases are meaningful: rules rendered from other thresholds than the
    tests' fail them."""
    promtool = need("promtool")
    (tmp_path / "alerts.yml").write_text(
        m.render_alert_rules(
            Thresholds(postgres_connections_warning=95, postgres_connections_critical=99),
            environment="production",
            postgres=True,
        )
    )
    (tmp_path / "tests.yml").write_text(
        m.render_alert_rule_tests(Thresholds(), rule_file="alerts.yml", environment="production", postgres=True)
    )
    tested = subprocess.run([promtool, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert tested.returncode != 0
    assert "PostgresConnectionsHigh" in tested.stdout + tested.stderr


def test_prometheus_config_with_the_postgres_job_passes_promtool(tmp_path: Path) -> None:
    promtool = need("promtool")
    (tmp_path / "alerts.yml").write_text(m.render_alert_rules(Thresholds(), environment="production", postgres=True))
    text = m.render_prometheus_config(
        scrape_interval_s=15,
        jobs=[m.ScrapeJob("node", ["10.0.0.13:9100"]), postgres_scrape_job(["10.0.0.13:9187", "10.0.0.14:9187"])],
        alertmanager_targets=[],
        rule_files=["alerts.yml"],
        environment="production",
    )
    (tmp_path / "prometheus.yml").write_text(text)
    check = subprocess.run(
        [promtool, "check", "config", "prometheus.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    jobs = {j["job_name"]: j for j in yaml.safe_load(text)["scrape_configs"]}
    assert jobs["postgres"]["static_configs"][0]["targets"] == ["10.0.0.13:9187", "10.0.0.14:9187"]


# --- switchover (last: it swaps the roles) ----------------------------------------------------


def test_switchover_promotes_the_standby_and_rewinds_the_former_primary(cluster: Cluster) -> None:
    old_primary, old_standby = cluster.node("primary"), cluster.node("standby")
    _app(cluster, "primary", "INSERT INTO notes VALUES (6000, 'before the switchover')")
    marker = "SELECT count(*) FROM notes WHERE id = 6000"
    _wait(lambda: _app(cluster, "standby", marker, check=False).stdout.strip() == "1", 30, "the last write replicated")

    # The stack file now names pg-b primary and pg-a its standby.
    config = cluster.spec.config.model_copy(update={"host": "pg-b", "standby_host": "pg-a"})
    cluster.spec = _spec(config, primary=PostgresNode("pg-b", STANDBY), standby=PostgresNode("pg-a", PRIMARY))

    started = time.monotonic()
    # The old primary first (its script turns SIGTERM into a fast shutdown), then the standby.
    assert cluster.stop(old_primary, signal.SIGTERM) == 0
    assert "postgres exited with status 0" in old_primary.log_text()
    cluster.stop(old_standby, signal.SIGINT)
    new_primary = cluster.start("primary")
    assert new_primary is old_standby
    _app(cluster, "primary", "INSERT INTO notes VALUES (6001, 'after the switchover')")
    window = time.monotonic() - started
    print(f"drill | postgres switchover: writes unavailable (rendered scripts, one machine) | {window:.1f} s")
    assert window < 60
    assert "promoting it" in new_primary.log_text()
    timeline = cluster.admin(new_primary, "SELECT timeline_id FROM pg_control_checkpoint()").stdout.strip()
    assert timeline == "2"

    new_standby = cluster.start("standby")
    assert new_standby is old_primary
    log = new_standby.log_text()
    assert "holds a former primary's data" in log and "rewound: starting as the standby" in log, log
    assert "fresh base backup" not in log
    _wait(lambda: _streaming(cluster) == [("pg-a", "streaming")], 60, "the former primary streaming")
    slots = _rows(cluster.admin(new_primary, "SELECT slot_name, active FROM pg_replication_slots ORDER BY 1"))
    assert slots == [["webstack_pg_a", "t"]]
    _wait(
        lambda: (
            _app(cluster, "standby", "SELECT body FROM notes WHERE id = 6001", check=False).stdout.strip()
            == "after the switchover"
        ),
        30,
        "the new primary's write on the former primary",
    )
    assert _app(cluster, "standby", "SELECT count(*) FROM notes").stdout.strip() == "1003"
    assert cluster.admin(new_standby, "SELECT pg_is_in_recovery()").stdout.strip() == "t"
