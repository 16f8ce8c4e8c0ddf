"""Session-wide settings for every test."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.config.stackfile import PROJECT_DIR
from components.targets.ssh_identity import STATE_DIR_ENV


@pytest.fixture(autouse=True, scope="session")
def _state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Stacks built in tests write their SSH key files here, not beside the checkout."""
    path = tmp_path_factory.mktemp("webstack-state")
    previous = os.environ.get(STATE_DIR_ENV)
    os.environ[STATE_DIR_ENV] = str(path)
    yield path
    if previous is None:
        os.environ.pop(STATE_DIR_ENV, None)
    else:
        os.environ[STATE_DIR_ENV] = previous


@pytest.fixture(scope="session")
def engine_bin() -> Path:
    done = subprocess.run([str(PROJECT_DIR / "engine" / "ensure.sh")], capture_output=True, text=True, timeout=1700)
    assert done.returncode == 0, f"engine/ensure.sh failed:\n{done.stderr[-3000:]}"
    path = Path(done.stdout.strip().splitlines()[-1])
    assert (path / "pulumi").exists(), path
    return path


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
