"""The whole local stack, deployed for real by the README's first command.

`scripts/up.sh local` runs in a copy of the project with the engine built here (CLI, Python
host, and the docker, random and command plugins) on the local Docker engine, with the
local image set. One deployment serves the whole module, in this order:

1. what a user sees through the edge: HTTPS on every route, the redirect, security headers,
   every replica used, a WebSocket, the login limit; Prometheus, Redis, a backup run; the
   outputs contract, secrets out of the state, and a second `up.sh` changing nothing;
2. the policy pack on the deployed stack, and a policy-breaking change refused;
3. deploys under a paced load (each request on its own TLS connection, so any failure is
   the stack's): an edge config change, a rolling deploy, a deploy whose health check
   fails, the rollback, and a replica killed; not one request may fail;
4. refresh finds no drift; destroy removes every container, network and volume.

Timings land in the test output (`-s`) and, measured by bench/rolling, in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from components.config.stackfile import PROJECT_DIR
from components.outputs import CONTRACT, HOST_KEYS, SERVICE_KEYS
from components.render.logs import request_query
from tests.rendered.nginx_upstream import encode_frame, read_frame, websocket_handshake
from tools.browser import page_text, render_page, vmui_url
from tools.local_stack import (
    DEMO_APP,
    HOST,
    HTTPS,
    STACK,
    LocalStack,
    broken_release,
    deploy,
    docker,
    release,
    wait_healthy,
)
from tools.logs import fetch as fetch_logs

from .conftest import local_images

pytestmark = pytest.mark.timeout(3600)

SECURITY_HEADERS = (
    "Strict-Transport-Security",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Permissions-Policy",
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, engine_bin: Path, policy_venv: Path) -> Iterator[LocalStack]:
    local_images()
    deployed = deploy(tmp_path_factory.mktemp("local-stack"), engine_bin, policy_venv=policy_venv)
    print(f"\nscripts/up.sh {STACK}: {deployed.up_seconds:.0f} s")
    try:
        yield deployed
    finally:
        deployed.pulumi("destroy", "--yes", "--skip-preview")


def test_up_ends_with_the_stack_serving_and_its_urls(stack: LocalStack) -> None:
    assert f'"url": "https://{HOST}:{HTTPS}"' in stack.up_output
    assert '"prometheusUrl": "http://127.0.0.1:19090"' in stack.up_output
    assert re.search(r"up: stack local is up; whole run \d+ s", stack.up_output), stack.up_output[-2000:]
    for step in ("setup", "the local Docker engine", "images", "the engine", "provider plugins", "pulumi up"):
        assert re.search(rf"up: {step}.*\n(.*\n)*?up:   done in \d+ s", stack.up_output), step


def test_every_container_runs_healthy(stack: LocalStack) -> None:
    names = [r["outputs"]["name"] for r in stack.resources("docker:index/container:Container")]
    # edge + exporter, 3 app replicas, Redis + exporter, node exporter, Prometheus, Alertmanager,
    # backup (Grafana has no image in the local set); PostgreSQL, PgBouncer, the postgres exporter;
    # the log store, vmalert and the log shipper.
    assert len(names) == 17, names
    deadline = time.monotonic() + 120
    for name in names:
        while True:
            inspected = json.loads(docker("inspect", name).stdout)[0]["State"]
            health = inspected.get("Health", {}).get("Status", "none")
            if inspected["Running"] and health in ("healthy", "none"):
                break
            assert time.monotonic() < deadline, f"{name}: {inspected['Status']}, health {health}"
            time.sleep(1)


@pytest.mark.parametrize("path", ["/", "/api/", "/health", "/api/hits", "/static/app.js"])
def test_https_answers_200(stack: LocalStack, path: str) -> None:
    reply = stack.request("GET", path)
    assert reply.status == 200, (path, reply.status, reply.body[:200])
    if path == "/api/hits":  # through the back end to Redis, with the generated password
        assert json.loads(reply.body)["hits"] >= 1


def test_http_redirects_to_https_keeping_path_and_query(stack: LocalStack) -> None:
    reply = stack.request("GET", "/api/data?page=2&sort=name", https=False)
    assert reply.status == 301
    assert reply.headers["Location"] == f"https://{HOST}:{HTTPS}/api/data?page=2&sort=name"


@pytest.mark.parametrize(("path", "status"), [("/", 200), ("/api/data", 200), ("/api/nope", 404), ("/health", 200)])
def test_security_headers_on_every_response_errors_included(stack: LocalStack, path: str, status: int) -> None:
    reply = stack.request("GET", path)
    assert reply.status == status
    for header in SECURITY_HEADERS:
        assert reply.headers.get_all(header) and len(reply.headers.get_all(header) or []) == 1, (path, header)
    assert "max-age=31536000" in reply.headers["Strict-Transport-Security"]


def test_requests_spread_over_every_backend_replica(stack: LocalStack) -> None:
    replicas = Counter(stack.request("GET", "/api/data").headers["X-Replica"] for _ in range(12))
    assert set(replicas) == {"backend-0", "backend-1"}, replicas
    assert stack.request("GET", "/").headers["X-Replica"] == "frontend-0"


def test_a_websocket_through_the_edge_echoes(stack: LocalStack) -> None:
    context = ssl.create_default_context(cafile=str(stack.cafile))
    raw = socket.create_connection(("127.0.0.1", HTTPS), timeout=10)
    with context.wrap_socket(raw, server_hostname=HOST) as sock:
        stream, _ = websocket_handshake(sock, HOST, "/api/ws")
        opcode, greeting = read_frame(stream)
        assert opcode == 0x1 and json.loads(greeting)["replica"].startswith("backend-")
        sock.sendall(encode_frame(0x1, b"through the edge", mask=secrets.token_bytes(4)))
        assert read_frame(stream) == (0x1, b"through the edge")


def test_login_paths_get_429_before_the_api_does(stack: LocalStack) -> None:
    time.sleep(3)  # let earlier tests' requests drain out of the limits
    logins = [stack.request("POST", "/api/auth/login", body=b'{"user": "demo"}').status for _ in range(10)]
    api = [stack.request("GET", "/api/data").status for _ in range(10)]
    assert 429 in logins and logins[0] == 200, logins
    assert set(api) == {200}, api


# --- monitoring, Redis, backups ------------------------------------------------------------------


def prometheus(path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:19090{path}", timeout=10) as response:
        return json.load(response)


def test_prometheus_scrapes_every_target_and_loads_the_rules(stack: LocalStack) -> None:
    deadline = time.monotonic() + 120
    while True:
        targets = prometheus("/api/v1/targets")["data"]["activeTargets"]
        down = [(t["scrapeUrl"], t["health"], t["lastError"]) for t in targets if t["health"] != "up"]
        if targets and not down:
            break
        assert time.monotonic() < deadline, down
        time.sleep(2)
    jobs = Counter(target["labels"]["job"] for target in targets)
    assert jobs == {
        "alertmanager": 1,
        "app-backend": 2,
        "app-frontend": 1,
        "nginx": 1,
        "node": 1,
        "postgres": 1,
        "prometheus": 1,
        "redis": 1,
        "log-store": 1,
        "vmalert": 1,
    }, jobs
    groups = {g["name"]: len(g["rules"]) for g in prometheus("/api/v1/rules")["data"]["groups"]}
    expected = {"webstack-app", "webstack-redis", "webstack-hosts", "webstack-backups", "webstack-edge"}
    assert expected | {"webstack-postgres", "webstack-log-pipeline"} <= set(groups)
    pg_up = prometheus("/api/v1/query?query=pg_up")["data"]["result"]
    assert [r["value"][1] for r in pg_up] == ["1"], pg_up
    assert all(count > 0 for count in groups.values()), groups


# --- logs: every container's lines in the store (docs/logs.md) -----------------------------------

LOG_STORE = "http://127.0.0.1:19428"


def logs_matching(
    query: str, *, expect: Callable[[list[dict[str, Any]]], bool], timeout: float = 60
) -> list[dict[str, Any]]:
    """The store's rows for a LogsQL query, asked again until `expect` holds of them."""
    deadline = time.monotonic() + timeout
    while True:
        rows = fetch_logs(LOG_STORE, query, 100_000)
        if expect(rows):
            return rows
        assert time.monotonic() < deadline, f"{query}: {len(rows)} rows, not what was expected: {rows[-5:]}"
        time.sleep(1)


def write_stderr(container: str, lines: list[str], *, pause_s: float = 0.0) -> None:
    """Lines on a container's own stderr (its PID 1's), as the app would write them."""
    program = (
        "import sys, time\n"
        "with open('/proc/1/fd/2', 'w') as err:\n"
        "    for line in sys.stdin:\n"
        "        err.write(line); err.flush(); time.sleep(float(sys.argv[1]))\n"
    )
    done = subprocess.run(
        ["docker", "exec", "-i", container, "python3", "-c", program, str(pause_s)],
        input="".join(f"{line}\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr


def test_a_request_is_found_in_the_store_by_its_request_id_in_edge_and_backend_lines(stack: LocalStack) -> None:
    reply = stack.request("GET", "/api/data")
    request_id = reply.headers["X-Request-ID"]
    assert reply.status == 200 and re.fullmatch(r"[0-9a-f]{32}", request_id)
    rows = logs_matching(
        request_query(request_id), expect=lambda rows: {"edge", "backend"} <= {r.get("service") for r in rows}
    )
    edge = next(r for r in rows if r["service"] == "edge")
    backend = next(r for r in rows if r["service"] == "backend")
    # The edge's JSON access line, as fields: what it asked of which replica, and how long it took.
    assert (edge["request_id"], edge["status"], edge["method"], edge["uri"]) == (request_id, "200", "GET", "/api/data")
    assert edge["upstream_addr"] and float(edge["request_time"]) >= 0 and edge["remote_addr"]
    assert (edge["host"], edge["stack"], edge["stream"]) == ("local", STACK, "stdout")
    # The back end's own line of the same request names its replica.
    assert backend["replica"] in {"backend-0", "backend-1"} and request_id in backend["_msg"]
    assert (backend["host"], backend["stack"]) == ("local", STACK)
    assert len(backend["container"]) == 12


def test_a_containers_stderr_is_found_by_service_and_replica_and_docker_logs_still_has_it(stack: LocalStack) -> None:
    token = f"stderr-{secrets.token_hex(6)}"
    container = stack.container_name("app-backend-1")
    write_stderr(container, [f"ERROR {token} something failed"])
    rows = logs_matching(f'_time:10m {{service="backend",replica="backend-1"}} "{token}"', expect=bool)
    assert [(r["stream"], r["_msg"]) for r in rows] == [("stderr", f"ERROR {token} something failed")]
    assert rows[0]["container"] == docker("inspect", "-f", "{{.Id}}", container).stdout.strip()[:12]
    # Not found under the other replica; docker logs is as it was.
    assert not fetch_logs(LOG_STORE, f'_time:10m {{replica="backend-0"}} "{token}"', 10)
    logs = subprocess.run(["docker", "logs", "--since", "10m", container], capture_output=True, text=True)
    assert token in logs.stderr


def test_the_store_restarted_under_load_loses_no_line(stack: LocalStack) -> None:
    """3,000 lines at about 75 a second while the store is stopped for 15 s and started again:
    the shipper keeps what the store did not take and sends it when it is back."""
    token = f"restart-{secrets.token_hex(6)}"
    sent = [f"{token} line {i:05d}" for i in range(3000)]
    writer = threading.Thread(
        target=write_stderr, args=(stack.container_name("app-backend-0"), sent), kwargs={"pause_s": 0.01}
    )
    writer.start()
    time.sleep(8)
    assert docker("stop", "webstack-local-log-store").returncode == 0
    time.sleep(15)
    assert docker("start", "webstack-local-log-store").returncode == 0
    writer.join(timeout=600)
    wait_healthy("webstack-local-log-store")
    rows = logs_matching(
        f'_time:30m "{token}"', expect=lambda rows: len({r["_msg"] for r in rows}) >= len(sent), timeout=180
    )
    found = {r["_msg"] for r in rows}
    assert found == set(sent), f"{len(set(sent) - found)} lines lost"
    # Resent batches may repeat a line; bounded by what was in flight.
    assert len(rows) - len(found) <= 2 * 1000, len(rows)


def test_the_log_ui_shows_a_querys_result_in_a_browser(stack: LocalStack, tmp_path: Path) -> None:
    reply = stack.request("GET", "/api/data")
    request_id = reply.headers["X-Request-ID"]
    logs_matching(
        request_query(request_id), expect=lambda rows: {"edge", "backend"} <= {r.get("service") for r in rows}
    )
    outputs = json.loads(stack.pulumi("stack", "output", "logs", "--json").stdout)
    assert outputs["uiUrl"] == f"{LOG_STORE}/select/vmui/" and outputs["enabled"] is True
    screenshot = tmp_path / "vmui.png"
    text = page_text(
        render_page(vmui_url(outputs["uiUrl"].removesuffix("/select/vmui/"), request_query(request_id)), screenshot)
    )
    print(f"\nthe log UI's screenshot: {screenshot}")
    # Both lines of the request are on the page: the back end's text and the edge's JSON line.
    assert f'"GET /api/data HTTP/1.1" 200 {request_id}' in text, text[-3000:]
    assert f'"request_id":"{request_id}"' in text and '"upstream_status":"200"' in text, text[-3000:]
    assert "Total logs returned:\n2\n" in text, text[-3000:]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000


def secret_output(stack: LocalStack, name: str) -> str:
    return stack.pulumi("stack", "output", name, "--show-secrets").stdout.strip()


def redis_password(stack: LocalStack) -> str:
    url = secret_output(stack, "redisUrl")
    match = re.fullmatch(r"redis://:([^@]+)@[^/]+/0", url)
    assert match, "redisUrl is not redis://:PASSWORD@HOST:PORT/0"
    return match[1]


def test_redis_refuses_a_client_without_the_password(stack: LocalStack) -> None:
    assert "NOAUTH" in docker("exec", "webstack-local-redis", "redis-cli", "ping").stdout
    password = redis_password(stack)
    assert len(password) >= 32
    authed = docker("exec", "-e", f"REDISCLI_AUTH={password}", "webstack-local-redis", "redis-cli", "ping")
    assert authed.stdout.strip() == "PONG"


# --- PostgreSQL (webstack:postgres: a primary and PgBouncer on the local stack) ---------------------


def psql(sql: str, *, database: str = "app") -> str:
    """As the admin, on the primary's socket (peer authentication: no password)."""
    done = docker(
        "exec", "webstack-local-postgres", "psql", "-XAtq", "-v", "ON_ERROR_STOP=1",
        "-h", "/var/run/postgresql", "-U", "postgres", "-d", database, "-c", sql,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


NOTES_DIGEST = "select count(*) || ':' || coalesce(md5(string_agg(id || '/' || text, ',' order by id)), '') from notes"


def test_notes_reach_postgres_through_pgbouncer(stack: LocalStack) -> None:
    """POST /api/notes on the demo back end writes a row through PgBouncer (its DATABASE_URL)
    into PostgreSQL; GET reads it back. Nothing of it listens on the host."""
    texts = [f"note-{secrets.token_hex(6)}" for _ in range(20)]
    ids = []
    for text in texts:
        reply = stack.request("POST", "/api/notes", body=json.dumps({"text": text}).encode())
        assert reply.status == 201, reply.body
        ids.append(json.loads(reply.body)["id"])
    assert psql(f"select text from notes where id = {ids[-1]}") == texts[-1]
    assert int(psql(f"select count(*) from notes where id in ({','.join(map(str, ids))})")) == len(texts)
    listed = json.loads(stack.request("GET", "/api/notes").body)
    assert listed["source"] == "primary" and listed["latest"][0]["text"] == texts[-1], listed
    backend = stack.container_name("app-backend-0")
    env = json.loads(docker("inspect", "-f", "{{json .Config.Env}}", backend).stdout)
    url = next(e.split("=", 1)[1] for e in env if e.startswith("DATABASE_URL="))
    assert re.fullmatch(r"postgresql://app:[A-Za-z0-9]{40}@pgbouncer:6432/app", url), "DATABASE_URL is not PgBouncer's"
    # The owner's connections reach PostgreSQL from PgBouncer's address only.
    pgbouncer_ip = docker(
        "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "webstack-local-pgbouncer"
    ).stdout.strip()
    clients = psql("select distinct host(client_addr) from pg_stat_activity where usename = 'app'")
    assert clients in ("", pgbouncer_ip), clients
    for container in ("webstack-local-postgres", "webstack-local-pgbouncer", "webstack-local-postgres-exporter"):
        assert docker("port", container).stdout.strip() == "", f"{container} publishes a port on the host"
    assert psql("show password_encryption") == "scram-sha-256"
    assert psql("select rolpassword like 'SCRAM-SHA-256$%' from pg_authid where rolname = 'app'") == "t"


def test_a_backup_run_leaves_restic_snapshots(stack: LocalStack) -> None:
    outputs = json.loads(stack.pulumi("stack", "output", "--json").stdout)
    ran = subprocess.run(outputs["backup"]["runNowCommand"], shell=True, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    env = ". /run/webstack-backup.env &&"
    listed = docker("exec", "webstack-local-backup", "sh", "-c", f"{env} restic snapshots --json")
    tags = {tag for snapshot in json.loads(listed.stdout) for tag in snapshot.get("tags", [])}
    assert {"redis", "volume:prometheus", "database"} <= tags, tags


def redis_keys(stack: LocalStack) -> str:
    done = docker("exec", "-e", f"REDISCLI_AUTH={redis_password(stack)}", "webstack-local-redis", "redis-cli", "dbsize")
    return done.stdout.strip()


def test_a_restore_drill_passes_records_its_evidence_and_touches_nothing_live(stack: LocalStack) -> None:
    """The output's drillCommand after the backup above: the latest snapshot restored into
    scratch targets (a throwaway Redis, a throwaway PostgreSQL cluster, a scratch directory
    for the volume), checked, and removed; the evidence record is in the repository (the
    output's drillRecordsCommand prints it) and on the host; the metrics reach Prometheus.
    The live database and Redis are as they were."""
    outputs = json.loads(stack.pulumi("stack", "output", "--json").stdout)["backup"]
    notes, keys = psql(NOTES_DIGEST), redis_keys(stack)
    ran = subprocess.run(outputs["drillCommand"], shell=True, capture_output=True, text=True, timeout=900)
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-4000:]
    assert (psql(NOTES_DIGEST), redis_keys(stack)) == (notes, keys)
    listed = subprocess.run(outputs["drillRecordsCommand"], shell=True, capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr[-3000:]
    record = json.loads(listed.stdout.strip().splitlines()[-1])
    assert (record["kind"], record["stack"], record["result"]) == ("webstack-backup-drill", "local", "passed"), record
    targets = {t["target"]: t for t in record["targets"]}
    assert {"database", "redis", "volume:prometheus"} <= set(targets), targets
    assert all(t["result"] == "passed" for t in targets.values()), targets
    host_records = docker("exec", "webstack-local-backup", "ls", "/var/lib/webstack-backup-drills").stdout.split()
    assert any(name.startswith("drill-") for name in host_records), host_records
    deadline = time.monotonic() + 120
    while True:
        found = prometheus("/api/v1/query?query=webstack_backup_drill_last_run_success")["data"]["result"]
        if found and found[0]["value"][1] == "1":
            break
        assert time.monotonic() < deadline, found
        time.sleep(3)
    leftovers = docker("exec", "webstack-local-backup", "sh", "-c", "ls /var/lib/webstack-backup").stdout.split()
    assert not [name for name in leftovers if "scratch" in name or "drill" in name], leftovers


def test_the_restore_command_brings_the_database_back_as_backed_up(stack: LocalStack) -> None:
    """After the backup above: rows deleted and one added, then the output's restore command
    for `database` (pg_restore into the primary as the owner): exactly the backed-up rows."""
    backed_up = psql(NOTES_DIGEST)
    assert not backed_up.startswith("0:"), "the notes test wrote no rows before the backup"
    psql("delete from notes where id % 2 = 0; insert into notes (text, replica) values ('after the backup', 'test')")
    assert psql(NOTES_DIGEST) != backed_up
    outputs = json.loads(stack.pulumi("stack", "output", "--json").stdout)
    command = outputs["backup"]["restoreCommand"].replace("<database|redis|volume:NAME> [SNAPSHOT]", "database")
    restored = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=600)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert psql(NOTES_DIGEST) == backed_up
    listed = json.loads(stack.request("GET", "/api/notes").body)
    assert listed["count"] == int(backed_up.split(":")[0])


def alertmanager_alerts() -> list[dict[str, Any]]:
    with urllib.request.urlopen("http://127.0.0.1:19093/api/v2/alerts?active=true", timeout=10) as response:
        alerts: list[dict[str, Any]] = json.loads(response.read())
    return alerts


def test_a_damaged_pack_fails_the_drill_with_a_record_and_an_alert_and_touches_nothing_live(
    stack: LocalStack,
) -> None:
    """The repository's largest pack damaged on purpose (64 bytes flipped in its middle): the
    output's drillCommand fails loudly, its record says failed, the metric reaches Prometheus
    and BackupDrillFailed reaches Alertmanager; live data is as it was. The pack put back, the
    next drill passes and the alert clears."""
    outputs = json.loads(stack.pulumi("stack", "output", "--json").stdout)["backup"]
    data = f"{outputs['repository']}/data"
    pack = docker(
        "exec", "webstack-local-backup", "sh", "-c", f"find {data} -type f -printf '%s %p\\n' | sort -n | tail -n 1"
    ).stdout.split()[-1]
    damage = (
        f"cp -p {pack} /tmp/pack.orig && chmod u+w {pack} && size=$(stat -c %s {pack})"
        f" && dd if=/dev/urandom of={pack} bs=1 seek=$((size / 2)) count=64 conv=notrunc 2>/dev/null"
        f" && ! cmp -s {pack} /tmp/pack.orig"
    )
    assert docker("exec", "webstack-local-backup", "sh", "-c", damage).returncode == 0
    notes, keys = psql(NOTES_DIGEST), redis_keys(stack)
    try:
        ran = subprocess.run(outputs["drillCommand"], shell=True, capture_output=True, text=True, timeout=900)
        assert ran.returncode != 0, ran.stdout[-3000:]
        assert "FAILED" in ran.stdout + ran.stderr, ran.stdout[-3000:] + ran.stderr[-3000:]
        assert (psql(NOTES_DIGEST), redis_keys(stack)) == (notes, keys)
        listed = subprocess.run(outputs["drillRecordsCommand"], shell=True, capture_output=True, text=True, timeout=300)
        record = json.loads(listed.stdout.strip().splitlines()[-1])
        assert record["result"] == "failed" and record["error"], record
        assert any(t["result"] == "failed" for t in record["targets"]), record
        deadline = time.monotonic() + 180
        while not any(a["labels"]["alertname"] == "BackupDrillFailed" for a in alertmanager_alerts()):
            assert time.monotonic() < deadline, "BackupDrillFailed did not reach Alertmanager"
            time.sleep(3)
    finally:
        put_back = f"chmod u+w {pack} && cp -p /tmp/pack.orig {pack} && rm /tmp/pack.orig"
        assert docker("exec", "webstack-local-backup", "sh", "-c", put_back).returncode == 0
    again = subprocess.run(outputs["drillCommand"], shell=True, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    deadline = time.monotonic() + 180
    while any(a["labels"]["alertname"] == "BackupDrillFailed" for a in alertmanager_alerts()):
        assert time.monotonic() < deadline, "BackupDrillFailed is still firing after a drill passed"
        time.sleep(3)


# --- outputs, state, a second run -------------------------------------------------------------------


def test_stack_outputs_match_the_contract(stack: LocalStack) -> None:
    outputs = json.loads(stack.pulumi("stack", "output", "--json").stdout)
    # The CLI prints objects with sorted keys: compare names, not order (the mocked run pins the order).
    assert set(outputs) == {spec.name for spec in CONTRACT}
    for spec in CONTRACT:
        value = outputs[spec.name]
        assert (value == "[secret]") is spec.secret, spec.name
        if spec.keys:
            assert set(value) == set(spec.keys), spec.name
    assert all(set(host) == set(HOST_KEYS) for host in outputs["hosts"])
    assert all(set(service) == set(SERVICE_KEYS) for service in outputs["services"].values())
    assert outputs["endpoints"]["api"] == f"https://{HOST}:{HTTPS}/api/"
    upstreams = outputs["services"]["backend"]["upstreams"]
    running = {r["outputs"]["name"] for r in stack.resources("docker:index/container:Container")}
    assert len(upstreams) == 2 and {u.split(":")[0] for u in upstreams} <= running


def test_another_teams_project_reads_the_outputs_through_a_stack_reference(stack: LocalStack) -> None:
    """examples/consumer, a Pulumi project of its own on the same backend, reads redisUrl,
    hosts[].roles and .network and services.backend.image through a StackReference and runs
    a worker that counts in the stack's Redis; the URL stays secret in its state. A change to
    the shape of those outputs fails its `pulumi up`, and so this test."""
    directory, env = stack.project
    consumer = directory / "examples" / "consumer"

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["pulumi", *args, "--non-interactive"], cwd=consumer, env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0 or not check, f"pulumi {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done

    run("stack", "init", "dev")
    try:
        run("config", "set", "webstackStack", f"organization/webstack/{STACK}")
        run("up", "--yes", "--skip-preview")
        outputs = json.loads(run("stack", "output", "--json").stdout)
        assert outputs["network"] == f"webstack-{STACK}"
        assert outputs["redisUrl"] == "[secret]"
        password = redis_password(stack)
        deadline = time.monotonic() + 60
        while True:
            beats = docker(
                "exec", "-e", f"REDISCLI_AUTH={password}", "webstack-local-redis", "redis-cli", "GET", "consumer:beats"
            ).stdout.strip()
            if beats.isdigit() and int(beats) >= 3:
                break
            assert time.monotonic() < deadline, (beats, docker("logs", outputs["worker"]).stderr[-2000:])
            time.sleep(2)
        exported = run("stack", "export").stdout
        assert password not in exported and "ciphertext" in exported
    finally:
        run("destroy", "--yes", "--skip-preview", check=False)
        run("stack", "rm", "--yes", "dev", check=False)
    assert docker("ps", "-aq", "--filter", "name=^consumer-dev-worker$").stdout.strip() == ""


def test_state_holds_no_generated_secret_in_plaintext(stack: LocalStack) -> None:
    exported = json.dumps(stack.state())
    for name, value in (
        ("redisUrl", redis_password(stack)),
        ("grafanaAdminPassword", secret_output(stack, "grafanaAdminPassword")),
    ):
        assert len(value) >= 16 and value not in exported, name
    assert "ciphertext" in exported


def test_a_second_up_sh_changes_nothing(stack: LocalStack) -> None:
    directory, env = stack.project
    done = subprocess.run(
        ["bash", "scripts/up.sh", STACK], cwd=directory, env=env, capture_output=True, text=True, timeout=1200
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    summary = done.stdout[done.stdout.rindex("Resources:") :]
    assert re.match(r"Resources:\s+\d+ unchanged\s", summary), summary[:400]
    stack.pulumi("preview", "--expect-no-changes")


# --- the policy pack on the deployed stack ------------------------------------------------------------


def preview_with_pack(stack: LocalStack) -> subprocess.CompletedProcess[str]:
    return stack.pulumi(
        "preview", "--policy-pack", "policy", "--policy-pack-config", "policy/config/local.json", check=False
    )


def test_policy_pack_passes_on_the_deployed_stack(stack: LocalStack) -> None:
    done = preview_with_pack(stack)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "webstack-guardrails" in done.stdout


def test_a_policy_breaking_change_fails_the_preview_and_changes_nothing(stack: LocalStack) -> None:
    before = stack.containers()
    stack.set_config("edge.loginRate.rate", "20")  # above the API's 10 r/s
    try:
        done = preview_with_pack(stack)
        assert done.returncode != 0
        assert "nginx-login-rate-stricter" in done.stdout, done.stdout
    finally:
        stack.pulumi("config", "rm", "--path", "webstack:edge.loginRate")
    assert stack.containers() == before
    stack.pulumi("preview", "--expect-no-changes")


# --- deploys under load -------------------------------------------------------------------------------


def test_an_edge_config_change_reloads_nginx_under_load(stack: LocalStack) -> None:
    before = stack.containers()
    stack.set_config("edge.apiRate.burst", "30")
    done, seconds, report = stack.up_under_load()
    print(f"\nedge config change: up {seconds:.1f} s; load {report}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert report.failed == 0, str(report)
    assert stack.containers() == before  # reloaded, nothing replaced
    conf = docker("exec", "webstack-local-edge", "cat", "/etc/nginx/webstack/nginx.conf").stdout
    assert "zone=api burst=30 nodelay" in conf


def test_day_two_with_the_plain_cli_rolls_an_env_change_on_the_stacks_own_images(stack: LocalStack) -> None:
    """What a user does after the first command: `pulumi config set`, then a plain `pulumi up`
    with only the backend and the passphrase exported (no variable of webstack's): the images
    the stack chose when it was created stay (its config says where they come from), and the
    back end rolls to the new env with no failed request."""
    directory, env = stack.project
    assert "WEBSTACK_IMAGE_SOURCE" not in env
    assert "webstack:imageSource: local" in (directory / f"Pulumi.{STACK}.yaml").read_text()
    images = {r["urn"]: r["id"] for r in stack.resources("docker:index/remoteImage:RemoteImage")}
    before = stack.containers()
    stack.set_config("services.backend.env.LOG_LEVEL", "debug")
    try:
        done, seconds, report = stack.up_under_load()
        print(f"\nday two, plain pulumi up of an env change: {seconds:.1f} s; load {report}")
        assert done.returncode == 0, done.stdout + done.stderr
        assert report.failed == 0, str(report)
        assert {r["urn"]: r["id"] for r in stack.resources("docker:index/remoteImage:RemoteImage")} == images
        after = stack.containers()
        assert {name for name in before if after.get(name) != before[name]} == {"app-backend-0", "app-backend-1"}
        for resource in ("app-backend-0", "app-backend-1"):
            envs = docker("inspect", "--format", "{{json .Config.Env}}", stack.container_name(resource)).stdout
            assert "LOG_LEVEL=debug" in json.loads(envs), envs
    finally:
        stack.pulumi("config", "rm", "--path", "webstack:services.backend.env.LOG_LEVEL")
        done, _ = stack.up()
        assert done.returncode == 0, done.stdout + done.stderr


def started_at(name: str) -> str:
    return docker("inspect", "--format", "{{.State.StartedAt}}", name).stdout.strip()


def scraped(job: str) -> set[str]:
    return {
        t["labels"]["instance"]
        for t in prometheus("/api/v1/targets")["data"]["activeTargets"]
        if t["labels"]["job"] == job
    }


def alertmanager_config() -> str:
    with urllib.request.urlopen("http://127.0.0.1:19093/api/v2/status", timeout=10) as response:
        return str(json.load(response)["config"]["original"])


def test_an_alertmanager_config_change_reloads_it_in_place(stack: LocalStack) -> None:
    """A new webhook URL (a secret) reaches the running Alertmanager: checked, then SIGHUP;
    no container is replaced and Alertmanager keeps its start time (and its silences)."""
    before = stack.containers()
    started = started_at("webstack-local-alertmanager")
    url = f"http://127.0.0.1:9/hook-{secrets.token_hex(4)}"
    assert url not in alertmanager_config()
    stack.pulumi("config", "set", "--secret", "webstack:alertWebhookUrl", url)
    try:
        done, seconds = stack.up()
        print(f"\nalertmanager config change: up {seconds:.1f} s")
        assert done.returncode == 0, done.stdout + done.stderr
        assert stack.containers() == before
        assert started_at("webstack-local-alertmanager") == started
        deadline = time.monotonic() + 30
        while url not in alertmanager_config():
            assert time.monotonic() < deadline, alertmanager_config()
            time.sleep(1)
        # Written by Alertmanager's user, for it alone.
        mode = docker(
            "exec", "webstack-local-alertmanager", "stat", "-c", "%a %u", "/etc/alertmanager/alertmanager.yml"
        )
        assert mode.stdout.split() == ["600", "65534"], mode.stdout
    finally:
        stack.pulumi("config", "rm", "webstack:alertWebhookUrl")
        done, _ = stack.up()
        assert done.returncode == 0, done.stdout + done.stderr
    deadline = time.monotonic() + 30
    while url in alertmanager_config():
        assert time.monotonic() < deadline, "the webhook removed from the config is still loaded"
        time.sleep(1)
    assert started_at("webstack-local-alertmanager") == started


def test_a_rolling_deploy_under_load_fails_no_request(stack: LocalStack) -> None:
    release("0.1.1")
    before = stack.containers()
    prometheus_started = started_at("webstack-local-prometheus")
    stack.set_config("services.backend.image", f"{DEMO_APP}:0.1.1")
    done, seconds, report = stack.up_under_load()
    print(f"\nrolling deploy 0.1.0 -> 0.1.1: up {seconds:.1f} s; load {report}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert report.failed == 0, str(report)
    after = stack.containers()
    replaced = {name for name in before if after.get(name) != before[name]}
    # Only the replicas: Prometheus reads the new targets from a file, without a restart.
    assert replaced == {"app-backend-0", "app-backend-1"}, replaced
    assert started_at("webstack-local-prometheus") == prometheus_started
    assert stack.api_versions() == {"0.1.1"}
    upstreams = set(json.loads(stack.pulumi("stack", "output", "services", "--json").stdout)["backend"]["upstreams"])
    deadline = time.monotonic() + 90
    while scraped("app-backend") != upstreams:
        assert time.monotonic() < deadline, (scraped("app-backend"), upstreams)
        time.sleep(2)


def test_a_deploy_whose_health_check_fails_stops_and_the_old_replicas_keep_serving(stack: LocalStack) -> None:
    broken = broken_release("0.1.2")
    stack.set_config("services.backend.image", broken)
    done, seconds, report = stack.up_under_load()
    print(f"\nfailed deploy (health 503): up exits after {seconds:.1f} s; load {report}")
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    # The provider's error on the replica's resource: its name says the service and the replica.
    assert re.search(r"\(app-backend-[01]\):\s+error:.*?container failed to be in healthy state", output, re.S), output[
        -3000:
    ]
    assert report.failed == 0, str(report)
    assert stack.api_versions() == {"0.1.1"}

    # Rolling back is `pulumi up` with the previous image.
    stack.set_config("services.backend.image", f"{DEMO_APP}:0.1.1")
    done, seconds, report = stack.up_under_load()
    print(f"\nrollback to 0.1.1: up {seconds:.1f} s; load {report}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert report.failed == 0, str(report)
    assert stack.api_versions() == {"0.1.1"}
    leftovers = docker("ps", "-a", "--filter", f"ancestor={broken}", "--format", "{{.Names}}").stdout.split()
    assert not leftovers, leftovers
    stack.pulumi("preview", "--expect-no-changes")


def backend_0_serves(stack: LocalStack) -> bool:
    return Counter(stack.request("GET", "/api/data").headers["X-Replica"] for _ in range(12))["backend-0"] > 0


def test_a_crashed_replica_fails_no_request_and_docker_restarts_it(stack: LocalStack) -> None:
    """The replica's process dies (SIGKILL from the host, as the OOM killer would): the edge
    retries the other replica and Docker's restart policy brings it back. It may come back on
    another address, which nginx (1.22 here) only resolves at a reload: `pulumi up --refresh`
    reads the new address and reloads the edge, and traffic returns to it."""
    victim = stack.container_name("app-backend-0")
    pid = int(docker("inspect", "--format", "{{.State.Pid}}", victim).stdout)
    started = docker("inspect", "--format", "{{.State.StartedAt}}", victim).stdout
    with stack.load() as load:
        time.sleep(3)
        crashed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        # Docker has not noticed the death yet right after the kill: wait for its restart first.
        while docker("inspect", "--format", "{{.State.StartedAt}}", victim).stdout == started:
            assert time.monotonic() < crashed_at + 60, f"{victim} was not restarted within 60 s"
            time.sleep(0.2)
        wait_healthy(victim)
        back_at = time.monotonic()
        done, seconds = stack.up("--refresh")
        time.sleep(3)
    report = load.stop()
    print(
        f"\nbackend-0 crashed: healthy again after {back_at - crashed_at:.1f} s, up --refresh {seconds:.1f} s; load {report}"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert report.failed == 0, str(report)
    assert load.report(since=crashed_at, until=back_at).requests > 0
    assert int(docker("inspect", "--format", "{{.RestartCount}}", victim).stdout) >= 1
    assert backend_0_serves(stack)
    stack.pulumi("preview", "--expect-no-changes")


def test_a_killed_replica_fails_no_request_and_the_next_up_brings_it_back(stack: LocalStack) -> None:
    """`docker kill` is an operator's stop, which Docker does not undo: no request fails, and
    `pulumi up --refresh` sees the replica gone and starts a new one."""
    victim = stack.container_name("app-backend-0")
    with stack.load() as load:
        time.sleep(3)
        assert docker("kill", victim).returncode == 0
        time.sleep(5)
        done, seconds = stack.up("--refresh")
        time.sleep(3)
    report = load.stop()
    print(f"\nbackend-0 docker-killed, up --refresh: {seconds:.1f} s; load {report}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert report.failed == 0, str(report)
    wait_healthy(stack.container_name("app-backend-0"))
    assert backend_0_serves(stack)
    stack.pulumi("preview", "--expect-no-changes")


def test_an_up_killed_mid_roll_is_recovered_with_nothing_leaked(stack: LocalStack) -> None:
    """The CLI killed while the new replicas are being created: tools.recover, then `pulumi up`."""
    image = release("0.1.3")
    stack.set_config("services.backend.image", image)
    directory, env = stack.project
    up = subprocess.Popen(
        ["pulumi", "up", "--yes", "--skip-preview", "--stack", STACK, "--non-interactive"],
        cwd=directory,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not docker("ps", "-aq", "--filter", f"ancestor={image}").stdout.strip():
            assert up.poll() is None, "pulumi up ended before a new replica was created"
            assert time.monotonic() < deadline, "no new replica within 300 s"
            time.sleep(0.2)
    finally:
        os.killpg(up.pid, signal.SIGKILL)
        up.wait()
    leaked = docker("ps", "-a", "--filter", f"ancestor={image}", "--format", "{{.Names}}").stdout.split()
    assert leaked, "the kill came too late to leave a replica behind"

    recovered = subprocess.run(
        [str(PROJECT_DIR / "venv" / "bin" / "python"), "-m", "tools.recover", STACK],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    print(f"\n{recovered.stdout}")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    done, seconds = stack.up()
    assert done.returncode == 0, done.stdout + done.stderr
    print(f"up after recovery: {seconds:.1f} s")
    in_state = {r["outputs"]["name"] for r in stack.resources("docker:index/container:Container")}
    # This stack's containers: its fixed names and the replicas' generated ones.
    on_host = {
        n for n in docker("ps", "-a", "--format", "{{.Names}}").stdout.split() if re.match(r"(webstack-local-|app-)", n)
    }
    assert on_host == in_state, f"not in the state: {on_host - in_state}; gone: {in_state - on_host}"
    assert stack.api_versions() == {"0.1.3"}
    stack.pulumi("preview", "--expect-no-changes")


# --- refresh, destroy -----------------------------------------------------------------------------------


def test_refresh_finds_no_drift(stack: LocalStack) -> None:
    stack.pulumi("refresh", "--yes", "--skip-preview")
    stack.pulumi("preview", "--expect-no-changes")


def test_destroy_removes_every_container_network_and_volume(stack: LocalStack) -> None:
    containers = [r["outputs"]["name"] for r in stack.resources("docker:index/container:Container")]
    networks = [r["outputs"]["name"] for r in stack.resources("docker:index/network:Network")]
    volumes = [r["outputs"]["name"] for r in stack.resources("docker:index/volume:Volume")]
    assert containers and networks and volumes
    stack.pulumi("destroy", "--yes", "--skip-preview")
    for kind, names in (("container", containers), ("network", networks), ("volume", volumes)):
        for name in names:
            assert docker(kind, "inspect", name).returncode != 0, f"{kind} {name} is still there"
    assert not docker("ps", "-aq", "--filter", f"name=^webstack-{STACK}-").stdout.strip()
