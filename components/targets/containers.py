"""Pulumi helpers that several components share: container defaults, env, endpoints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_docker as docker

from components.capacity import EXPORTER
from components.render.logs import DOCKER_LOG_OPTS, LABELS
from components.targets.vps_host import VpsHost

# Every container: restart on failure or reboot, rotated logs that name the container's
# stack, service and replica in each line (what the log shipper files them under).
RESTART = "unless-stopped"
LOG_DRIVER = "json-file"
LOG_OPTS = DOCKER_LOG_OPTS


def container_labels(stack: str, service: str, replica: str | None = None) -> list[docker.ContainerLabelArgs]:
    """The labels the log shipper reads (render/logs.py LABELS): stack, service, replica."""
    values = {"stack": stack, "service": service, "replica": replica}
    return [
        docker.ContainerLabelArgs(label=LABELS[key], value=value) for key, value in values.items() if value is not None
    ]


def container_defaults(
    *,
    memory_mb: int,
    stack: str,
    service: str,
    replica: str | None = None,
    cpus: float | None = None,
    host_pid: bool = False,
) -> dict[str, Any]:
    """Keyword arguments every webstack container gets: restart, rotated and labelled logs,
    limits (`host_pid`: it shares the host's PIDs). `service` and `replica` are what its
    log lines are found by (a replica's index, or the host where each host has one)."""
    defaults: dict[str, Any] = {
        "restart": RESTART,
        "log_driver": LOG_DRIVER,
        "log_opts": LOG_OPTS,
        "labels": container_labels(stack, service, replica),
        "memory": memory_mb,
        # memory + swap = memory: no swap on top of the limit. Unset, Docker allows twice the
        # limit, reports it back, and every preview would show a diff on memorySwap.
        "memory_swap": memory_mb,
        "security_opts": ["no-new-privileges:true"],
        "must_run": True,
    }
    if host_pid:
        # Docker turns SELinux labelling off for a container in the host's PID namespace and
        # reports `label=disable` back: declared, so that a refresh finds no drift.
        defaults["pid_mode"] = "host"
        defaults["security_opts"] = ["label=disable", "no-new-privileges:true"]
    if cpus is not None:
        defaults["cpus"] = str(cpus)
    return defaults


class HostImages:
    """Each image pulled once per host, under a component: `{name}-{kind}-image-{host}`."""

    def __init__(self, owner: pulumi.Resource, name: str) -> None:
        self._owner, self._name = owner, name
        self._pulled: dict[tuple[str, str], docker.RemoteImage] = {}

    def on(self, host: VpsHost, kind: str, image: str) -> docker.RemoteImage:
        key = (host.name, kind)
        if key not in self._pulled:
            self._pulled[key] = docker.RemoteImage(
                f"{self._name}-{kind}-image-{host.name}",
                name=image,
                keep_locally=True,
                opts=pulumi.ResourceOptions(parent=self._owner, provider=host.docker),
            )
        return self._pulled[key]


def http_healthcheck(url: str, *, interval_s: int = 10) -> docker.ContainerHealthcheckArgs:
    # wget (busybox) or curl, whichever the image carries.
    probe = f"wget -q -O /dev/null {url} || curl -fsS -o /dev/null {url} || exit 1"
    return docker.ContainerHealthcheckArgs(
        tests=["CMD-SHELL", probe],
        interval=f"{interval_s}s",
        timeout="5s",
        retries=3,
        start_period="20s",
    )


def command_healthcheck(*command: str, interval_s: int = 10) -> docker.ContainerHealthcheckArgs:
    return docker.ContainerHealthcheckArgs(
        tests=["CMD-SHELL", " ".join(command)],
        interval=f"{interval_s}s",
        timeout="5s",
        retries=3,
        start_period="20s",
    )


def env_list(
    plain: Mapping[str, str], secret: Mapping[str, pulumi.Input[str]] | None = None
) -> pulumi.Output[list[str]]:
    """Container env as KEY=VALUE; secret when any secret value is in it."""
    items = [pulumi.Output.from_input(f"{k}={v}") for k, v in sorted(plain.items())]
    for key, value in sorted((secret or {}).items()):
        items.append(pulumi.Output.secret(pulumi.Output.concat(key, "=", value)))
    if not items:
        return pulumi.Output.from_input([])
    return pulumi.Output.all(*items).apply(list)


def uploads(
    files: Mapping[str, pulumi.Input[str]], *, secret: Sequence[str] = (), executable: Sequence[str] = ()
) -> list[docker.ContainerUploadArgs]:
    """Files baked into a container at creation; listed secret paths stay secret."""
    return [
        docker.ContainerUploadArgs(
            file=path,
            content=pulumi.Output.secret(content) if path in secret else content,
            executable=path in executable or None,
        )
        for path, content in sorted(files.items())
    ]


@dataclass(frozen=True)
class Endpoint:
    """Where one container listens, as seen from its own host and from the others."""

    host: str
    local: pulumi.Output[str]
    remote: pulumi.Output[str] | None

    def from_host(self, host: str) -> pulumi.Output[str]:
        if host == self.host or self.remote is None:
            return self.local
        return self.remote


def endpoint(container: docker.Container, *, host: str, internal_address: str, port: int, published: bool) -> Endpoint:
    local = pulumi.Output.concat(container.name, ":", str(port))
    remote = None
    if published:
        remote = container.ports.apply(lambda ports: f"{internal_address}:{_external(ports, port)}")
    return Endpoint(host=host, local=local, remote=remote)


def internal_port(port: int, address: str, external: int | None = None) -> docker.ContainerPortArgs:
    """Publish a container port on the private address only, on a fixed host port (the
    container port by default): a port Docker picked would change when the container
    restarts, and other hosts would lose it."""
    return docker.ContainerPortArgs(internal=port, external=external or port, ip=address)


def _external(ports: Sequence[docker.outputs.ContainerPort] | None, internal: int) -> int:
    for port in ports or []:
        if port.internal == internal and port.external:
            return int(port.external)
    return internal


def exporter(
    resource_name: str,
    *,
    host: VpsHost,
    stack: str,
    service: str,
    image: pulumi.Input[str],
    port: int,
    parent: pulumi.Resource,
    depends_on: list[pulumi.Resource],
    command: list[str] | None = None,
    envs: pulumi.Input[list[str]] | None = None,
    healthcheck: docker.ContainerHealthcheckArgs | None = None,
) -> Endpoint:
    """A Prometheus exporter beside what it watches (`service`, e.g. redis-exporter, names its
    container webstack-<stack>-<service> and its log lines): nobody, 64 MB, private port only."""
    container = docker.Container(
        resource_name,
        name=f"webstack-{stack}-{service}",
        image=image,
        command=command,
        envs=envs,
        networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=host.network_name)],
        ports=[internal_port(port, host.internal_address)] if host.multi_host else [],
        healthcheck=healthcheck,
        user="65534:65534",
        **container_defaults(memory_mb=EXPORTER.memory_mb, stack=stack, service=service),
        opts=pulumi.ResourceOptions(
            parent=parent, provider=host.docker, depends_on=depends_on, delete_before_replace=True
        ),
    )
    return endpoint(
        container, host=host.name, internal_address=host.internal_address, port=port, published=host.multi_host
    )
