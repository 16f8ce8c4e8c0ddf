"""The `Fleet` a caller gets (from `start()` or `load()`): its hosts, the files in its state
dir, offsite-1's services as seen from this machine and from the hosts, SSH to any host,
and fleet.json. Also the pushed images and their names in the registry.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.fleet.common import FleetError
from tools.fleet.hosts import (
    DEFAULT_EDGE,
    GATEWAY,
    NETWORK,
    REGISTRY_NAMESPACE,
    REGISTRY_PORT,
    REGISTRY_USER,
    RESTIC_HOME,
    RESTIC_USER,
    SUBNET,
    WEBHOOK_LOG,
    WEBHOOK_PORT,
    Host,
)
from tools.fleet.images import LOCAL_PREFIX


@dataclass(frozen=True)
class PushedImage:
    local: str  # webstack-local/nginx:bookworm
    public: str  # 127.0.0.17:5000/webstack/nginx:bookworm (from this machine)
    private: str  # 10.210.0.17:5000/webstack/nginx:bookworm (from the hosts)
    digest: str  # sha256:... of the manifest in the registry


@dataclass(frozen=True)
class Fleet:
    state_dir: Path
    hosts: tuple[Host, ...]
    edge: str = DEFAULT_EDGE
    images: tuple[PushedImage, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)

    # Files in the state dir.
    @property
    def key(self) -> Path:
        """root's SSH private key on every host (ed25519)."""
        return self.state_dir / "id_ed25519"

    @property
    def restic_key(self) -> Path:
        """restic's SSH private key on offsite-1 (sftp only)."""
        return self.state_dir / "restic_ed25519"

    @property
    def ca(self) -> Path:
        """The test CA's certificate: it signed the registry's; every host trusts it."""
        return self.state_dir / "ca.crt"

    @property
    def registry_password_file(self) -> Path:
        return self.state_dir / "registry.password"

    @property
    def docker_config(self) -> Path:
        """A DOCKER_CONFIG dir logged in to the registry (not the user's ~/.docker)."""
        return self.state_dir / "docker-config"

    @property
    def json_file(self) -> Path:
        return self.state_dir / "fleet.json"

    # The hosts.
    def host(self, name: str | Host) -> Host:
        if isinstance(name, Host):
            return name
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(f"no host {name!r} in the fleet ({', '.join(h.name for h in self.hosts)})")

    @property
    def vps(self) -> tuple[Host, ...]:
        return tuple(h for h in self.hosts if h.role == "vps")

    @property
    def offsite(self) -> Host:
        return next(h for h in self.hosts if h.role == "offsite")

    # offsite-1's services.
    @property
    def registry(self) -> str:
        """The registry from this machine: 127.0.0.17:5000."""
        return f"{self.offsite.public}:{REGISTRY_PORT}"

    @property
    def registry_private(self) -> str:
        """The registry from the hosts: 10.210.0.17:5000."""
        return f"{self.offsite.private}:{REGISTRY_PORT}"

    @property
    def registry_user(self) -> str:
        return REGISTRY_USER

    @property
    def registry_password(self) -> str:
        return self.registry_password_file.read_text().strip()

    @property
    def webhook_url(self) -> str:
        return f"http://{self.offsite.private}:{WEBHOOK_PORT}/"

    @property
    def restic_repository_prefix(self) -> str:
        """Prefix of restic repositories on offsite-1: add "/<name>"."""
        return f"sftp:{RESTIC_USER}@{self.offsite.private}:{RESTIC_HOME}"

    def image(self, local: str, *, private: bool = True) -> str:
        """The registry's name of a local image (webstack-local/NAME:TAG), from the hosts
        (private) or from this machine."""
        return f"{self.registry_private if private else self.registry}/{registry_path(local)}"

    # SSH.
    def ssh_options(self, key: Path | None = None) -> list[str]:
        return [
            "-F", "none",
            "-i", str(key or self.key),
            "-o", "IdentitiesOnly=yes",
            "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes",
            "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=5",
        ]  # fmt: skip

    def ssh_command(self, host: str | Host, *, user: str = "root", key: Path | None = None) -> list[str]:
        """argv of `ssh` to a host's public address (append the remote command)."""
        return ["ssh", *self.ssh_options(key), f"{user}@{self.host(host).public}"]

    def ssh(
        self,
        host: str | Host,
        command: str,
        *,
        user: str = "root",
        key: Path | None = None,
        input: str | None = None,
        timeout: float = 300,
        check: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run `command` (a shell command line) on a host over SSH, from this machine."""
        done = subprocess.run(
            [*self.ssh_command(host, user=user, key=key), command],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and done.returncode != 0:
            raise FleetError(f"ssh {self.host(host).name} {command!r}: exit {done.returncode}\n{done.stderr}")
        return done

    # fleet.json.
    def to_json(self) -> dict[str, Any]:
        offsite = self.offsite
        return {
            "version": 1,
            "state_dir": str(self.state_dir),
            "network": {"name": NETWORK, "subnet": SUBNET, "gateway": GATEWAY},
            "edge": self.edge,
            "hosts": [h.to_json() for h in self.hosts],
            "ssh": {
                "user": "root",
                "key": str(self.key),
                "public_key": str(self.key) + ".pub",
                "options": self.ssh_options(),
            },
            "ca": str(self.ca),
            "registry": {
                "host": offsite.name,
                "public": self.registry,
                "private": self.registry_private,
                "namespace": REGISTRY_NAMESPACE,
                "user": self.registry_user,
                "password_file": str(self.registry_password_file),
                "docker_config": str(self.docker_config),
            },
            "restic": {
                "user": RESTIC_USER,
                "key": str(self.restic_key),
                "home": RESTIC_HOME,
                "repository_prefix": self.restic_repository_prefix,
            },
            "webhook": {"host": offsite.name, "url": self.webhook_url, "log": WEBHOOK_LOG},
            "images": [vars(i) for i in self.images],
            "timings": self.timings,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fleet:
        return cls(
            state_dir=Path(data["state_dir"]),
            hosts=tuple(Host.from_json(h) for h in data["hosts"]),
            edge=data["edge"],
            images=tuple(PushedImage(**i) for i in data.get("images", [])),
            timings=dict(data.get("timings", {})),
        )


def registry_path(local: str) -> str:
    """webstack-local/nginx:bookworm -> webstack/nginx:bookworm (the registry's repository)."""
    name, _, tag = local.rpartition(":")
    if not name or "/" in tag:
        name, tag = local, "latest"
    return f"{REGISTRY_NAMESPACE}/{name.removeprefix(LOCAL_PREFIX)}:{tag}"
