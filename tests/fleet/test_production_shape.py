"""Production's shape on six bare Debian hosts over SSH (the fleet, tools/fleet/).

One `scripts/up.sh fleet` takes the hosts from sshd-only to HTTPS through edge-1: the
bootstrap installs Docker, ufw and fail2ban over SSH, each host's Docker engine is driven
over ssh://, images come from the fleet's private registry with credentials. Then, on that
one deployment: a second up changes nothing; requests through edge-1 (200, 301, all five
replicas on both app hosts, WebSocket, 429); each host's hardening; what answers from
outside the private network and what only from peers (Docker's published ports included);
Prometheus' targets, every host's lines in the log store, Redis replication and Sentinel, a
backup landing offsite and a restore drill from it on data-1; the policy pack. (The deployment is tests/fleet/conftest.py's, shared with the drills; test_teardown.py
destroys it last.)
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import socket
import ssl
import subprocess
import time
from collections import Counter

import pytest

from tests.rendered.nginx_upstream import encode_frame, read_frame, websocket_handshake
from tools import fleet as fleet_tool
from tools.fleet_stack import FLEET_STACK, FleetStack

from .helpers import answering, answers, container_named, on, operator, published_ports, redis_cli

pytestmark = pytest.mark.timeout(3600)

APP_HOSTS = ("app-1", "app-2")
# Fixed ports of internal services (exporters and replicas are published on ports Docker picks).
REDIS_PORTS = (6379, 26379)
MONITORING_PORTS = (9090, 9093, 9428)  # Prometheus, Alertmanager, the log store


# --- one up from bare, a second one with no change -------------------------------------------------


def test_one_up_takes_bare_hosts_to_https(stack: FleetStack) -> None:
    assert re.search(rf"up: stack {FLEET_STACK} is up; whole run \d+ s", stack.up_output), stack.up_output[-3000:]
    assert stack.request("GET", "/health").status == 200


def test_a_second_up_changes_nothing(stack: FleetStack) -> None:
    started = time.monotonic()
    done = stack.pulumi("up", "--yes", "--expect-no-changes", check=False)
    print(f"\nsecond pulumi up: {time.monotonic() - started:.0f} s")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert re.search(r"\d+ unchanged", done.stdout), done.stdout[-2000:]


def test_refresh_finds_no_drift_on_the_hosts(stack: FleetStack) -> None:
    """What each host's Docker engine reports back over SSH is what the program declared:
    the nightly drift workflow (refresh, then a preview that must change nothing) stays
    quiet on a stack that nobody touched."""
    started = time.monotonic()
    refreshed = stack.pulumi("refresh", "--yes", "--skip-preview", check=False)
    assert refreshed.returncode == 0, refreshed.stdout[-6000:] + refreshed.stderr[-3000:]
    preview = stack.pulumi("preview", "--expect-no-changes", "--diff", check=False)
    print(f"\nrefresh and preview: {time.monotonic() - started:.0f} s")
    assert preview.returncode == 0, preview.stdout[-8000:] + preview.stderr[-3000:]


# --- through edge-1 --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/api/", "/health", "/api/hits", "/static/app.js"])
def test_https_answers_200_with_the_provided_certificate(stack: FleetStack, path: str) -> None:
    reply = stack.request("GET", path)
    assert reply.status == 200, (path, reply.status, reply.body[:300])
    if path == "/api/hits":  # the back end reaches Redis on data-1 over the private network
        assert json.loads(reply.body)["hits"] >= 1


def test_http_redirects_to_https(stack: FleetStack) -> None:
    reply = stack.request("GET", "/api/data?page=2", https=False)
    assert reply.status == 301
    assert reply.headers["Location"] == f"https://{stack.server_name}/api/data?page=2"


def test_requests_spread_over_all_five_replicas_on_both_app_hosts(stack: FleetStack) -> None:
    backend = Counter(stack.request("GET", "/api/data").headers["X-Replica"] for _ in range(18))
    frontend = Counter(stack.request("GET", "/").headers["X-Replica"] for _ in range(12))
    assert set(backend) == {"backend-0", "backend-1", "backend-2"}, backend
    assert set(frontend) == {"frontend-0", "frontend-1"}, frontend
    running = {
        host: on(stack.fleet, host, "docker ps --format '{{.Label \"webstack.replica\"}}'").split()
        for host in APP_HOSTS
    }
    assert {r for names in running.values() for r in names if r} == {*backend, *frontend}
    assert all(names for names in running.values()), running


def test_replicas_are_published_on_fixed_ports(stack: FleetStack) -> None:
    """Replica i of a service listens on its host's private address at publishedPortBase + i
    (default port + 10000): a port that survives restarts, so the edge's upstreams do too."""
    services = stack.output("services")
    app = {name: stack.fleet.host(name).private for name in APP_HOSTS}
    assert services["backend"]["upstreams"] == [
        f"{app['app-1']}:18001",
        f"{app['app-2']}:18002",
        f"{app['app-1']}:18003",
    ]
    assert services["frontend"]["upstreams"] == [f"{app['app-1']}:18080", f"{app['app-2']}:18081"]


def test_a_websocket_through_edge_1_echoes(stack: FleetStack) -> None:
    context = ssl.create_default_context(cafile=str(stack.fleet.ca))
    raw = socket.create_connection((stack.edge, 443), timeout=10)
    with context.wrap_socket(raw, server_hostname=stack.server_name) as sock:
        stream, _ = websocket_handshake(sock, stack.server_name, "/api/ws")
        opcode, greeting = read_frame(stream)
        assert opcode == 0x1 and json.loads(greeting)["replica"].startswith("backend-")
        sock.sendall(encode_frame(0x1, b"across hosts", mask=secrets.token_bytes(4)))
        assert read_frame(stream) == (0x1, b"across hosts")


def test_login_bursts_get_429(stack: FleetStack) -> None:
    time.sleep(6)  # production's login limit is 1 r/s, burst 5: let earlier requests drain
    logins = [stack.request("POST", "/api/auth/login", body=b'{"user": "demo"}').status for _ in range(10)]
    assert logins[0] == 200 and 429 in logins, logins


# --- each host -------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", fleet_tool.VPS_NAMES)
def test_each_host_is_hardened(stack: FleetStack, host: str) -> None:
    fleet = stack.fleet
    assert on(fleet, host, "systemctl is-active docker fail2ban webstack-docker-firewall").split() == ["active"] * 3
    # The deploy user runs the stack's containers (Docker over ssh:// logs in as deploy).
    listed = on(fleet, host, "docker ps --format '{{.Names}} {{.Label \"webstack.stack\"}}'", user="deploy")
    mine = [n for n in listed.splitlines() if n.startswith(f"webstack-{FLEET_STACK}-") or n.endswith(f" {FLEET_STACK}")]
    assert mine, f"{host}: the deploy user sees no container of the stack:\n{listed}"
    # Root: keys only. The server offers no password method at all.
    settings = on(fleet, host, "sshd -T")
    assert "passwordauthentication no" in settings and "permitrootlogin without-password" in settings
    attempt = subprocess.run(
        ["ssh", "-F", "none", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
         "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive",
         f"root@{fleet.host(host).public}", "true"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert attempt.returncode == 255 and "Permission denied (publickey)" in attempt.stderr, attempt.stderr
    assert "sshd" in on(fleet, host, "fail2ban-client status")
    ufw = on(fleet, host, "ufw status verbose")
    assert "Status: active" in ufw and "deny (incoming)" in ufw, ufw


# --- exposure --------------------------------------------------------------------------------------


def test_from_outside_only_ssh_and_the_edge_answer(stack: FleetStack) -> None:
    """offsite-1 sits on the private network but is not a peer: like the world, it reaches only
    SSH everywhere and 80/443 on edge-1, not one internal or published port."""
    fleet = stack.fleet
    outside = fleet.offsite.name
    expected: set[tuple[str, int]] = set()
    probed: list[tuple[str, int]] = []
    for host in fleet.vps:
        internal = {*REDIS_PORTS, *MONITORING_PORTS, *published_ports(fleet, host.name)}
        probed += [(host.private, port) for port in sorted({22, 80, 443, *internal})]
        expected |= {(host.private, port) for port in ([22, 80, 443] if host.name == fleet.edge else [22])}
    assert len(probed) > 6 * 6, probed
    assert answering(fleet, outside, probed) == expected


def test_internal_services_answer_peers(stack: FleetStack) -> None:
    fleet = stack.fleet
    data_1 = fleet.host("data-1").private
    exporters = published_ports(fleet, "data-1")
    assert exporters, "data-1 publishes no exporter on its private address"
    for port in (*REDIS_PORTS, *exporters):
        assert answers(fleet, "app-1", data_1, port), port
    for host in APP_HOSTS:
        ports = published_ports(fleet, host)
        assert ports, f"{host} publishes nothing on its private address"
        for port in ports:
            assert answers(fleet, "edge-1", fleet.host(host).private, port), (host, port)
            assert answers(fleet, "monitor-1", fleet.host(host).private, port), (host, port)


def test_the_docker_user_chain_is_what_closes_published_ports(stack: FleetStack) -> None:
    """Without the DOCKER-USER rules, the same published port answers from outside (Docker
    skips ufw); the unit puts them back."""
    fleet = stack.fleet
    port = published_ports(fleet, "app-1")[0]
    address = fleet.host("app-1").private
    try:
        on(fleet, "app-1", "iptables -w -F DOCKER-USER")
        assert answers(fleet, fleet.offsite.name, address, port), "with DOCKER-USER empty the port should answer"
    finally:
        on(fleet, "app-1", "systemctl restart webstack-docker-firewall")
    assert not answers(fleet, fleet.offsite.name, address, port)


# --- monitoring, Redis, backups --------------------------------------------------------------------


def test_prometheus_has_every_target_of_every_host_up(stack: FleetStack) -> None:
    fleet = stack.fleet
    deadline = time.monotonic() + 180
    while True:
        targets = json.loads(on(fleet, "monitor-1", "curl -fsS http://127.0.0.1:9090/api/v1/targets"))
        active = targets["data"]["activeTargets"]
        down = [
            (t["labels"].get("job"), t["labels"].get("instance"), t["lastError"]) for t in active if t["health"] != "up"
        ]
        nodes = {t["labels"].get("instance", "").split(":")[0] for t in active if t["labels"].get("job") == "node"}
        if not down and len(active) > 0:
            break
        assert time.monotonic() < deadline, f"targets not up: {down}"
        time.sleep(5)
    # A node exporter on each of the six hosts, and the five replicas.
    assert len(nodes) == len(fleet.vps), nodes
    jobs = Counter(t["labels"]["job"] for t in active)
    assert jobs["app-backend"] == 3 and jobs["app-frontend"] == 2, jobs


def store_rows(fleet: fleet_tool.Fleet, query: str) -> list[dict[str, str]]:
    """A LogsQL query's rows from the log store, asked on monitor-1 at its private address
    (where the store listens, and where the operators' tunnel ends)."""
    argument = shlex.quote(f"query={query}")
    url = f"http://{fleet.host('monitor-1').private}:9428/select/logsql/query"
    listed = on(fleet, "monitor-1", f"curl -fsS {url} --data-urlencode {argument}")
    return [json.loads(line) for line in listed.splitlines() if line.strip()]


def test_every_hosts_lines_reach_the_log_store(stack: FleetStack) -> None:
    """The store on monitor-1 holds lines of all six hosts: their containers' (by service) and
    their journals' (sshd among them: these tests log in over SSH), from each host's shipper."""
    fleet = stack.fleet
    hosts = {host.name for host in fleet.vps}
    deadline = time.monotonic() + 180
    while True:
        services: dict[str, set[str]] = {}
        for row in store_rows(fleet, "_time:1h | stats by (host, service) count() as lines"):
            services.setdefault(row["host"], set()).add(row["service"])
        if set(services) >= hosts and all({"host", "node-exporter"} <= services[h] for h in hosts):
            break
        assert time.monotonic() < deadline, f"lines by host and service: {services}"
        time.sleep(5)
    assert {"edge", "edge-exporter"} <= services["edge-1"], services
    assert {"backend", "frontend"} <= services["app-1"] and {"backend", "frontend"} <= services["app-2"]
    assert {"redis", "redis-sentinel"} <= services["data-1"], services
    assert {"prometheus", "alertmanager", "log-store", "vmalert"} <= services["monitor-1"], services
    # The journal's lines name their unit; sshd's are the ones the SSH alert reads.
    sshd = store_rows(fleet, '_time:1h {service="host"} unit:=sshd | stats by (host) count() as lines')
    assert {row["host"] for row in sshd} == hosts, sshd


def test_redis_replicates_and_every_sentinel_agrees_on_the_primary(stack: FleetStack) -> None:
    fleet = stack.fleet
    primary = fleet.host("data-1").private
    replica = redis_cli(
        stack, "data-2", container_named(stack, "data-2", r"redis$|redis-replica$"), "info", "replication"
    )
    assert "role:slave" in replica and f"master_host:{primary}" in replica and "master_link_status:up" in replica, (
        replica
    )
    for host in ("data-1", "data-2", "monitor-1"):
        sentinel = container_named(stack, host, r"sentinel")
        said = redis_cli(stack, host, sentinel, "-p", "26379", "sentinel", "get-master-addr-by-name", "webstack")
        assert said.split() == [primary, "6379"], (host, said)
    # ...and each one reaches both nodes, those on its own host included (through the host's
    # private address: a Sentinel that cannot sees its neighbour down and aborts a failover
    # with -failover-abort-no-good-slave).
    deadline = time.monotonic() + 60
    for host in ("data-1", "data-2", "monitor-1"):
        sentinel = container_named(stack, host, r"sentinel")
        while True:
            master = redis_cli(stack, host, sentinel, "-p", "26379", "sentinel", "master", "webstack").split()
            replicas = redis_cli(stack, host, sentinel, "-p", "26379", "sentinel", "replicas", "webstack").split()
            flags = [master[master.index("flags") + 1], replicas[replicas.index("flags") + 1]]
            if flags == ["master", "slave"]:
                break
            assert time.monotonic() < deadline, f"the Sentinel on {host} sees {flags}"
            time.sleep(2)


def test_a_backup_run_lands_in_the_offsite_repository(stack: FleetStack) -> None:
    fleet = stack.fleet
    # The output is the operator's command line (`ssh deploy@<data-1> docker exec ...`).
    command = stack.output("backup")["runNowCommand"]
    assert command.startswith(f"ssh deploy@{fleet.host('data-1').public} "), command
    done = operator(stack, command, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    listing = on(fleet, fleet.offsite.name, f"ls /srv/restic/{FLEET_STACK}/snapshots")
    assert len(listing.split()) >= 1, listing


def test_a_restore_drill_on_data_1_from_the_offsite_repository_passes_and_touches_nothing_live(
    stack: FleetStack,
) -> None:
    """The drill data-1 runs on its schedule, run now through the output's drillCommand after the
    backup above: the latest snapshot, fetched from the offsite repository over sftp, restored
    into a throwaway Redis and scratch folders, checked and removed; its record is in the
    offsite repository (drillRecordsCommand prints it) and on data-1; live Redis is as it was."""
    fleet = stack.fleet
    outputs = stack.output("backup")
    keys = redis_cli(stack, "data-1", "webstack-fleet-redis", "dbsize")
    before = on(fleet, fleet.offsite.name, f"ls /srv/restic/{FLEET_STACK}/snapshots").split()
    done = operator(stack, outputs["drillCommand"], timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert redis_cli(stack, "data-1", "webstack-fleet-redis", "dbsize") == keys
    listed = operator(stack, outputs["drillRecordsCommand"], timeout=300)
    assert listed.returncode == 0, listed.stderr[-3000:]
    record = json.loads(listed.stdout.strip().splitlines()[-1])
    assert (record["kind"], record["stack"], record["result"]) == ("webstack-backup-drill", FLEET_STACK, "passed")
    targets = {t["target"]: t["result"] for t in record["targets"]}
    assert targets.get("redis") == "passed" and all(result == "passed" for result in targets.values()), targets
    print(f"\ndrill on data-1 from the offsite repository: {record['duration_seconds']} s, targets {sorted(targets)}")
    # The record went offsite beside the snapshots, and stays on data-1 too.
    after = on(fleet, fleet.offsite.name, f"ls /srv/restic/{FLEET_STACK}/snapshots").split()
    assert len(after) == len(before) + 1, (before, after)
    on_host = on(fleet, "data-1", f"ls /opt/webstack/{FLEET_STACK}/drills").split()
    assert any(name.startswith("drill-") for name in on_host), on_host


# --- the policy gate -------------------------------------------------------------------------------


def test_the_policy_pack_passes_and_a_breaking_change_changes_nothing(stack: FleetStack) -> None:
    passing = stack.pulumi("preview", "--policy-pack", "policy", check=False)
    assert passing.returncode == 0, passing.stdout[-6000:] + passing.stderr[-3000:]
    stack.pulumi("config", "set", "--path", "webstack:edge.loginRate.rate", "50")
    try:
        failing = stack.pulumi("up", "--yes", "--policy-pack", "policy", check=False)
        assert failing.returncode != 0
        assert "nginx-login-rate-stricter" in failing.stdout + failing.stderr
    finally:
        stack.pulumi("config", "set", "--path", "webstack:edge.loginRate.rate", "1")
    assert stack.pulumi("preview", "--expect-no-changes", check=False).returncode == 0
