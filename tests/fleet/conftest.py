"""One fleet for every test under tests/fleet, started (or found running) once per session
with the local images built and pushed to its registry; and one deployment of the fleet
stack on it, shared by the shape checks and the drills (the files run in name order:
test_production_shape, test_survival_drills, then test_teardown destroys it)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from components.config.stackfile import PROJECT_DIR
from tools import fleet as fleet_tool
from tools.fleet import Fleet
from tools.fleet_stack import FLEET_STACK, FleetStack, deploy_fleet_stack


@pytest.fixture(scope="session")
def fleet() -> Iterator[fleet_tool.Fleet]:
    for script in ("scripts/docker-engine.sh", "images/build.sh"):
        done = subprocess.run(["bash", str(PROJECT_DIR / script)], capture_output=True, text=True, timeout=1700)
        assert done.returncode == 0, f"{script}: {done.stderr[-6000:]}"
    yield fleet_tool.start()


@pytest.fixture(scope="session")
def stack(
    fleet: Fleet, tmp_path_factory: pytest.TempPathFactory, engine_bin: Path, policy_venv: Path
) -> Iterator[FleetStack]:
    # Bare hosts, as a provider hands them over, whatever ran on them before.
    with ThreadPoolExecutor(max_workers=len(fleet.vps)) as pool:
        list(pool.map(lambda host: fleet_tool.reset_host(fleet, host, log=lambda _: None), fleet.vps))
    # A repository left by an earlier deployment has another password: this one starts afresh.
    fleet.ssh(fleet.offsite, f"rm -rf /srv/restic/{FLEET_STACK}", check=True)
    deployed = deploy_fleet_stack(tmp_path_factory.mktemp("fleet-stack"), engine_bin, fleet, policy_venv=policy_venv)
    print(f"\nscripts/up.sh {FLEET_STACK} from bare hosts: {deployed.up_seconds:.0f} s")
    try:
        yield deployed
    finally:
        if "docker:index/container:Container" in deployed.pulumi("stack", "--show-urns", check=False).stdout:
            deployed.pulumi("state", "unprotect", "--all", "--yes", check=False)
            deployed.pulumi("destroy", "--yes", "--skip-preview", check=False)


class PowerSwitch:
    """Power cuts of fleet hosts (`docker kill`: no shutdown), each host powered on again when
    the test ends, whatever its outcome, so that one failed drill does not fail the next."""

    def __init__(self) -> None:
        self.cut_off: list[str] = []

    def cut(self, container: str) -> None:
        subprocess.run(["docker", "kill", container], check=True, capture_output=True)
        self.cut_off.append(container)

    def restore(self, container: str) -> None:
        subprocess.run(["docker", "start", container], check=True, capture_output=True)


@pytest.fixture
def power() -> Iterator[PowerSwitch]:
    switch = PowerSwitch()
    yield switch
    for container in switch.cut_off:
        subprocess.run(["docker", "start", container], capture_output=True)
