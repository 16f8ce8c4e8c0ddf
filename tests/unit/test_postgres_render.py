"""The pure PostgreSQL renderers: postgresql.conf, pg_hba.conf, the init SQL, the start
scripts, PgBouncer, the URLs, the alert rules and scrape job, under every config branch.

They are run on Debian's PostgreSQL 15, PgBouncer and postgres exporter in
tests/rendered/test_postgres_rendered.py; here, what they say.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from components.config import Thresholds
from components.config.postgres import PostgresConfig
from components.render import monitoring as m
from components.render.postgres import (
    ClusterSpec,
    PostgresNode,
    PostgresPaths,
    database_url,
    env_names,
    owner_password_env,
    postgres_scrape_job,
    render_pg_hba,
    render_pgbouncer_ini,
    render_pgbouncer_start,
    render_postgresql_conf,
    render_primary_init_sql,
    render_primary_start,
    render_standby_start,
    slot_name,
    url_endpoint,
)


def _cluster(**changes: Any) -> ClusterSpec:
    config = PostgresConfig.model_validate(
        {
            "host": "data-1",
            "standbyHost": "data-2",
            "databases": [{"name": "app", "owner": "app"}, {"name": "reports", "owner": "reporter"}],
            "pgbouncer": {},
            **changes,
        }
    )
    return ClusterSpec.from_config(
        config,
        addresses={"data-1": "10.0.0.13", "data-2": "10.0.0.14"},
        client_networks=["10.0.0.11", "10.0.0.12", "10.0.0.11", "172.30.0.0/24"],
    )


def _conf(text: str) -> dict[str, str]:
    settings = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition(" = ")
            assert name not in settings, f"{name} twice"
            settings[name] = value
    return settings


def test_postgresql_conf_of_the_primary() -> None:
    conf = _conf(render_postgresql_conf(_cluster(), "primary"))
    assert conf["listen_addresses"] == "'*'"
    assert conf["port"] == "5432"
    assert conf["hba_file"] == "'/etc/postgresql/pg_hba.conf'"
    assert conf["max_connections"] == "200" and conf["shared_buffers"] == "'512MB'"
    assert conf["effective_cache_size"] == "'2GB'" and conf["work_mem"] == "'2621kB'"
    assert conf["log_min_duration_statement"] == "1000"
    assert (conf["wal_level"], conf["hot_standby"], conf["max_wal_senders"]) == ("replica", "on", "10")
    assert conf["max_slot_wal_keep_size"] == "'10GB'"
    assert conf["password_encryption"] == "'scram-sha-256'"
    assert "primary_conninfo" not in conf and "primary_slot_name" not in conf


def test_postgresql_conf_of_the_standby_names_its_primary_without_a_password() -> None:
    text = render_postgresql_conf(_cluster(), "standby", listen_addresses="10.0.0.14")
    conf = _conf(text)
    assert conf["listen_addresses"] == "'10.0.0.14'"
    assert conf["primary_conninfo"] == (
        "'host=10.0.0.13 port=5432 user=replicator passfile=/tmp/webstack-postgres/pgpass "
        "application_name=data-2 connect_timeout=5'"
    )
    assert conf["primary_slot_name"] == "'webstack_data_2'"
    assert "password=" not in text


def test_postgresql_conf_follows_the_settings() -> None:
    spec = _cluster(
        settings={
            "maxConnections": 400,
            "sharedBuffers": "8GB",
            "hotStandbyFeedback": False,
            "maxSlotWalKeepSize": None,
            "logMinDurationStatement": -1,
        },
        port=5433,
    )
    conf = _conf(render_postgresql_conf(spec, "primary"))
    assert (conf["max_connections"], conf["shared_buffers"], conf["port"]) == ("400", "'8GB'", "5433")
    assert (conf["hot_standby_feedback"], conf["max_slot_wal_keep_size"]) == ("off", "-1")
    assert conf["log_min_duration_statement"] == "-1"


def test_postgresql_conf_refuses_a_listen_address_that_is_not_one() -> None:
    with pytest.raises(ValueError, match="listen_addresses"):
        render_postgresql_conf(_cluster(), "primary", listen_addresses="10.0.0.13; rm -rf /")
    with pytest.raises(ValueError, match="no standby"):
        render_postgresql_conf(_cluster(standbyHost=None), "standby")


def _hba(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line and not line.startswith("#")]


def test_pg_hba_admits_owners_exporter_and_replication_from_the_peers_only() -> None:
    rows = _hba(render_pg_hba(_cluster()))
    assert rows[0] == ["local", "all", "postgres", "peer"]
    admitted = [r for r in rows if r[-1] == "scram-sha-256"]
    assert {(r[1], r[2]) for r in admitted} == {
        ("replication", "replicator"),
        ("postgres", "replicator"),
        ("app", "app"),
        ("reports", "reporter"),
        ("postgres", "exporter"),
    }
    replication = {r[3] for r in admitted if r[2] == "replicator"}
    assert replication == {"10.0.0.13/32", "10.0.0.14/32"}
    clients = {r[3] for r in admitted if r[2] != "replicator"}
    assert clients == {"10.0.0.11/32", "10.0.0.12/32", "172.30.0.0/24"}  # once each
    assert len([r for r in admitted if r[1] == "app"]) == 3
    # Only scram-sha-256, peer for the admin, and explicit rejects at the end; no trust nor md5.
    assert {r[-1] for r in rows} == {"peer", "scram-sha-256", "reject"}
    assert rows[-5:] == [
        ["host", "all", "all", "0.0.0.0/0", "reject"],
        ["host", "all", "all", "::/0", "reject"],
        ["host", "replication", "all", "0.0.0.0/0", "reject"],
        ["host", "replication", "all", "::/0", "reject"],
        ["local", "all", "all", "reject"],
    ]


def test_pg_hba_refuses_a_network_that_is_not_one() -> None:
    config = _cluster().config
    with pytest.raises(ValueError, match="not an IP address or network"):
        ClusterSpec.from_config(
            config, addresses={"data-1": "10.0.0.13", "data-2": "10.0.0.14"}, client_networks=["10.0.0.0/33"]
        )
    with pytest.raises(ValueError, match="nobody could connect"):
        ClusterSpec.from_config(config, addresses={"data-1": "10.0.0.13", "data-2": "10.0.0.14"}, client_networks=[])


def test_init_sql_makes_roles_databases_and_the_slot_with_passwords_from_the_environment() -> None:
    sql = render_primary_init_sql(_cluster())
    assert "\\getenv replication_password POSTGRES_REPLICATION_PASSWORD" in sql
    assert "\\getenv exporter_password POSTGRES_EXPORTER_PASSWORD" in sql
    assert "\\getenv password_app POSTGRES_PASSWORD_APP" in sql
    assert "\\getenv password_reporter POSTGRES_PASSWORD_REPORTER" in sql
    assert 'ALTER ROLE "replicator" WITH LOGIN REPLICATION' in sql and ":'replication_password';" in sql
    assert 'GRANT pg_monitor TO "exporter";' in sql
    assert (
        "ALTER ROLE \"app\" WITH LOGIN NOREPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password_app';"
        in sql
    )
    assert "format('CREATE DATABASE %I OWNER %I ENCODING %L', 'reports', 'reporter', 'UTF8')" in sql
    assert 'REVOKE ALL ON DATABASE "reports" FROM PUBLIC;' in sql
    assert "pg_create_physical_replication_slot('webstack_data_2')" in sql
    assert "slot_name <> ALL (ARRAY['webstack_data_2']::name[]) AND NOT active" in sql
    # Logging of the statements that carry passwords is off before the first of them.
    assert sql.index("SET log_statement = 'none';") < sql.index("ALTER ROLE")
    assert sql.index("SET log_min_error_statement = 'panic';") < sql.index("ALTER ROLE")
    # Each owner once, though it owns two databases.
    shared = render_primary_init_sql(
        _cluster(databases=[{"name": "app", "owner": "app"}, {"name": "reports", "owner": "app"}])
    )
    assert shared.count('ALTER ROLE "app"') == 1
    assert shared.count("CREATE DATABASE %I") == 2


def test_init_sql_without_a_standby_keeps_no_slot() -> None:
    sql = render_primary_init_sql(_cluster(standbyHost=None))
    assert "pg_create_physical_replication_slot" not in sql
    assert "slot_name <> ALL (ARRAY[]::name[])" in sql  # any webstack slot left behind is dropped


def test_start_scripts_take_their_secrets_from_the_environment() -> None:
    spec = _cluster()
    assert env_names(spec) == [
        "POSTGRES_REPLICATION_PASSWORD",
        "POSTGRES_EXPORTER_PASSWORD",
        "POSTGRES_PASSWORD_APP",
        "POSTGRES_PASSWORD_REPORTER",
    ]
    primary = render_primary_start(spec)
    assert (
        "require_env POSTGRES_REPLICATION_PASSWORD POSTGRES_EXPORTER_PASSWORD POSTGRES_PASSWORD_APP POSTGRES_PASSWORD_REPORTER"
        in primary
    )
    assert "--auth-local=peer --auth-host=scram-sha-256" in primary and "--data-checksums" in primary
    assert 'pg_ctl" promote' in primary and "-c CHECKPOINT" in primary
    assert "trap 'kill -INT \"$PID\" 2>/dev/null || true' INT TERM" in primary
    standby = render_standby_start(spec)
    assert "readonly PRIMARY_HOST=10.0.0.13" in standby
    assert "readonly SLOT=webstack_data_2" in standby
    assert '--wal-method=stream --slot="$SLOT"' in standby
    assert 'pg_receivewal" --create-slot --if-not-exists' in standby
    assert 'pg_rewind" --target-pgdata' in standby
    assert 'mv "$PARTIAL" "$PGDATA_DIR"' in standby
    assert 'exec "$BINDIR/postgres" -D "$PGDATA_DIR" -c config_file="$CONF"' in standby
    bouncer = render_pgbouncer_start(spec)
    assert 'entry app "$POSTGRES_PASSWORD_APP"' in bouncer
    assert 'entry exporter "$POSTGRES_EXPORTER_PASSWORD"' in bouncer
    assert "exec /usr/sbin/pgbouncer /etc/postgresql/pgbouncer.ini" in bouncer


def test_paths_are_checked() -> None:
    with pytest.raises(ValueError, match="data_dir"):
        PostgresPaths(data_dir="relative/pgdata")
    with pytest.raises(ValueError, match="run_dir"):
        PostgresPaths(run_dir="/tmp/$(reboot)")
    paths = PostgresPaths(config_dir="/srv/pg")
    assert (paths.conf, paths.hba, paths.init_sql) == (
        "/srv/pg/postgresql.conf",
        "/srv/pg/pg_hba.conf",
        "/srv/pg/init.sql",
    )


def test_pgbouncer_ini() -> None:
    ini = render_pgbouncer_ini(_cluster(), server_host="postgres")
    lines = ini.splitlines()
    databases = lines[lines.index("[databases]") + 1 : lines.index("[pgbouncer]") - 1]
    assert databases == [
        "app = host=postgres port=5432 dbname=app",
        "reports = host=postgres port=5432 dbname=reports",
    ]
    settings = dict(line.split(" = ", 1) for line in lines[lines.index("[pgbouncer]") + 1 :] if " = " in line)
    assert settings["pool_mode"] == "transaction"
    assert (settings["max_client_conn"], settings["default_pool_size"], settings["listen_port"]) == (
        "1000",
        "50",
        "6432",
    )
    assert settings["auth_type"] == "scram-sha-256"
    assert settings["auth_file"] == "/tmp/webstack-postgres/userlist.txt"
    custom = render_pgbouncer_ini(
        _cluster(pgbouncer={"poolMode": "session", "defaultPoolSize": 20, "port": 6543}), server_host="10.0.0.13"
    )
    assert "pool_mode = session" in custom and "default_pool_size = 20" in custom and "listen_port = 6543" in custom
    with pytest.raises(ValueError, match="not enabled"):
        render_pgbouncer_ini(_cluster(pgbouncer=None), server_host="postgres")
    with pytest.raises(ValueError, match="server_host"):
        render_pgbouncer_ini(_cluster(), server_host="postgres port=1")


def test_names_and_slots() -> None:
    assert slot_name("data-2") == "webstack_data_2"
    assert owner_password_env("app_owner") == "POSTGRES_PASSWORD_APP_OWNER"
    with pytest.raises(ValueError, match="another node"):
        config = _cluster().config
        ClusterSpec(
            config, PostgresNode("data-1", "10.0.0.13"), PostgresNode("data-1", "10.0.0.13"), ("10.0.0.11",), ()
        )
    with pytest.raises(ValueError, match="not an IP address or host name"):
        PostgresNode("data-1", "10.0.0.13 port=1")


# --- URLs -------------------------------------------------------------------------------------

AWKWARD = "p@ss:w/rd%+ $'\"\\x;#?&="


@pytest.mark.parametrize("host", ["10.0.0.13", "postgres", "db.example.com", "2001:db8::13"])
def test_database_url_round_trips(host: str) -> None:
    url = database_url(user="app", password=AWKWARD, host=host, port=6432, database="app")
    parts = urlsplit(url)
    assert parts.scheme == "postgresql"
    assert (unquote(parts.username or ""), unquote(parts.password or "")) == ("app", AWKWARD)
    assert (parts.hostname, parts.port, parts.path) == (host.lower(), 6432, "/app")
    if ":" in host:
        assert f"@[{host}]:6432/" in url


def test_database_url_parameters_and_bad_parts() -> None:
    assert database_url(user="u", password="p", host="h", port=5432, database="d", params={"sslmode": "require"}) == (
        "postgresql://u:p@h:5432/d?sslmode=require"
    )
    with pytest.raises(ValueError, match="port"):
        database_url(user="u", password="p", host="h", port=0, database="d")
    with pytest.raises(ValueError, match="host"):
        database_url(user="u", password="p", host="h/evil@x", port=5432, database="d")


def test_url_endpoints_follow_pgbouncer_and_the_standby() -> None:
    with_bouncer = _cluster().config
    assert url_endpoint(with_bouncer, "primary", primary="10.0.0.13", standby="10.0.0.14") == ("10.0.0.13", 6432)
    assert url_endpoint(with_bouncer, "replica", primary="10.0.0.13", standby="10.0.0.14") == ("10.0.0.14", 5432)
    plain = _cluster(pgbouncer={"enabled": False}).config
    assert url_endpoint(plain, "primary", primary="postgres", standby=None) == ("postgres", 5432)
    with pytest.raises(ValueError, match="needs a standby"):
        url_endpoint(plain, "replica", primary="postgres", standby=None)


# --- monitoring -------------------------------------------------------------------------------


def _rules(thresholds: Thresholds, postgres: bool) -> dict[tuple[str, str], dict[str, Any]]:
    text = m.render_alert_rules(thresholds, environment="production", postgres=postgres)
    return {(r["alert"], r["labels"]["severity"]): r for g in yaml.safe_load(text)["groups"] for r in g["rules"]}


def test_postgres_alert_rules_only_with_a_cluster_and_from_the_thresholds() -> None:
    assert not any(alert.startswith("Postgres") for alert, _ in _rules(Thresholds(), postgres=False))
    rules = _rules(Thresholds(), postgres=True)
    assert {k for k in rules if k[0].startswith("Postgres")} == {
        ("PostgresDown", "critical"),
        ("PostgresConnectionsHigh", "warning"),
        ("PostgresConnectionsHigh", "critical"),
        ("PostgresReplicationLagHigh", "warning"),
        ("PostgresReplicationLagHigh", "critical"),
        ("PostgresStandbyNotStreaming", "critical"),
    }
    assert rules[("PostgresConnectionsHigh", "warning")]["expr"].endswith("> 90")
    assert rules[("PostgresConnectionsHigh", "critical")]["expr"].endswith("> 97.5")
    assert rules[("PostgresReplicationLagHigh", "warning")]["expr"].endswith("> 64 * 1048576")
    custom = _rules(Thresholds(postgres_replication_lag_warning_mb=8, postgres_replication_lag_critical_mb=16), True)
    assert custom[("PostgresReplicationLagHigh", "critical")]["expr"].endswith("> 16 * 1048576")
    assert rules[("PostgresDown", "critical")]["for"] == "1m"
    assert 'slot_name=~"webstack_.+"' in rules[("PostgresStandbyNotStreaming", "critical")]["expr"]
    # Without postgres the rule file is what it always was.
    assert m.render_alert_rules(Thresholds(), environment="production") == m.render_alert_rules(
        Thresholds(), environment="production", postgres=False
    )


def test_postgres_scrape_job() -> None:
    job = postgres_scrape_job(["10.0.0.13:9187", "10.0.0.14:9187"])
    assert (job.name, job.targets, job.metrics_path) == ("postgres", ["10.0.0.13:9187", "10.0.0.14:9187"], "/metrics")
    with pytest.raises(ValueError, match="not host:port"):
        postgres_scrape_job(["10.0.0.13"])
