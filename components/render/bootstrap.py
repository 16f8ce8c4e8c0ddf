"""The first-boot script of a VPS host: Docker, a deploy user, firewall, fail2ban, tuning.

Pure: no Pulumi import. The script is idempotent (it runs again whenever its text
changes) and written for Debian and Ubuntu.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from components.render.shell import shell_templates

# The seeds' system limits (004, "System Limits").
SYSCTL: dict[str, str] = {
    "fs.file-max": "2097152",
    "net.core.somaxconn": "65535",
    "net.ipv4.tcp_max_syn_backlog": "8192",
    "net.ipv4.ip_local_port_range": "1024 65535",
    "vm.swappiness": "10",
}
LIMITS: dict[str, int] = {"nofile": 65536, "nproc": 32768}


@dataclass(frozen=True)
class BootstrapSpec:
    hostname: str
    deploy_user: str
    config_root: str
    ssh_port: int = 22
    # Other hosts of the stack: allowed to reach every port over the private network.
    private_peers: tuple[str, ...] = ()
    # Ports the world may reach besides SSH: the edge's HTTP and HTTPS, on the edge host only.
    public_ports: tuple[int, ...] = ()
    # A private registry (host[:port]) and the PEM of the CA its certificate is signed by.
    registry_server: str | None = None
    registry_ca: str | None = None
    sysctl: dict[str, str] = field(default_factory=lambda: dict(SYSCTL))
    limits: dict[str, int] = field(default_factory=lambda: dict(LIMITS))


def render_bootstrap_script(spec: BootstrapSpec) -> str:
    ports = sorted({*spec.public_ports, spec.ssh_port})
    return shell_templates().get_template("host/bootstrap.sh.j2").render(spec=spec, ports=ports)
