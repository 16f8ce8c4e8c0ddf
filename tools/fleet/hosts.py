"""The fleet's hosts and their addresses: six VPS hosts and offsite-1 on the Docker network
`webstack-fleet` (10.210.0.0/24, the private network), each with a "public" loopback address
of this machine (127.0.0.11..17) where only its public ports are published; offsite-1's
services (registry, restic's sftp, webhook receiver) and where they listen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tools.fleet.common import FleetError

NETWORK = "webstack-fleet"
SUBNET = "10.210.0.0/24"
GATEWAY = "10.210.0.1"
PREFIX = "webstack-fleet"  # containers webstack-fleet-<host>, volumes webstack-fleet-<host>-docker

VPS_NAMES = ("edge-1", "app-1", "app-2", "data-1", "data-2", "monitor-1")
OFFSITE = "offsite-1"
DEFAULT_EDGE = "edge-1"
FIRST_HOST = 11  # edge-1 is 10.210.0.11 and 127.0.0.11, ..., offsite-1 .17

REGISTRY_PORT = 5000
REGISTRY_USER = "webstack"
REGISTRY_NAMESPACE = "webstack"
WEBHOOK_PORT = 9099
WEBHOOK_LOG = "/var/log/webhook.jsonl"
RESTIC_USER = "restic"
RESTIC_UID = 1000  # images/offsite/Dockerfile
RESTIC_HOME = "/srv/restic"


@dataclass(frozen=True)
class Host:
    name: str
    role: str  # "vps" or "offsite"
    private: str  # address on the fleet's network (10.210.0.x)
    public: str  # loopback address of this machine where its public ports are published
    ports: tuple[int, ...]  # published on `public`, each to the same port in the host

    @property
    def container(self) -> str:
        return f"{PREFIX}-{self.name}"

    @property
    def docker_volume(self) -> str | None:
        """The volume at /var/lib/docker of a VPS (the nested engine needs a real file system)."""
        return f"{PREFIX}-{self.name}-docker" if self.role == "vps" else None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "hostname": self.name,
            "container": self.container,
            "private": self.private,
            "public": self.public,
            "ports": list(self.ports),
            "docker_volume": self.docker_volume,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Host:
        return cls(data["name"], data["role"], data["private"], data["public"], tuple(data["ports"]))


def default_hosts(edge: str = DEFAULT_EDGE) -> tuple[Host, ...]:
    """The six VPS hosts then offsite-1; `edge` (one of the VPS) also publishes 80 and 443."""
    if edge not in VPS_NAMES:
        raise FleetError(f"edge host {edge!r}: one of {', '.join(VPS_NAMES)}")
    hosts = [
        Host(
            name,
            "vps",
            f"10.210.0.{FIRST_HOST + i}",
            f"127.0.0.{FIRST_HOST + i}",
            (22, 80, 443) if name == edge else (22,),
        )
        for i, name in enumerate(VPS_NAMES)
    ]
    n = FIRST_HOST + len(VPS_NAMES)
    hosts.append(Host(OFFSITE, "offsite", f"10.210.0.{n}", f"127.0.0.{n}", (22, REGISTRY_PORT)))
    return tuple(hosts)


def scratch_host(name: str = "scratch-1", number: int = 18) -> Host:
    """An extra bare VPS beside the fleet (10.210.0.N, 127.0.0.N, SSH only), not in fleet.json:
    for tests that install things on a host without touching the stack's hosts. `down`
    removes it with the rest (same name prefix)."""
    if number in range(FIRST_HOST, FIRST_HOST + len(VPS_NAMES) + 1) or not 2 <= number <= 254:
        raise FleetError(
            f"scratch host number {number}: not one of the fleet's ({FIRST_HOST}..{FIRST_HOST + 6}), within 2..254"
        )
    return Host(name, "vps", f"10.210.0.{number}", f"127.0.0.{number}", (22,))
