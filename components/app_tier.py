"""AppTier: the services (back end, front end).

On platform docker: replicas spread over the app hosts. Replica containers are named by
the provider (a random suffix), so a change that replaces them creates the new ones
first; they must be healthy (`wait`) before the edge's upstreams switch to them, and the
old ones are deleted last: a rolling replacement with no failed request.

On platform kubernetes: per service a Deployment (probes on the health path, requests
and limits, non-root, read-only root file system where the app allows, rolling update
with maxUnavailable 0), its Secret for the secret env, a Service, a
HorizontalPodAutoscaler (when `autoscale` is set), a PodDisruptionBudget, a
NetworkPolicy (only the ingress controller, and Prometheus for metrics, reach it) and
the Ingresses of the cluster's ingress-nginx controller (TLS, HTTPS forced, per-IP rate
limits; a stricter one for the login paths).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from components.config import EdgeConfig, ServiceConfig
from components.render import kubernetes as manifests
from components.targets import Hosts, KubernetesCluster
from components.targets.containers import Endpoint, container_defaults, endpoint, env_list, http_healthcheck
from components.targets.vps_host import VpsHost


@dataclass
class AppTierArgs:
    services: dict[str, ServiceConfig]
    environment: str
    stack: str
    # The hosts by name (platform docker) or the cluster (platform kubernetes).
    target: Hosts | KubernetesCluster
    # The values of the secret config keys the services' `secretEnv` names ({config: KEY}).
    config_secrets: dict[str, str] = field(default_factory=dict)
    # Platform kubernetes: the edge's names, rates and body size, for the services' Ingresses.
    edge: EdgeConfig | None = None
    server_names: list[str] = field(default_factory=list)
    # The Redis URL as a given host reaches it (secret), for services that use Redis.
    redis_url_for: Callable[[str], pulumi.Output[str]] | None = None
    # The Sentinels (address:port) and the name they watch: such services follow a failover
    # (REDIS_SENTINELS, REDIS_SENTINEL_MASTER) without a redeploy.
    redis_sentinels: list[str] = field(default_factory=list)
    redis_sentinel_master: str | None = None
    # A URL of webstack:postgres (secret) as a container on a host reaches it: (host name,
    # primary|replica, database name or None for the first), for `{database: ...}` secret env.
    database_url_for: Callable[[str, Literal["primary", "replica"], str | None], pulumi.Output[str]] | None = None


class AppTier(pulumi.ComponentResource):
    replicas: dict[str, list[Endpoint]]
    metrics: dict[str, list[Endpoint]]
    containers: dict[str, list[docker.Container]]

    def __init__(self, name: str, args: AppTierArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("webstack:app:AppTier", name, None, opts)
        self.replicas, self.metrics, self.containers = {}, {}, {}
        # Platform kubernetes: each service's address in the cluster (its Service).
        self.service_addresses: dict[str, str] = {}
        for service_name, service in sorted(args.services.items()):
            if isinstance(args.target, KubernetesCluster):
                self._kubernetes(name, service_name, service, args, args.target)
            else:
                self._docker(name, service_name, service, args, args.target)
        self.register_outputs(
            {"services": {s: {"image": c.image, "replicas": c.replicas, "path": c.path} for s, c in args.services.items()}}
        )

    def upstreams_from(self, host: str) -> pulumi.Output[dict[str, list[str]]]:
        """Each service's replica addresses as `host` (the edge's) reaches them (platform docker)."""
        per_service = {
            service: pulumi.Output.all(*[e.from_host(host) for e in endpoints])
            for service, endpoints in self.replicas.items()
        }
        return pulumi.Output.all(**per_service).apply(lambda d: {k: list(v) for k, v in d.items()})

    def replica_addresses(self) -> pulumi.Output[list[str]]:
        """Every replica's container IP addresses (platform docker). nginx resolves the replicas'
        names when it loads its config; a replica started again (after `pulumi up --refresh`
        found it stopped) can come back on another address, so the edge reloads on a change."""
        containers = [c for replicas in self.containers.values() for c in replicas]
        # Each network's data arrives as the SDK's output type or, inside Output.all, a plain dict.
        ips = [
            c.network_datas.apply(lambda datas: [d.get("ip_address") or d.get("ipAddress") or "" for d in datas or []])
            for c in containers
        ]
        return pulumi.Output.all(*ips).apply(lambda each: sorted(ip for per in each for ip in per if ip))

    def _published_port(
        self, name: str, host: VpsHost, service: ServiceConfig, index: int, inputs: list[pulumi.Input[Any]]
    ) -> docker.ContainerPortArgs:
        """The replica's port on its host's private address: fixed across restarts (the edge
        keeps it), but a deploy starts the successor beside the running replica, which holds
        its port. So each replica has two (`published_ports`) and a command on the host picks
        the one no container publishes, again whenever the replica's inputs change (the
        successor's turn): the roll alternates between them."""
        first, second = service.published_ports(index)
        taken = f"docker ps --format '{{{{.Ports}}}}' | tr ',' '\\n' | grep -q '{host.internal_address}:'\"$port\"'->'"
        script = f'for port in {first} {second}; do {taken} || {{ echo "$port"; exit 0; }}; done; echo {first}'
        settings = hashlib.sha256(repr((service.model_dump(), index, host.name)).encode()).hexdigest()
        slot = host.run(f"{name}-port", script, parent=self, triggers=[*inputs, settings])
        external = slot.stdout.apply(lambda out: int(out.strip().splitlines()[-1]))
        return docker.ContainerPortArgs(internal=service.port, external=external, ip=host.internal_address)

    def _secret_env(self, base: str, service: ServiceConfig, args: AppTierArgs) -> dict[str, pulumi.Output[str]]:
        """The service's secret env: from secret config keys, or generated."""
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
            env_name: pulumi.Output.secret(args.config_secrets.get(ref.config) or "")
            for env_name, ref in service.secret_env.items()
            if ref.config is not None
        }
        return {**configured, **generated}

    def _kubernetes(
        self, name: str, service_name: str, service: ServiceConfig, args: AppTierArgs, cluster: KubernetesCluster
    ) -> None:
        assert args.edge is not None, "platform kubernetes: AppTier needs the edge's settings for its Ingresses"
        edge_cfg, k8s_cfg, target = args.edge, cluster.config, cluster.target
        base = f"{name}-{service_name}"
        secret_env = self._secret_env(base, service, args)
        if service.uses_redis and args.redis_url_for is not None:
            secret_env["REDIS_URL"] = args.redis_url_for(k8s_cfg.namespace)
        secret_name = f"{service_name}-env"
        app = manifests.AppSpec(
            name=service_name,
            service=service,
            environment=args.environment,
            secret_name=secret_name,
            secret_keys=tuple(sorted(secret_env)),
            annotations_scrape=not k8s_cfg.service_monitor,
        )
        depends: list[pulumi.Resource] = []
        annotations: dict[str, pulumi.Input[str]] = {}
        if secret_env:
            depends.append(
                cluster.declare(
                    f"{base}-env",
                    manifests.secret(target, secret_name, "app", dict.fromkeys(secret_env, "")),
                    parent=self,
                    string_data=pulumi.Output.secret(secret_env),
                )
            )
            # A new secret value rolls the pods (the digest is no secret: values are >= 16 characters).
            annotations[manifests.CHECKSUM] = pulumi.Output.unsecret(
                pulumi.Output.all(**secret_env).apply(
                    lambda values: hashlib.sha256(
                        "\0".join(f"{k}={v}" for k, v in sorted(values.items())).encode()
                    ).hexdigest()
                )
            )
        deployment = manifests.app_deployment(target, app)
        template_meta = deployment["spec"]["template"]["metadata"]
        template_meta["annotations"] = {**template_meta.get("annotations", {}), **annotations}
        cluster.declare(f"{base}-deployment", deployment, parent=self, depends_on=depends)
        cluster.declare(f"{base}-service", manifests.app_service(target, app), parent=self)
        if service.autoscale is not None:
            cluster.declare(f"{base}-hpa", manifests.app_hpa(target, service_name, service.autoscale), parent=self)
        cluster.declare(f"{base}-pdb", manifests.app_pdb(target, service_name), parent=self)

        peers: list[tuple[list[dict[str, object]], list[int]]] = [
            ([manifests.ingress_controller_peer(k8s_cfg.ingress_controller_namespace)], [service.port])
        ]
        if service.metrics_path:
            peers.append(([manifests.pods_named(target, "prometheus")], [service.port]))
        cluster.declare(
            f"{base}-netpol",
            manifests.network_policy(target, f"{service_name}-ingress", "app", service_name, peers),
            parent=self,
        )

        edge = manifests.IngressSpec(
            hosts=tuple(args.server_names),
            ingress_class=k8s_cfg.ingress_class,
            tls_secret=k8s_cfg.tls_secret,
            client_max_body_mb=edge_cfg.client_max_body_mb,
        )
        rate = edge_cfg.api_rate if service.kind == "api" else edge_cfg.frontend_rate
        cluster.declare(
            f"{base}-ingress",
            manifests.app_ingress(
                target,
                service_name,
                service_name,
                "http",
                [(service.path, "Prefix")],
                rate,
                edge,
                websocket=service.websocket_path is not None,
            ),
            parent=self,
        )
        if service.login_paths:
            cluster.declare(
                f"{base}-login-ingress",
                manifests.app_ingress(
                    target,
                    f"{service_name}-login",
                    service_name,
                    "http",
                    [(path, "Exact") for path in service.login_paths],
                    edge_cfg.login_rate,
                    edge,
                ),
                parent=self,
            )
        self.service_addresses[service_name] = f"{target.service_dns(service_name)}:{service.port}"

    def _docker(self, name: str, service_name: str, service: ServiceConfig, args: AppTierArgs, hosts: Hosts) -> None:
        base = f"{name}-{service_name}"
        secrets = self._secret_env(base, service, args)

        images: dict[str, docker.RemoteImage] = {}
        self.replicas[service_name], self.metrics[service_name], self.containers[service_name] = [], [], []
        for index in range(service.replicas):
            host = hosts[service.hosts[index % len(service.hosts)]]
            if host.name not in images:
                images[host.name] = docker.RemoteImage(
                    f"{base}-image-{host.name}",
                    name=service.image,
                    keep_locally=True,
                    opts=pulumi.ResourceOptions(parent=self, provider=host.docker),
                )
            secret_env: dict[str, pulumi.Input[str]] = dict(secrets)
            sentinel_env: dict[str, str] = {}
            if service.uses_redis and args.redis_url_for is not None:
                secret_env["REDIS_URL"] = args.redis_url_for(host.name)
                if args.redis_sentinels and args.redis_sentinel_master:
                    sentinel_env = {
                        "REDIS_SENTINELS": ",".join(args.redis_sentinels),
                        "REDIS_SENTINEL_MASTER": args.redis_sentinel_master,
                    }
            if args.database_url_for is not None:
                for env_name, ref in service.secret_env.items():
                    if ref.database is not None:
                        secret_env[env_name] = args.database_url_for(host.name, ref.database, ref.database_name)
            replica = f"{service_name}-{index}"
            plain_env = {
                **service.env,
                "PORT": str(service.port),
                "WEBSTACK_SERVICE": service_name,
                "WEBSTACK_REPLICA": replica,
                "WEBSTACK_ENVIRONMENT": args.environment,
                **sentinel_env,
            }
            envs = env_list(plain_env, secret_env)
            image_id = images[host.name].image_id
            container = docker.Container(
                f"{base}-{index}",
                image=image_id,
                envs=envs,
                user=service.user,
                networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=host.network_name, aliases=[replica])],
                ports=(
                    [self._published_port(f"{base}-{index}", host, service, index, [image_id, envs])]
                    if host.multi_host
                    else []
                ),
                healthcheck=http_healthcheck(f"http://127.0.0.1:{service.port}{service.health_path}"),
                capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"]),
                # A replica that is not healthy in time fails the deploy (the edge keeps the old ones).
                wait=True,
                wait_timeout=service.startup_timeout_s,
                **container_defaults(
                    memory_mb=service.memory_mb,
                    stack=args.stack,
                    service=service_name,
                    replica=replica,
                    cpus=service.cpus,
                ),
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
