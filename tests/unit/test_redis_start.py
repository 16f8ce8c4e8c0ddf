"""The Redis start command's choice of role, run by dash against stand-in Sentinels.

`redis-cli` and `redis-server` are stand-ins on PATH (the fleet drill runs the real ones):
each Sentinel answers `SENTINEL MASTER` as Redis 7 prints it without a terminal (one field a
line), or not at all. The node follows the answer with the highest config epoch.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from components.render.redis import redis_start

SENTINELS = ["10.0.0.13:26379", "10.0.0.15:26379", "10.0.0.16:26379"]
ME = "10.0.0.13 6379"


def master(ip: str, epoch: int) -> str:
    return "\n".join(["name", "webstack", "ip", ip, "port", "6379", "flags", "master", "config-epoch", str(epoch)])


def start(tmp_path: Path, answers: dict[str, str | None]) -> tuple[str, str]:
    """(the role lines the node was started with, what it said on stderr)."""
    shell = shutil.which("dash") or shutil.which("sh")
    assert shell, "no POSIX shell"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for host, answer in answers.items():
        if answer is not None:
            (tmp_path / f"answer-{host}").write_text(answer + "\n")
    (bin_dir / "redis-cli").write_text(
        f'#!/bin/sh\n[ -f "{tmp_path}/answer-$2" ] || exit 1\ncat "{tmp_path}/answer-$2"\n'
    )
    (bin_dir / "redis-server").write_text(f'#!/bin/sh\ncat "{tmp_path}/auth.conf"\n')
    for tool in ("redis-cli", "redis-server"):
        (bin_dir / tool).chmod(0o755)
    script = redis_start(sentinels=SENTINELS, announce=ME).replace("/tmp/auth.conf", str(tmp_path / "auth.conf"))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "REDIS_PASSWORD": "pw"}
    done = subprocess.run([shell, "-c", script], capture_output=True, text=True, env=env, timeout=30)
    assert done.returncode == 0, done.stderr
    return "\n".join(line for line in done.stdout.splitlines() if line.startswith("replicaof")), done.stderr


@pytest.mark.parametrize(
    ("answers", "role", "said"),
    [
        # The Sentinel beside this node came back from its config file (epoch 0, the old
        # primary); the two others promoted data-2 (10.0.0.15) at epoch 1.
        (
            {
                "10.0.0.13": master("10.0.0.13", 0),
                "10.0.0.15": master("10.0.0.15", 1),
                "10.0.0.16": master("10.0.0.15", 1),
            },
            "replicaof 10.0.0.15 6379",
            "the Sentinels name 10.0.0.15 6379 primary",
        ),
        # Only the stale one answers: nothing better is known.
        ({"10.0.0.13": master("10.0.0.13", 0)}, "replicaof no one", "the Sentinels name this node primary"),
        # A switchover back gave this node the primary at a later epoch.
        (
            {
                "10.0.0.13": master("10.0.0.13", 2),
                "10.0.0.15": master("10.0.0.15", 1),
                "10.0.0.16": master("10.0.0.13", 2),
            },
            "replicaof no one",
            "the Sentinels name this node primary",
        ),
        # No Sentinel yet (the first deploy), or only errors: the configured role.
        ({}, "", "no Sentinel answered"),
        ({"10.0.0.15": "ERR No such master with that name"}, "", "no Sentinel answered"),
    ],
)
def test_the_node_follows_the_sentinel_with_the_highest_config_epoch(
    tmp_path: Path, answers: dict[str, str | None], role: str, said: str
) -> None:
    started, stderr = start(tmp_path, answers)
    assert started == role
    assert said in stderr
