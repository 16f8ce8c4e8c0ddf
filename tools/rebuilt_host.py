"""Bring a host that was rebuilt from bare (a reinstalled VPS, or a new one at the same address)
back into its stack:

    ./venv/bin/python -m tools.rebuilt_host STACK HOST     # then restore its data (below)

Run it where `pulumi up` runs (same backend, passphrase and PATH). The stack's state still
says the host has its bootstrap, Docker objects and data volumes; the machine has none of
them, and new SSH host keys. So:

1. the host's old keys leave the stack's known_hosts (`.webstack/<stack>/ssh/known_hosts`):
   Docker's ssh refuses a changed key, rightly, and this is the moment to accept the new one;
2. its bootstrap runs again (`pulumi up --target <bootstrap> --replace <bootstrap>`):
   users, Docker, firewall, fail2ban;
3. `pulumi refresh`: the Docker objects that went with the old disk leave the state;
4. `pulumi up --replace <each command run on the host>`: everything the stack places on
   the host is made again (empty data volumes; a Redis node there asks the Sentinels who
   is primary and replicates it), and the files and reloads the program runs there over
   SSH run again (a command's state says it ran, and it ran on the old disk).

Then restore what lived only there: the stack output `backup.restoreCommand` (restore.sh
<target> [snapshot]). Step 4 is a whole `pulumi up`: if the stack file changed since the
last one, that change is deployed too (review `pulumi preview` first).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from components.targets.ssh_identity import state_dir
from tools.recover import pulumi, refresh

HOST_TYPE = "webstack:host:VpsHost"
BOOTSTRAP_TYPE = "command:remote:Command"
DOCKER_PROVIDER_TYPE = "pulumi:providers:docker"


@dataclass(frozen=True)
class RebuiltHost:
    name: str
    address: str
    ssh_port: int
    bootstrap_urn: str
    commands: tuple[str, ...]  # URNs of the other commands run on it (they depend on its bootstrap)


def find_host(deployment: dict[str, Any], name: str) -> RebuiltHost:
    """The host's address and bootstrap in an exported deployment, or SystemExit naming the hosts there are."""
    resources = deployment.get("resources") or []
    hosts = {r["outputs"].get("name"): r for r in resources if r["type"] == HOST_TYPE and r.get("outputs")}
    if name not in hosts:
        known = ", ".join(sorted(str(h) for h in hosts)) or "none"
        raise SystemExit(f"rebuilt_host: the stack has no host {name} (its hosts: {known})")
    host = hosts[name]
    bootstraps = [r for r in resources if r.get("parent") == host["urn"] and r["type"] == BOOTSTRAP_TYPE]
    if len(bootstraps) != 1:
        raise SystemExit(f"rebuilt_host: host {name} has no bootstrap in the state (a local host is never rebuilt)")
    bootstrap = bootstraps[0]["urn"]
    # The command provider keeps `connection` secret; the host's Docker provider says the port.
    providers = [r for r in resources if r.get("parent") == host["urn"] and r["type"] == DOCKER_PROVIDER_TYPE]
    docker_host = urlsplit(str(providers[0].get("inputs", {}).get("host", ""))) if providers else None
    return RebuiltHost(
        name=name,
        address=str(host["outputs"]["address"]),
        ssh_port=(docker_host.port or 22) if docker_host else 22,
        bootstrap_urn=bootstrap,
        commands=tuple(
            r["urn"]
            for r in resources
            if r["type"].startswith("command:") and r["urn"] != bootstrap and bootstrap in (r.get("dependencies") or [])
        ),
    )


def forget_host_keys(stack: str, host: RebuiltHost) -> list[str]:
    """Remove the host's entries from the stack's known_hosts; the names removed."""
    known_hosts = state_dir(stack) / "ssh" / "known_hosts"
    if not known_hosts.exists():
        return []
    removed = []
    for name in (host.address, f"[{host.address}]:{host.ssh_port}"):
        done = subprocess.run(["ssh-keygen", "-R", name, "-f", str(known_hosts)], capture_output=True, text=True)
        if done.returncode == 0 and "updated" in done.stdout + done.stderr:
            removed.append(name)
    known_hosts.with_name("known_hosts.old").unlink(missing_ok=True)
    return removed


def step(stack: str, what: str, *args: str) -> None:
    print(f"rebuilt_host: {what}", flush=True)
    done = pulumi(stack, *args)
    if done.returncode != 0:
        raise SystemExit(f"rebuilt_host: {what} failed:\n{done.stdout[-4000:]}\n{done.stderr[-3000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("stack")
    parser.add_argument("host")
    options = parser.parse_args(argv)
    stack = options.stack
    exported = pulumi(stack, "stack", "export")
    if exported.returncode != 0:
        print(f"rebuilt_host: pulumi stack export failed:\n{exported.stderr}", file=sys.stderr)
        return 1
    host = find_host(json.loads(exported.stdout).get("deployment", {}), options.host)
    removed = forget_host_keys(stack, host)
    print(f"rebuilt_host: {host.name} ({host.address}): old host keys forgotten: {', '.join(removed) or 'none known'}")
    urn = host.bootstrap_urn
    step(stack, "bootstrap again", "up", "--yes", "--skip-preview", "--target", urn, "--replace", urn)
    refreshed = refresh(stack)
    if refreshed.returncode != 0:
        print(f"rebuilt_host: pulumi refresh failed:\n{refreshed.stdout[-3000:]}\n{refreshed.stderr}", file=sys.stderr)
        return 1
    print("rebuilt_host: state refreshed", flush=True)
    again = [arg for urn in host.commands for arg in ("--replace", urn)]
    step(stack, f"make what lives on {host.name} again", "up", "--yes", "--skip-preview", *again)
    print(
        f"rebuilt_host: {host.name} is back. Restore its data with the restoreCommand of: "
        f"pulumi stack output backup --stack {stack}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
