"""Looking at the fleet's hosts from this machine, for the fleet tests and drills."""

from __future__ import annotations

import re
import shlex
import subprocess

from tools.fleet import Fleet
from tools.fleet_stack import FleetStack
from tools.load import PacedLoad, Target


def figure(name: str, value: object) -> None:
    """A drill's measurement, printed as `drill | name | value` (bench/drills collects them)."""
    print(f"\ndrill | {name} | {str(value).splitlines()[0]}", flush=True)


def load(stack: FleetStack, targets: list[Target], rate: float, *, keep_bodies: bool = False) -> PacedLoad:
    """A paced load through edge-1's HTTPS, from this machine."""
    return PacedLoad(
        443,
        targets=targets,
        rate=rate,
        cafile=stack.fleet.ca,
        host=stack.server_name,
        address=stack.edge,
        keep_bodies=keep_bodies,
    )


def on(fleet: Fleet, host: str, command: str, *, user: str = "root", timeout: float = 300) -> str:
    done = fleet.ssh(host, command, user=user, timeout=timeout)
    assert done.returncode == 0, f"{host}: {command}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def answering(fleet: Fleet, source: str, targets: list[tuple[str, int]]) -> set[tuple[str, int]]:
    """Which of address:port accept a TCP connection from `source` (a fleet host); probed at
    once, a dropped one gives up after 3 s."""
    probes = " ".join(
        f"(timeout 3 bash -c 'exec 3<>/dev/tcp/{a}/{p}' 2>/dev/null && echo {a}:{p}) &" for a, p in targets
    )
    said = on(fleet, source, f"{probes} wait")
    return {(a, int(p)) for a, _, p in (line.rpartition(":") for line in said.split())}


def answers(fleet: Fleet, source: str, address: str, port: int) -> bool:
    return answering(fleet, source, [(address, port)]) == {(address, port)}


def published_ports(fleet: Fleet, host: str) -> list[int]:
    """Host ports Docker publishes on the host's private address (internal services)."""
    address = fleet.host(host).private
    lines = on(fleet, host, "docker ps --format '{{.Ports}}'").replace(",", "\n").split("\n")
    return sorted({int(m.group(1)) for line in lines if (m := re.search(rf"{re.escape(address)}:(\d+)->", line))})


def operator(stack: FleetStack, command: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """An output's command line (`ssh deploy@<host> ...`) run from this machine as written,
    with the fleet's key."""
    assert command.startswith("ssh "), command
    with_key = shlex.join(["ssh", *stack.fleet.ssh_options()]) + command.removeprefix("ssh")
    return subprocess.run(with_key, shell=True, capture_output=True, text=True, timeout=timeout)


def redis_password(stack: FleetStack) -> str:
    return str(stack.output("redisUrl")).split("://:", 1)[1].split("@", 1)[0]


def redis_cli(stack: FleetStack, host: str, container: str, *args: str) -> str:
    password = redis_password(stack)
    command = " ".join(["docker", "exec", "-e", "REDISCLI_AUTH", container, "redis-cli", *args])
    return on(stack.fleet, host, f"REDISCLI_AUTH={password!r} {command}")


def container_named(stack: FleetStack, host: str, pattern: str) -> str:
    names = on(stack.fleet, host, "docker ps --format '{{.Names}}'").split()
    found = [n for n in names if re.search(pattern, n)]
    assert len(found) == 1, (host, pattern, names)
    return found[0]


def sentinels_name(stack: FleetStack, host: str) -> str:
    """`address port` of the primary, as the Sentinel on `host` names it."""
    sentinel = container_named(stack, host, r"sentinel")
    return " ".join(
        redis_cli(stack, host, sentinel, "-p", "26379", "sentinel", "get-master-addr-by-name", "webstack").split()
    )


def replication(stack: FleetStack, host: str) -> dict[str, str]:
    said = redis_cli(stack, host, container_named(stack, host, r"redis$|redis-replica$"), "info", "replication")
    return dict(line.strip().split(":", 1) for line in said.splitlines() if ":" in line)


def primary_host(stack: FleetStack) -> str:
    """The fleet host of the Redis primary the Sentinels name (asked on monitor-1)."""
    address = sentinels_name(stack, "monitor-1").split()[0]
    return next(h.name for h in stack.fleet.vps if h.private == address)


def redis_eval(stack: FleetStack, host: str, script: str, *args: str) -> str:
    """Run a Lua script on the Redis node of `host` (loaded from stdin: no quoting of Lua)."""
    node = container_named(stack, host, r"redis$|redis-replica$")
    password = redis_password(stack)
    loaded = stack.fleet.ssh(
        host,
        f"REDISCLI_AUTH={password!r} docker exec -i -e REDISCLI_AUTH {node} redis-cli -x script load",
        input=script,
        timeout=60,
    )
    assert loaded.returncode == 0 and len(loaded.stdout.strip()) == 40, loaded.stdout + loaded.stderr
    return redis_cli(stack, host, node, "evalsha", loaded.stdout.strip(), "0", *args)
