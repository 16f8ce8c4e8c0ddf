"""PostgreSQL on the fleet (issue #13): seed 004's primary on data-1 and hot standby on data-2,
with PgBouncer, added to the deployed production-shaped stack; then a switchover under a
stream of writes through the edge. Production's own stack keeps its database elsewhere
(MongoDB Atlas, seed 000), so this drill adds `webstack:postgres` for its duration and takes
it away again (volumes unprotected), leaving the stack as the restore drill expects it."""

from __future__ import annotations

import json
import shlex
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from tools.fleet_stack import FleetStack
from tools.load import Target

from .helpers import figure, load, on

pytestmark = pytest.mark.timeout(2400)

NODE = "webstack-fleet-postgres"
URLS = {"DATABASE_URL": "primary", "DATABASE_REPLICA_URL": "replica"}


def psql(stack: FleetStack, host: str, sql: str) -> str:
    """As the admin on the node's socket (peer: no password)."""
    command = f"docker exec {NODE} psql -XAtq -v ON_ERROR_STOP=1 -h /var/run/postgresql -U postgres -d app -c "
    return on(stack.fleet, host, command + shlex.quote(sql)).strip()


def set_roles(stack: FleetStack, primary: str, standby: str) -> None:
    for key, value in (("host", primary), ("standbyHost", standby)):
        stack.pulumi("config", "set", "--path", f"webstack:postgres.{key}", value)


def up(stack: FleetStack, *args: str) -> float:
    started = time.monotonic()
    done = stack.pulumi("up", "--yes", "--skip-preview", *args, check=False, timeout=1800)
    diagnostics = done.stdout.partition("Diagnostics:")[2].partition("Outputs:")[0]
    assert done.returncode == 0, (diagnostics or done.stdout)[-8000:] + done.stderr[-3000:]
    return time.monotonic() - started


def wait_for(what: str, check: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(1)


def backend_containers(stack: FleetStack, host: str) -> list[str]:
    said = on(stack.fleet, host, "docker ps --filter label=webstack.service=backend --format '{{.ID}} {{.Names}}'")
    return sorted(said.splitlines())


def streaming_to(stack: FleetStack, primary: str) -> list[str]:
    """application_name of each standby streaming from `primary`."""
    said = psql(stack, primary, "select application_name from pg_stat_replication where state = 'streaming'")
    return said.split()


@pytest.fixture(scope="module")
def cluster(stack: FleetStack) -> Iterator[FleetStack]:
    """The cluster added to the stack (data-1 primary, data-2 standby, PgBouncer); removed after."""
    set_roles(stack, "data-1", "data-2")
    stack.pulumi("config", "set", "--path", "webstack:postgres.pgbouncer.enabled", "true")
    stack.pulumi("config", "set", "--path", "webstack:postgres.protectData", "false")
    for env, target in URLS.items():
        stack.pulumi("config", "set", "--path", f"webstack:services.backend.secretEnv.{env}.database", target)
    try:
        # The back end's replicas roll onto their other ports (their env gains the URLs) while
        # reads go on: none fails.
        with load(stack, [Target("GET", "/api/data"), Target("GET", "/")], 8.0) as reads:
            took = up(stack)
        report = reads.stop()
        figure("PostgreSQL added to the fleet stack: pulumi up (the back end rolls)", f"{took:.0f} s")
        figure("PostgreSQL added: reads during the roll", str(report))
        assert report.requests > 0 and report.failed == 0, str(report)
        yield stack
    finally:
        for env in URLS:
            stack.pulumi("config", "rm", "--path", f"webstack:services.backend.secretEnv.{env}", check=False)
        stack.pulumi("config", "rm", "webstack:postgres", check=False)
        up(stack)


def test_the_standby_streams_and_the_app_writes_through_pgbouncer(cluster: FleetStack) -> None:
    stack = cluster
    assert psql(stack, "data-1", "select pg_is_in_recovery()") == "f"
    assert psql(stack, "data-2", "select pg_is_in_recovery()") == "t"
    wait_for("data-2 streams from data-1", lambda: streaming_to(stack, "data-1") == ["data-2"])
    ids = []
    for i in range(20):
        reply = stack.request("POST", "/api/notes", body=json.dumps({"text": f"fleet-{i}"}).encode())
        assert reply.status == 201, reply.body
        ids.append(json.loads(reply.body)["id"])
    listed = f"select count(*) from notes where id in ({','.join(map(str, ids))})"
    assert psql(stack, "data-1", listed) == "20"
    wait_for("the notes on the standby", lambda: psql(stack, "data-2", listed) == "20", 30)
    reads = json.loads(stack.request("GET", "/api/notes").body)
    assert reads["source"] == "replica", reads
    # Nothing of PostgreSQL answers on a host's public address or beyond the private network.
    for host in ("data-1", "data-2"):
        ports = on(stack.fleet, host, f"docker port {NODE}")
        address = stack.fleet.host(host).private
        assert ports.strip() and all(f"{address}:" in line for line in ports.splitlines()), ports
    done = stack.pulumi("up", "--yes", "--expect-no-changes", check=False, timeout=1800)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_a_switchover_under_writes_keeps_every_acknowledged_row(cluster: FleetStack) -> None:
    """host and standbyHost swapped, then `pulumi up`, under a stream of POST /api/notes: the
    fence stops data-1's primary, data-2 is promoted, the PgBouncers beside the back end are
    pointed at it in place, data-1 is rewound into its standby; the back end is not touched.
    Every acknowledged note is on the new primary, and the write-unavailable window is measured."""
    stack = cluster
    note = Target("POST", "/api/notes", json.dumps({"text": "switchover"}).encode())
    backends = {host: backend_containers(stack, host) for host in ("app-1", "app-2")}
    set_roles(stack, "data-2", "data-1")
    with load(stack, [note], 4.0, keep_bodies=True) as writes:
        time.sleep(5)
        took = up(stack)
        time.sleep(10)
    outcomes = writes.snapshot()
    failed = [o for o in outcomes if o.failed]
    acknowledged = [json.loads(o.body or b"{}")["id"] for o in outcomes if not o.failed]
    window = max(o.started for o in failed) - min(o.started for o in failed) if failed else 0.0
    figure("PostgreSQL switchover: pulumi up", f"{took:.0f} s")
    figure("PostgreSQL switchover: writes failed", f"{len(failed)} of {len(outcomes)}, over {window:.1f} s")
    statuses = Counter(str(o.status or o.error) for o in failed)
    figure("PostgreSQL switchover: failed writes by answer", dict(statuses.most_common(4)))
    assert acknowledged and not outcomes[-1].failed, "writes did not resume after the switchover"
    # DATABASE_URL names the back end's own PgBouncer and stays; DATABASE_REPLICA_URL names the
    # standby, which moved: the back end rolls for that one.
    after = {host: backend_containers(stack, host) for host in backends}
    figure(
        "PostgreSQL switchover: back end replicas replaced", sum(len(set(after[h]) - set(backends[h])) for h in after)
    )
    assert psql(stack, "data-2", "select pg_is_in_recovery()") == "f"
    assert psql(stack, "data-1", "select pg_is_in_recovery()") == "t"
    wait_for("data-1 streams from data-2", lambda: streaming_to(stack, "data-2") == ["data-1"])
    found = psql(stack, "data-2", f"select count(*) from notes where id in ({','.join(map(str, acknowledged))})")
    assert int(found) == len(acknowledged), f"{len(acknowledged) - int(found)} acknowledged notes lost"
    logs = on(stack.fleet, "data-1", f"docker logs {NODE} 2>&1")
    assert "pg_rewind" in logs and "pgdata.previous" not in logs, logs[-3000:]
    slots = psql(stack, "data-2", "select slot_name || ':' || active from pg_replication_slots")
    assert slots == "webstack_data_1:true", slots
    reply = stack.request("POST", "/api/notes", body=b'{"text": "after"}')
    assert reply.status == 201, reply.body
    after = json.loads(reply.body)["id"]
    wait_for(
        "the new primary's write on data-1",
        lambda: psql(stack, "data-1", f"select count(*) from notes where id = {after}") == "1",
        30,
    )
    done = stack.pulumi("up", "--yes", "--expect-no-changes", check=False, timeout=1800)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
