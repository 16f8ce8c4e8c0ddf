"""tools.recover: which pending creates of an interrupted update leave something on a host."""

from __future__ import annotations

import os
import socket
import subprocess

from tools.recover import PendingCreate, pending_creates, stale_lock

PROVIDER = "urn:pulumi:local::webstack::webstack:host:VpsHost$pulumi:providers:docker::local-docker"
CONTAINER = "urn:pulumi:local::webstack::webstack:app:AppTier$docker:index/container:Container::app-backend-0"
PASSWORD = "urn:pulumi:local::webstack::webstack:app:AppTier$random:index/randomPassword:RandomPassword::secret"


def test_pending_creates_name_the_docker_object_and_its_host() -> None:
    deployment = {
        "resources": [{"urn": PROVIDER, "id": "0a1b", "inputs": {"host": "ssh://deploy@10.0.0.2:22"}}],
        "pending_operations": [
            {
                "type": "creating",
                "resource": {
                    "urn": CONTAINER,
                    "type": "docker:index/container:Container",
                    "inputs": {"name": "app-backend-0-1f2e3d4"},
                    "provider": f"{PROVIDER}::0a1b",
                },
            },
            {"type": "creating", "resource": {"urn": PASSWORD, "type": "random:index/randomPassword:RandomPassword"}},
            {"type": "updating", "resource": {"urn": CONTAINER, "type": "docker:index/container:Container"}},
        ],
    }
    assert pending_creates(deployment) == [
        PendingCreate(
            CONTAINER, "docker:index/container:Container", "app-backend-0-1f2e3d4", "ssh://deploy@10.0.0.2:22"
        ),
        PendingCreate(PASSWORD, "random:index/randomPassword:RandomPassword", None, None),
    ]


def test_a_clean_state_has_no_pending_creates() -> None:
    assert pending_creates({"resources": [], "pending_operations": None}) == []
    assert pending_creates({}) == []


def test_only_a_lock_of_a_gone_process_on_this_machine_is_stale() -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    here = socket.gethostname()
    assert stale_lock(f"error: ... created by root@{here} (pid {gone.pid}) at 2026-12-01T21:30:03Z")
    assert not stale_lock(f"created by root@{here} (pid {os.getpid()}) at ...")  # still running
    assert not stale_lock(f"created by root@another-machine (pid {gone.pid}) at ...")
    assert not stale_lock("error: the stack is currently locked")
