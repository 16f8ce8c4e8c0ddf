"""The real engine for these tests: built (or found) by engine/ensure.sh, each test on a copy
of the project with its own file backend and PULUMI_HOME."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from components.stackfile import PROJECT_DIR


@pytest.fixture(scope="session")
def engine_bin() -> Path:
    done = subprocess.run([str(PROJECT_DIR / "engine" / "ensure.sh")], capture_output=True, text=True, timeout=1700)
    assert done.returncode == 0, f"engine/ensure.sh failed:\n{done.stderr[-3000:]}"
    path = Path(done.stdout.strip().splitlines()[-1])
    assert (path / "pulumi").exists(), path
    return path


Project = tuple[Path, dict[str, str]]


def copy_project(root: Path, bin_dir: Path, passphrase: str = "webstack-local-only") -> Project:
    """A copy of the project (tracked and new files, not ignored ones) under `root`, with its
    own file backend and PULUMI_HOME, and the engine in `bin_dir` first on PATH."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    copy = root / "project"
    for name in files.stdout.splitlines():
        source = PROJECT_DIR / name
        if source.is_file():
            target = copy / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (copy / "venv").symlink_to(PROJECT_DIR / "venv")
    (root / "state").mkdir()
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PULUMI_HOME": str(root / "home"),
        "PULUMI_BACKEND_URL": f"file://{root / 'state'}",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_CONFIG_PASSPHRASE": passphrase,
    }
    return copy, env


@pytest.fixture
def project(tmp_path: Path, engine_bin: Path) -> Project:
    return copy_project(tmp_path, engine_bin)


@pytest.fixture(scope="session")
def policy_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One virtualenv with the policy pack's requirements, linked as policy/venv into copies."""
    venv = tmp_path_factory.mktemp("policy-venv") / "venv"
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "-r", str(PROJECT_DIR / "policy" / "requirements.txt")],
        check=True,
        timeout=900,
    )
    return venv


def pulumi(project: Project, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    directory, env = project
    done = subprocess.run(
        ["pulumi", *args, "--non-interactive"], cwd=directory, env=env, capture_output=True, text=True, timeout=600
    )
    if check:
        assert done.returncode == 0, f"pulumi {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done
