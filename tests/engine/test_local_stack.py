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
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.outputs import CONTRACT, HOST_KEYS, SERVICE_KEYS
from components.stackfile import PROJECT_DIR
from tests.rendered.nginx_upstream import encode_frame, read_frame, websocket_handshake
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
    # backup (Grafana has no image in the local set).
    assert len(names) == 11, names
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
        "prometheus": 1,
        "redis": 1,
    }, jobs
    groups = {g["name"]: len(g["rules"]) for g in prometheus("/api/v1/rules")["data"]["groups"]}
    assert {"webstack-app", "webstack-redis", "webstack-hosts", "webstack-backups", "webstack-edge"} <= set(groups)
    assert all(count > 0 for count in groups.values()), groups


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


def test_a_backup_run_leaves_restic_snapshots(stack: LocalStack) -> None:
    outputs = json.loads(stack.pulumi("stack", "output", "--json").stdout)
    ran = subprocess.run(outputs["backup"]["runNowCommand"], shell=True, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    env = ". /run/webstack-backup.env &&"
    listed = docker("exec", "webstack-local-backup", "sh", "-c", f"{env} restic snapshots --json")
    tags = {tag for snapshot in json.loads(listed.stdout) for tag in snapshot.get("tags", [])}
    assert {"redis", "volume:prometheus"} <= tags, tags


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


def started_at(name: str) -> str:
    return docker("inspect", "--format", "{{.State.StartedAt}}", name).stdout.strip()


def scraped(job: str) -> set[str]:
    return {
        t["labels"]["instance"]
        for t in prometheus("/api/v1/targets")["data"]["activeTargets"]
        if t["labels"]["job"] == job
    }


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
    with stack.load() as load:
        time.sleep(3)
        crashed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
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
