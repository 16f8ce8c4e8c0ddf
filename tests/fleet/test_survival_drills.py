"""Failure drills on the deployed fleet stack (after the shape checks, before the teardown):
what the site does when a machine is lost, measured under load."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from datetime import datetime
from typing import Any

import pytest

from tools.fleet_stack import FleetStack
from tools.load import Target

from .conftest import PowerSwitch
from .helpers import container_named, figure, load, on, redis_cli, replication, sentinels_name

pytestmark = pytest.mark.timeout(1800)

# Under production's per-client limits (API 10 r/s, front end 50 r/s, login 1 r/s burst 5).
READS = [Target("GET", "/api/data"), Target("GET", "/"), Target("GET", "/api/data"), Target("GET", "/static/app.js")]
LOGIN = [Target("POST", "/api/auth/login", b'{"user": "drill"}')]
HITS = "webstack:demo:hits"  # the demo back end's counter (GET /api/hits: INCR)


def webhook_alerts(stack: FleetStack) -> list[dict[str, Any]]:
    """Every alert Alertmanager posted to the receiver on offsite-1."""
    lines = on(stack.fleet, stack.fleet.offsite.name, "cat /var/log/webhook.jsonl 2>/dev/null || true").splitlines()
    return [alert for line in lines for alert in json.loads(line).get("alerts", [])]


def started_after(alert: dict[str, Any], when: float) -> bool:
    """The alert's startsAt (RFC 3339, from Prometheus: when it began to fire) is after `when`."""
    stamp = re.sub(r"\.\d+", "", str(alert.get("startsAt", ""))).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(stamp).timestamp() > when
    except ValueError:
        return False


def test_an_app_host_lost_under_load_fails_no_request_and_rejoins_by_itself(
    stack: FleetStack, power: PowerSwitch
) -> None:
    fleet = stack.fleet
    app_1 = fleet.host("app-1")
    container = app_1.container
    with load(stack, READS, 8.0) as reads, load(stack, LOGIN, 0.8) as logins:
        time.sleep(10)
        lost, lost_at = time.monotonic(), time.time()
        power.cut(container)
        time.sleep(30)
        after = time.monotonic()
        time.sleep(10)
    before_loss, during, later = reads.report(until=lost), reads.report(lost, after), reads.report(after)
    figure("app host lost: GETs before the loss", before_loss)
    figure("app host lost: GETs in the 30 s after it", during)
    figure("app host lost: GETs later, app-1 still down", later)
    figure("app host lost: POSTs throughout", logins.report())
    assert reads.report().failed == 0, reads.report()
    assert logins.report().failed == 0, logins.report()
    # Only app-2's replicas answer once app-1 is gone.
    assert set(later.replicas) <= {"backend-1", "frontend-1"}, later.replicas

    # Prometheus sees app-1's targets down; InstanceDown (for: 2m, critical) reaches the webhook.
    deadline = time.monotonic() + 300
    while True:
        down = [
            alert
            for alert in webhook_alerts(stack)
            if alert.get("status") == "firing"
            and started_after(alert, lost_at)  # the receiver's log keeps earlier runs' alerts
            and alert.get("labels", {}).get("alertname") == "InstanceDown"
            and app_1.private in str(alert.get("labels", {}).get("instance", ""))
        ]
        if down:
            break
        assert time.monotonic() < deadline, "no InstanceDown alert for app-1 reached the webhook within 5 min"
        time.sleep(10)
    figure("app host lost: InstanceDown at the webhook (for: 2m)", f"{time.monotonic() - lost:.0f} s after the loss")

    # Power back: the host boots, Docker restarts the replicas on their fixed ports, the edge
    # takes them back; no `pulumi up` needed, and one afterwards changes nothing.
    power.restore(container)
    back = time.monotonic()
    deadline = back + 300
    while True:
        seen = {stack.request("GET", "/api/data").headers.get("X-Replica") for _ in range(9)}
        if {"backend-0", "backend-2"} <= seen:
            break
        assert time.monotonic() < deadline, f"app-1's replicas are not served again within 5 min: {seen}"
        time.sleep(5)
    figure("app host lost: its replicas served again, no pulumi up", f"{time.monotonic() - back:.0f} s after power-on")

    # No POST reached the back end twice: each carries the edge's X-Request-ID, which the
    # replicas log (app-1's logs survive its power cut: the containers restarted, not remade).
    sent = {o.request_id for o in logins.snapshot() if not o.failed}
    assert None not in sent and len(sent) == len(logins.snapshot()), "a login answer had no X-Request-ID"
    logged = Counter(
        line.split()[-1]
        for host in ("app-1", "app-2")
        for line in on(
            fleet,
            host,
            "for c in $(docker ps -a --format '{{.Names}}' | grep backend); do docker logs $c 2>&1; done"
            " | grep 'POST /api/auth/login'",
        ).splitlines()
    )
    twice = {request_id: n for request_id, n in logged.items() if n > 1}
    assert not twice, f"POSTs the back end got more than once: {twice}"
    assert sent <= set(logged), f"acknowledged POSTs no replica logged: {sent - set(logged)}"
    # What the nightly drift check runs: the host's reboot moved container addresses, which
    # nothing the program manages depends on on a multi-host stack: no drift.
    done = stack.pulumi("preview", "--refresh", "--expect-no-changes", check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    done = stack.pulumi("up", "--yes", "--expect-no-changes", check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_failed_ssh_logins_get_an_address_banned(stack: FleetStack) -> None:
    """fail2ban on each host: an address with 5 failed logins (the jail's maxretry) is banned.
    The attacker is offsite-1 (this machine's own logins all arrive from the bridge's address)
    and tries user names that do not exist, as scanners do. The ban can land while an attempt
    is past its TCP connect (ConnectTimeout no longer applies and the dropped connection would
    hang), so each attempt has keepalives and an outer `timeout`."""
    fleet = stack.fleet
    attacker, target = fleet.offsite, fleet.host("app-2")
    attempt = (
        "timeout 20 ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
        "-o ConnectTimeout=5 -o ServerAliveInterval=2 -o ServerAliveCountMax=2 "
        f"-o PreferredAuthentications=publickey -i /etc/ssh/ssh_host_ed25519_key admin@{target.private} true"
    )

    def banned() -> bool:
        return attacker.private in on(fleet, target.name, "fail2ban-client status sshd")

    try:
        attempts = 0
        while attempts < 6 and not banned():
            fleet.ssh(attacker, attempt, timeout=60)
            attempts += 1
        deadline = time.monotonic() + 30
        while not banned():
            assert time.monotonic() < deadline, on(fleet, target.name, "fail2ban-client status sshd")
            time.sleep(2)
        refused = fleet.ssh(attacker, attempt, timeout=60)
        assert refused.returncode in (124, 255) and "Permission denied" not in refused.stderr, refused.stderr
    finally:
        on(fleet, target.name, f"fail2ban-client unban {attacker.private}")


def hits_value(stack: FleetStack, host: str) -> int:
    return int(redis_cli(stack, host, container_named(stack, host, r"redis$|redis-replica$"), "get", HITS).strip() or 0)


def test_redis_primary_lost_under_load_keeps_every_acknowledged_write(stack: FleetStack, power: PowerSwitch) -> None:
    """data-1 (Redis primary and a Sentinel) loses power under a stream of INCRs through the
    edge: the two other Sentinels promote data-2 and the back end follows them with no
    redeploy. Every INCR the app acknowledged (after WAIT for the replica) is in the final
    count: the acknowledged values are distinct, and none is above the final value. data-1
    comes back as data-2's replica, by itself; `pulumi up` then changes nothing, and a
    replaced data-1 container still follows the Sentinels rather than its stack-file role.
    Finally a planned switchover gives data-1 the primary back."""
    fleet = stack.fleet
    data_1, data_2 = fleet.host("data-1"), fleet.host("data-2")
    on_1, on_2 = f"{data_1.private} 6379", f"{data_2.private} 6379"
    assert sentinels_name(stack, "data-2") == on_1
    initial = hits_value(stack, "data-1")
    with load(stack, [Target("GET", "/api/hits")], 8.0, keep_bodies=True) as hits:
        time.sleep(10)
        lost = time.monotonic()
        power.cut(data_1.container)
        deadline = lost + 120
        while sentinels_name(stack, "data-2") != on_2:
            assert time.monotonic() < deadline, "data-2 was not promoted within 2 min"
            time.sleep(0.5)
        promoted = time.monotonic()
        time.sleep(20)
    outcomes = [o for o in hits.snapshot()]
    failed = [o for o in outcomes if o.failed]
    acknowledged = [json.loads(o.body or b"{}") for o in outcomes if not o.failed]
    values = [a["hits"] for a in acknowledged]
    final = hits_value(stack, "data-2")
    window = (max(o.started for o in failed) - min(o.started for o in failed) + 1 / 8.0) if failed else 0.0
    unreplicated = sum(1 for a in acknowledged if a.get("replicated") == 0)
    figure("Redis primary lost: data-2 promoted (down-after 5 s, failover-timeout 10 s)", f"{promoted - lost:.1f} s")
    figure("Redis primary lost: INCRs failed", f"{len(failed)} of {len(outcomes)}, over {window:.1f} s")
    figure(
        "Redis primary lost: INCRs acknowledged",
        f"{len(values)}, {unreplicated} with no replica left to WAIT for; final count {final - initial} above the start",
    )
    figure("Redis primary lost: INCRs before the loss", hits.report(until=lost))
    figure("Redis primary lost: INCRs from the loss to 5 s after the promotion", hits.report(lost, promoted + 5))
    figure("Redis primary lost: INCRs from 5 s after the promotion", hits.report(promoted + 5))
    assert len(values) == len(set(values)), "an acknowledged INCR was lost: a value was handed out twice"
    assert max(values) <= final and len(values) <= final - initial, (max(values), len(values), final, initial)
    assert not hits.report(promoted + 5).failed, "INCRs still fail 5 s after the promotion"
    assert promoted - lost < 20, "not promoted within down-after + failover-timeout (15 s) and the polling's slack"

    # Power back: data-1's Redis asks the Sentinels before it starts, and replicates data-2.
    power.restore(data_1.container)
    back = time.monotonic()
    deadline = back + 300
    while True:
        done = fleet.ssh(data_1, "docker ps --format '{{.Names}} {{.Status}}'", timeout=30)
        if done.returncode == 0 and "(healthy)" in done.stdout:
            state = replication(stack, "data-1")
            if state.get("role") == "slave" and state.get("master_link_status") == "up":
                break
        assert time.monotonic() < deadline, "data-1 did not rejoin as a replica within 5 min"
        time.sleep(3)
    figure("Redis primary lost: data-1 replicates data-2", f"{time.monotonic() - back:.0f} s after power-on")
    assert replication(stack, "data-1")["master_host"] == data_2.private
    node = container_named(stack, "data-1", r"redis$")
    assert f"the Sentinels name {on_2} primary" in on(fleet, "data-1", f"docker logs {node} 2>&1 | grep webstack:")
    assert sentinels_name(stack, "monitor-1") == on_2

    # The stack file still says data-1 is the primary: an up changes nothing...
    done = stack.pulumi("up", "--yes", "--expect-no-changes", check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    # ...and data-1's container made anew by an up starts as the replica the Sentinels say.
    urn = next(
        r["urn"]
        for r in stack.state()["deployment"]["resources"]
        if r["type"] == "docker:index/container:Container" and r["urn"].endswith("::redis-redis")
    )
    replaced = stack.pulumi("up", "--yes", "--replace", urn, check=False)
    assert replaced.returncode == 0, replaced.stdout[-4000:] + replaced.stderr[-2000:]
    assert sentinels_name(stack, "data-2") == on_2
    deadline = time.monotonic() + 60
    while replication(stack, "data-1").get("master_link_status") != "up":
        assert time.monotonic() < deadline, replication(stack, "data-1")
        time.sleep(2)
    assert replication(stack, "data-1")["master_host"] == data_2.private
    assert hits_value(stack, "data-1") == hits_value(stack, "data-2") >= final

    # A planned switchover back to data-1 (what an operator does after the drill).
    sentinel = container_named(stack, "data-2", r"sentinel")
    redis_cli(stack, "data-2", sentinel, "-p", "26379", "sentinel", "failover", "webstack")
    deadline = time.monotonic() + 60
    while sentinels_name(stack, "data-2") != on_1 or replication(stack, "data-2").get("master_link_status") != "up":
        assert time.monotonic() < deadline, "the switchover back to data-1 did not finish within 1 min"
        time.sleep(1)
    assert stack.request("GET", "/api/hits").status == 200
