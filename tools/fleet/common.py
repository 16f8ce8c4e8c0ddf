"""What every part of the fleet tool shares: where the repository and the state dir are,
the error it raises, how it says what it does, and running commands (docker among them).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

STATE_ENV = "WEBSTACK_FLEET_DIR"

Log = Callable[[str], None]


class FleetError(RuntimeError):
    """The fleet cannot run (or did not come up): the message says what is missing and how to get it."""


def say(message: str) -> None:
    print(f"fleet: {message}", file=sys.stderr, flush=True)


def state_dir() -> Path:
    return Path(os.environ.get(STATE_ENV) or Path.home() / ".cache" / "webstack" / "fleet").expanduser()


def run(
    args: Sequence[str],
    *,
    input: str | bytes | None = None,
    timeout: float = 600,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    data = input.encode() if isinstance(input, str) else input
    done = subprocess.run(list(args), input=data, capture_output=True, timeout=timeout, env=env)
    result = subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    )
    if check and done.returncode != 0:
        raise FleetError(f"{shlex.join(args)}: exit {done.returncode}\n{result.stderr.strip()[-3000:]}")
    return result


def docker(
    *args: str, input: str | bytes | None = None, timeout: float = 600, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run(["docker", *args], input=input, timeout=timeout, check=check)


class Timer:
    """Steps and their wall times, said as they end."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.steps: dict[str, float] = {}

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        yield
        seconds = time.monotonic() - started
        self.steps[name] = round(self.steps.get(name, 0) + seconds, 2)
        self.log(f"{name}: {seconds:.1f}s")


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """One fleet command at a time per state dir."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hash_dir(directory: Path) -> str:
    lines = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        if "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        lines.append(f"{_sha(path.read_bytes())} {path.relative_to(directory)}")
    return _sha("\n".join(lines).encode())
