"""The real engine for these tests: built (or found) by engine/ensure.sh, each test on a copy
of the project with its own file backend and PULUMI_HOME."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from components.config.stackfile import PROJECT_DIR
from tools.local_stack import docker
from tools.sandbox import Project, copy_project
from tools.sandbox import pulumi as run_pulumi

__all__ = ["Project", "copy_project", "docker", "engine_with", "local_images", "pulumi"]


@pytest.fixture
def project(tmp_path: Path, engine_bin: Path) -> Project:
    return copy_project(tmp_path, engine_bin)


def pulumi(project: Project, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = run_pulumi(project, *args)
    if check:
        assert done.returncode == 0, f"pulumi {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def engine_with(*plugins: str) -> Path:
    """engine/build.sh core + these plugins (engine/plugins): the bin dir holding them all."""
    done = subprocess.run(
        [str(PROJECT_DIR / "engine" / "build.sh"), "core", *plugins], capture_output=True, text=True, timeout=3000
    )
    assert done.returncode == 0, f"engine/build.sh core {' '.join(plugins)} failed:\n{done.stderr[-4000:]}"
    path = Path(done.stdout.strip().splitlines()[-1])
    for plugin in plugins:
        assert (path / f"pulumi-resource-{plugin}").exists(), f"pulumi-resource-{plugin} missing from {path}"
    return path


def local_images(*names: str) -> dict[str, str]:
    """A running Docker engine and the local images (all, or these): name -> tag."""
    for script, args in (("scripts/docker-engine.sh", ()), ("images/build.sh", names)):
        done = subprocess.run(["bash", str(PROJECT_DIR / script), *args], capture_output=True, text=True, timeout=1700)
        assert done.returncode == 0, f"{script}: {done.stderr[-6000:]}"
    listing = subprocess.run(
        ["bash", str(PROJECT_DIR / "images" / "build.sh"), "--list"], capture_output=True, text=True, check=True
    )
    return dict(line.split() for line in listing.stdout.splitlines() if line.strip())
