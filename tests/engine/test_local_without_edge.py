"""The local stack, minus its edge, deployed for real: the real engine with the docker and
random plugins built here, on the local Docker engine, with the local image set.

The edge needs pulumi-command, which cannot be built here (engine/NOTES.md), so the program
is tests/engine/programs/local_without_edge.py: the same config loading and the same
components as build_stack, without NginxEdge. After `pulumi up`: every Prometheus target is
up and the alert rules are loaded, Redis refuses a client without the password, a backup
run leaves restic snapshots, a second preview shows no changes, the state holds no
generated secret in plaintext, and `pulumi destroy` removes every container and network.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Project, copy_project, docker, engine_with, local_images, pulumi

pytestmark = pytest.mark.timeout(3600)

STACK = "local"
PROGRAM = Path(__file__).with_name("programs") / "local_without_edge.py"


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory, engine_bin: Path) -> Iterator[Project]:
    local_images()
    bin_dir = engine_with("docker", "random")

    project = copy_project(tmp_path_factory.mktemp("local-without-edge"), bin_dir)
    directory, env = project
    shutil.copy2(PROGRAM, directory / "__main__.py")
    env["WEBSTACK_IMAGE_SOURCE"] = "local"
    pulumi(project, "stack", "init", STACK)
    try:
        pulumi(project, "up", "--yes", "--skip-preview", "--stack", STACK)
        yield project
    finally:
        pulumi(project, "destroy", "--yes", "--skip-preview", "--stack", STACK, check=False)


def _state(project: Project) -> dict[str, Any]:
    exported = pulumi(project, "stack", "export", "--stack", STACK).stdout
    return json.loads(exported)


def _resources(project: Project, type_: str) -> list[dict[str, Any]]:
    return [r for r in _state(project)["deployment"]["resources"] if r["type"] == type_]


def _secret_output(project: Project, name: str) -> str:
    return pulumi(project, "stack", "output", name, "--show-secrets", "--stack", STACK).stdout.strip()


def _prometheus(path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:19090{path}", timeout=10) as response:
        return json.load(response)


def test_every_container_runs_healthy(deployed: Project) -> None:
    containers = _resources(deployed, "docker:index/container:Container")
    assert len(containers) == 9
    deadline = time.monotonic() + 120
    for container in containers:
        name = container["outputs"]["name"]
        while True:
            state = json.loads(docker("inspect", name).stdout)[0]["State"]
            health = state.get("Health", {}).get("Status", "none")
            if state["Running"] and health in ("healthy", "none"):
                break
            assert time.monotonic() < deadline, f"{name}: {state['Status']}, health {health}"
            time.sleep(1)


def test_prometheus_scrapes_every_target_and_loads_the_rules(deployed: Project) -> None:
    deadline = time.monotonic() + 120
    while True:
        targets = _prometheus("/api/v1/targets")["data"]["activeTargets"]
        down = [(t["scrapeUrl"], t["health"], t["lastError"]) for t in targets if t["health"] != "up"]
        if targets and not down:
            break
        assert time.monotonic() < deadline, down
        time.sleep(2)
    jobs: dict[str, int] = {}
    for target in targets:
        jobs[target["labels"]["job"]] = jobs.get(target["labels"]["job"], 0) + 1
    # The local stack: two back-end replicas, one front end; no edge here.
    assert jobs == {"alertmanager": 1, "app-backend": 2, "app-frontend": 1, "node": 1, "prometheus": 1, "redis": 1}
    groups = {g["name"]: len(g["rules"]) for g in _prometheus("/api/v1/rules")["data"]["groups"]}
    assert {"webstack-app", "webstack-redis", "webstack-hosts", "webstack-backups", "webstack-targets"} <= set(groups)
    assert all(count > 0 for count in groups.values()), groups


def test_redis_refuses_a_client_without_the_password(deployed: Project) -> None:
    assert "NOAUTH" in docker("exec", "webstack-local-redis", "redis-cli", "ping").stdout
    password = _secret_output(deployed, "redisPassword")
    assert len(password) >= 32
    authed = docker("exec", "-e", f"REDISCLI_AUTH={password}", "webstack-local-redis", "redis-cli", "ping")
    assert authed.stdout.strip() == "PONG"


def test_a_backup_run_leaves_restic_snapshots(deployed: Project) -> None:
    env = ". /run/webstack-backup.env &&"
    ran = docker("exec", "webstack-local-backup", "sh", "-c", f"{env} /etc/webstack-backup/backup.sh")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    listed = docker("exec", "webstack-local-backup", "sh", "-c", f"{env} restic snapshots --json")
    snapshots = json.loads(listed.stdout)
    assert {"redis"} <= {tag for snapshot in snapshots for tag in snapshot.get("tags", [])}, snapshots


def test_a_second_preview_changes_nothing(deployed: Project) -> None:
    pulumi(deployed, "preview", "--expect-no-changes", "--stack", STACK)


def test_state_holds_no_generated_secret_in_plaintext(deployed: Project) -> None:
    state = json.dumps(_state(deployed))
    password = _secret_output(deployed, "redisPassword")
    assert password and password not in state
    assert "ciphertext" in state


def test_destroy_removes_every_container_and_network(deployed: Project) -> None:
    containers = [r["outputs"]["name"] for r in _resources(deployed, "docker:index/container:Container")]
    networks = [r["outputs"]["name"] for r in _resources(deployed, "docker:index/network:Network")]
    assert containers and networks
    pulumi(deployed, "destroy", "--yes", "--skip-preview", "--stack", STACK)
    for name in containers:
        assert docker("container", "inspect", name).returncode != 0, f"container {name} is still there"
    for name in networks:
        assert docker("network", "inspect", name).returncode != 0, f"network {name} is still there"
