"""The restore drill on the deployed fleet stack (after the other drills, before the teardown):
data lost everywhere, its host rebuilt from bare, brought back by the documented procedure.

A replica already keeps Redis through the loss of data-1 alone (test_survival_drills). A
backup is for the loss a replica copies too: here a FLUSHALL (an operator's mistake,
replicated to data-2 at once), then data-1 lost with its disk. The procedure, as the README
gives it: `python -m tools.rebuilt_host fleet data-1`, then the `backup.restoreCommand` of the
stack outputs. Production's stack backs up no volumes (its data is Redis and the external
database), so there is no volume to compare here; volume restores are checked byte for byte
on real restic in tests/rendered.
"""

from __future__ import annotations

import json
import secrets
import shlex
import subprocess
import time

import pytest

from tools import fleet as fleet_tool
from tools.fleet_stack import FleetStack

from .helpers import container_named, figure, operator, primary_host, redis_cli, redis_eval, replication

pytestmark = pytest.mark.timeout(2400)

# Strings, hashes and a key with a TTL, marked with this run's token.
SEED = """
for i = 1, 2000 do redis.call('SET', 'drill:s:' .. i, 'value ' .. i .. ' ' .. ARGV[1]) end
for i = 1, 200 do redis.call('HSET', 'drill:h:' .. i, 'n', i, 'token', ARGV[1]) end
redis.call('SET', 'drill:ttl', ARGV[1], 'EX', 86400)
return redis.call('DBSIZE')
"""
# Every key: type, value (a hash's fields sorted) and whether it has a TTL, as JSON.
STATE = """
local out = {}
for _, key in ipairs(redis.call('KEYS', '*')) do
  local kind = redis.call('TYPE', key)['ok']
  local value
  if kind == 'string' then
    value = redis.call('GET', key)
  elseif kind == 'hash' then
    local flat, fields = redis.call('HGETALL', key), {}
    for i = 1, #flat, 2 do fields[#fields + 1] = flat[i] .. '=' .. flat[i + 1] end
    table.sort(fields)
    value = table.concat(fields, '&')
  else
    value = '(' .. kind .. ')'
  end
  out[key] = {kind, value, redis.call('PTTL', key) > 0}
end
return cjson.encode(out)
"""


def redis_state(stack: FleetStack, host: str) -> dict[str, list[object]]:
    state: dict[str, list[object]] = json.loads(redis_eval(stack, host, STATE) or "{}")
    return state


def test_data_lost_everywhere_is_restored_onto_a_rebuilt_host(stack: FleetStack) -> None:
    fleet = stack.fleet
    primary = primary_host(stack)
    token = secrets.token_hex(8)
    assert int(redis_eval(stack, primary, SEED, token)) >= 2201
    expected = redis_state(stack, primary)
    replica = next(h for h in ("data-1", "data-2") if h != primary)
    deadline = time.monotonic() + 30
    while redis_state(stack, replica) != expected:
        assert time.monotonic() < deadline, "the replica did not catch up with the seeded keys"
        time.sleep(1)

    # The nightly backup, run now, as the output says.
    backup = stack.output("backup")
    ran = operator(stack, backup["runNowCommand"])
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]

    # The loss: every key deleted on the primary (and so on the replica), then data-1 lost
    # with its disk and handed back bare.
    redis_cli(stack, primary, container_named(stack, primary, r"redis$|redis-replica$"), "flushall")
    subprocess.run(["docker", "kill", fleet.host("data-1").container], check=True, capture_output=True)
    fleet_tool.reset_host(fleet, "data-1", log=lambda _: None)
    bare = time.monotonic()

    # The procedure: the host back into its stack, then the restore command.
    directory, env = stack.project
    rebuilt = subprocess.run(
        [str(directory / "venv" / "bin" / "python"), "-m", "tools.rebuilt_host", "fleet", "data-1"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert rebuilt.returncode == 0, rebuilt.stdout[-6000:] + rebuilt.stderr[-6000:]
    back_in_stack = time.monotonic()
    restore = backup["restoreCommand"].replace("<database|redis|volume:NAME> [SNAPSHOT]", "redis latest")
    restored = operator(stack, restore)
    assert restored.returncode == 0, restored.stdout[-3000:] + restored.stderr[-3000:]
    done = time.monotonic()
    primary = primary_host(stack)
    assert redis_state(stack, primary) == expected
    replica = next(h for h in ("data-1", "data-2") if h != primary)
    deadline = time.monotonic() + 60
    while replication(stack, replica).get("master_link_status") != "up" or redis_state(stack, replica) != expected:
        assert time.monotonic() < deadline, f"{replica} does not hold the restored keys: {replication(stack, replica)}"
        time.sleep(2)
    figure("restore: keys restored, compared key by key on both nodes", len(expected))
    figure("restore: bare data-1 back in its stack (tools.rebuilt_host)", f"{back_in_stack - bare:.0f} s")
    figure("restore: restore.sh redis latest", f"{done - back_in_stack:.0f} s")
    figure("restore: RTO from a bare host", f"{done - bare:.0f} s")
    figure("restore: RPO", f"the schedule {backup['schedule']!r} (UTC): up to a day of writes")

    # A restore that cannot be right changes nothing: mark a key, and it must stay marked.
    marked = "drill:s:1"
    redis_cli(stack, primary, container_named(stack, primary, r"redis$|redis-replica$"), "set", marked, "marked")
    ssh, login, remote = shlex.split(restore)
    docker, exec_, container, script, *_ = remote.split()
    wrong = [docker, exec_, "-e", f"RESTIC_PASSWORD=wrong-{token}", container, script, "redis"]
    wrong_password = operator(stack, shlex.join([ssh, login, " ".join(wrong)]))
    assert wrong_password.returncode != 0
    assert "wrong restic password" in wrong_password.stderr, wrong_password.stderr[-2000:]
    no_snapshot = operator(
        stack, backup["restoreCommand"].replace("<database|redis|volume:NAME> [SNAPSHOT]", "redis deadbeef")
    )
    assert no_snapshot.returncode != 0
    assert "snapshot deadbeef does not exist" in no_snapshot.stderr, no_snapshot.stderr[-2000:]
    after = redis_state(stack, primary)
    assert after[marked][1] == "marked" and len(after) == len(expected), "a failed restore touched the live data"
