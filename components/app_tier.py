"""AppTier: the services (back end, front end) as replicas spread over the app hosts.

Replica containers are named by the provider (a random suffix), so a change that
replaces them creates the new ones first; they must be healthy (`wait`) before the
edge's upstreams switch to them, and the old ones are deleted last: a rolling
replacement with no failed request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from .config import Platform, ServiceConfig, StackConfig
from .vps_host import VpsHost
from .wiring import Endpoint, container_defaults, endpoint, env_list, http_healthcheck, internal_port


@dataclass
class AppTierArgs:
    config: StackConfig
    stack: str
    hosts: dict[str, VpsHost]
    platform: Platform
    # The Redis URL as a given host reaches it (secret), for services that use Redis.
    redis_url_for: Callable[[str], pulumi.Output[str]] | None = None


class AppTier(pulumi.ComponentResource):
    replicas: dict[str, list[Endpoint]]
    metrics: dict[str, list[Endpoint]]
    containers: dict[str, list[docker.Container]]

    def __init__(self, name: str, args: AppTierArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("webstack:app:AppTier", name, None, opts)
        self.replicas, self.metrics, self.containers = {}, {}, {}
        if args.platform != "docker":
            raise ValueError(f"AppTier: platform {args.platform!r} is not available; allowed: 'docker'")
        for service_name, service in sorted(args.config.services.items()):
            self._service(name, service_name, service, args)
        self.register_outputs(
            {
                "services": {
                    s: {"image": c.image, "replicas": c.replicas, "path": c.path}
                    for s, c in args.config.services.items()
                }
            }
        )

    def upstreams_from(self, host: str) -> pulumi.Output[dict[str, list[str]]]:
        """Each service's replica addresses as `host` (the edge's) reaches them."""
        per_service = {
            service: pulumi.Output.all(*[e.from_host(host) for e in endpoints])
            for service, endpoints in self.replicas.items()
        }
        return pulumi.Output.all(**per_service).apply(lambda d: {k: list(v) for k, v in d.items()})

    def _service(self, name: str, service_name: str, service: ServiceConfig, args: AppTierArgs) -> None:
        base = f"{name}-{service_name}"
        generated: dict[str, pulumi.Output[str]] = {}
        for env_name, ref in sorted(service.secret_env.items()):
            if ref.generate is not None:
                password = random.RandomPassword(
                    f"{base}-{env_name.lower().replace('_', '-')}",
                    length=ref.generate,
                    special=False,
                    opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["result"]),
                )
                generated[env_name] = pulumi.Output.secret(password.result)
        configured = {
            env_name: pulumi.Output.secret(args.config.secret(ref.config) or "")
            for env_name, ref in service.secret_env.items()
            if ref.config is not None
        }

        images: dict[str, docker.RemoteImage] = {}
        self.replicas[service_name], self.metrics[service_name], self.containers[service_name] = [], [], []
        for index in range(service.replicas):
            host = args.hosts[service.hosts[index % len(service.hosts)]]
            if host.name not in images:
                images[host.name] = docker.RemoteImage(
                    f"{base}-image-{host.name}",
                    name=service.image,
                    keep_locally=True,
                    opts=pulumi.ResourceOptions(parent=self, provider=host.docker),
                )
            secret_env: dict[str, pulumi.Input[str]] = {**configured, **generated}
            if service.uses_redis and args.redis_url_for is not None:
                secret_env["REDIS_URL"] = args.redis_url_for(host.name)
            replica = f"{service_name}-{index}"
            plain_env = {
                **service.env,
                "PORT": str(service.port),
                "WEBSTACK_SERVICE": service_name,
                "WEBSTACK_REPLICA": replica,
                "WEBSTACK_ENVIRONMENT": args.config.environment,
            }
            container = docker.Container(
                f"{base}-{index}",
                image=images[host.name].image_id,
                envs=env_list(plain_env, secret_env),
                user=service.user,
                networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=host.network_name, aliases=[replica])],
                ports=[internal_port(service.port, host.internal_address)] if host.multi_host else [],
                healthcheck=http_healthcheck(f"http://127.0.0.1:{service.port}{service.health_path}"),
                capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"]),
                labels=[
                    docker.ContainerLabelArgs(label="webstack.stack", value=args.stack),
                    docker.ContainerLabelArgs(label="webstack.service", value=service_name),
                    docker.ContainerLabelArgs(label="webstack.replica", value=replica),
                ],
                wait=True,
                wait_timeout=180,
                **container_defaults(memory_mb=service.memory_mb, cpus=service.cpus),
                opts=pulumi.ResourceOptions(parent=self, provider=host.docker),
            )
            self.containers[service_name].append(container)
            reach = endpoint(
                container,
                host=host.name,
                internal_address=host.internal_address,
                port=service.port,
                published=host.multi_host,
            )
            self.replicas[service_name].append(reach)
            if service.metrics_path:
                self.metrics[service_name].append(reach)
