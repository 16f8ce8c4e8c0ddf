"""The key file that Docker's ssh client uses to reach the hosts (`ssh://deploy@host`).

The command provider takes the key as a value, but the Docker provider runs the system's
`ssh`, which needs a file: the stack's key is written (0600) under the state directory,
`.webstack/<stack>/ssh/` beside the program (or $WEBSTACK_STATE_DIR/<stack>/ssh/), with
the hosts' keys learnt on first contact in a known_hosts file of the stack's own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from components.config.stackfile import PROJECT_DIR

STATE_DIR_ENV = "WEBSTACK_STATE_DIR"


@dataclass(frozen=True)
class SshIdentity:
    key_file: Path
    known_hosts: Path

    def ssh_options(self) -> list[str]:
        return [
            "-i",
            str(self.key_file),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=20",
        ]


def state_dir(stack: str) -> Path:
    root = os.environ.get(STATE_DIR_ENV)
    return (Path(root) if root else PROJECT_DIR / ".webstack") / stack


def write_ssh_identity(stack: str, private_key: str) -> SshIdentity:
    """Write the key where only its owner reads it; rewrite it only when it changed."""
    directory = state_dir(stack) / "ssh"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_file = directory / "id"
    text = private_key if private_key.endswith("\n") else private_key + "\n"
    if not key_file.exists() or key_file.read_text() != text:
        temporary = directory / "id.tmp"
        temporary.unlink(missing_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        temporary.replace(key_file)
    return SshIdentity(key_file=key_file, known_hosts=directory / "known_hosts")
