"""Recover a stack after an interrupted `pulumi up` (the CLI killed half way, a lost SSH session).

    ./venv/bin/python -m tools.recover STACK          # then: pulumi up --stack STACK

Run it where `pulumi up` runs (same backend, passphrase and PATH). An interrupted update
leaves "pending operations" in the state: resources the engine asked a provider to create,
update or delete and never heard back about. The ones being created are the risk: a Docker
container (or network, or volume) may exist on a host with no record of it, holding its
name and ports, and nothing would ever remove it. So, for each pending create:

1. a Docker object: removed from its host's Docker engine, found by the name recorded with
   the operation (the provider's own host: the local socket or `ssh://` to the VPS);
2. anything else (command resources, generated passwords): nothing to undo; the commands the
   program runs on hosts are idempotent and run again.

Then `pulumi refresh --clear-pending-creates --yes` drops the pending creates and reads every
recorded resource back from its host, and the next `pulumi up` finishes the deployment (it
also deletes the replicas a half-done roll left to be deleted).

A killed CLI also leaves its lock on the stack. When the lock was taken on this machine by a
process that no longer runs, `pulumi cancel --yes` removes it; any other lock is reported and
left alone (another deploy may be running: wait for it, or cancel it yourself).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

DOCKER_KINDS = {
    "docker:index/container:Container": ("container", "rm", "--force"),
    "docker:index/network:Network": ("network", "rm"),
    "docker:index/volume:Volume": ("volume", "rm", "--force"),
}


@dataclass(frozen=True)
class PendingCreate:
    urn: str
    type: str
    name: str | None  # the Docker object's name, when it is one
    docker_host: str | None  # where that Docker engine is (provider's `host`)


def pulumi(stack: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pulumi", *args, "--stack", stack, "--non-interactive"], capture_output=True, text=True, check=False
    )


def pending_creates(deployment: dict[str, Any]) -> list[PendingCreate]:
    """The pending creates of an exported deployment, with where each Docker object would be."""
    providers = {f"{r['urn']}::{r.get('id', '')}": r.get("inputs", {}) for r in deployment.get("resources") or []}
    found = []
    for operation in deployment.get("pending_operations") or []:
        if operation.get("type") != "creating":
            continue
        resource = operation["resource"]
        inputs = resource.get("inputs") or {}
        provider = providers.get(resource.get("provider", ""), {})
        name = inputs.get("name") if resource["type"] in DOCKER_KINDS else None
        found.append(
            PendingCreate(
                urn=resource["urn"],
                type=resource["type"],
                name=name if isinstance(name, str) else None,
                docker_host=provider.get("host") if isinstance(provider.get("host"), str) else None,
            )
        )
    return found


def remove(pending: PendingCreate) -> str:
    """Remove the Docker object a pending create may have left; what happened, in words."""
    if pending.type not in DOCKER_KINDS:
        return "nothing to undo"
    if pending.name is None:
        return "no name recorded: check the host by hand"
    kind, *command = DOCKER_KINDS[pending.type]
    host = ["--host", pending.docker_host] if pending.docker_host else []
    if subprocess.run(["docker", *host, kind, "inspect", pending.name], capture_output=True).returncode != 0:
        return f"{kind} {pending.name} was never created"
    done = subprocess.run(["docker", *host, kind, *command, pending.name], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"recover: could not remove {kind} {pending.name}: {done.stderr.strip()}")
    return f"{kind} {pending.name} removed"


def stale_lock(message: str) -> bool:
    """True when a lock error names a process of this machine that is gone."""
    match = re.search(r"created by \S+@(\S+) \(pid (\d+)\)", message)
    if not match or match[1] != socket.gethostname():
        return False
    try:
        os.kill(int(match[2]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def refresh(stack: str) -> subprocess.CompletedProcess[str]:
    done = pulumi(stack, "refresh", "--yes", "--skip-preview", "--clear-pending-creates")
    said = done.stdout + done.stderr
    if done.returncode != 0 and "is currently locked" in said and stale_lock(said):
        print("recover: the stack's lock belongs to a process of this machine that is gone: pulumi cancel")
        cancelled = pulumi(stack, "cancel", "--yes")
        if cancelled.returncode != 0:
            return cancelled
        done = pulumi(stack, "refresh", "--yes", "--skip-preview", "--clear-pending-creates")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stack")
    stack = parser.parse_args(argv).stack
    exported = pulumi(stack, "stack", "export")
    if exported.returncode != 0:
        print(f"recover: pulumi stack export failed:\n{exported.stderr}", file=sys.stderr)
        return 1
    deployment = json.loads(exported.stdout).get("deployment", {})
    pending = pending_creates(deployment)
    others = len(deployment.get("pending_operations") or []) - len(pending)
    print(f"recover: {len(pending)} pending creates, {others} other pending operations in stack {stack}")
    for item in pending:
        print(f"  {item.urn.rsplit('::', 1)[-1]} ({item.type}): {remove(item)}")
    refreshed = refresh(stack)
    if refreshed.returncode != 0:
        print(f"recover: pulumi refresh failed:\n{refreshed.stdout[-3000:]}\n{refreshed.stderr}", file=sys.stderr)
        return 1
    print(f"recover: state refreshed; finish the deployment with: pulumi up --stack {stack}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
