"""RedisCache: Redis with a generated password, AOF, maxmemory, optional replica and Sentinel.

Platform docker: never published on a public interface: reached over the host's Docker
network, or on the private address when another host needs it. The data volume is
protected in production, so `pulumi destroy` cannot drop it by accident.

Platform kubernetes: a one-pod StatefulSet with its data on a PersistentVolumeClaim
(kept when the StatefulSet goes), the password in a Secret, redis.conf in a ConfigMap,
the exporter as a sidecar, a ClusterIP Service (no public exposure) and a NetworkPolicy:
only pods labelled as Redis clients (the services that use Redis, the backup) reach it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from components.capacity import SENTINEL, redis_memory_mb
from components.config import RedisConfig
from components.render import kubernetes as manifests
from components.render.redis import (
    REDIS_START,
    SENTINEL_MASTER,
    SENTINEL_START,
    RedisSpec,
    redis_start,
    render_redis_conf,
    render_sentinel_conf,
)
from components.targets import Hosts, KubernetesCluster
from components.targets.containers import Endpoint, command_healthcheck, container_defaults, env_list, exporter, uploads
from components.targets.vps_host import VpsHost

SENTINEL_PORT = 26379
EXPORTER_PORT = 9121
CONF = "/etc/redis/redis.conf"


@dataclass
class RedisCacheArgs:
    redis: RedisConfig
    stack: str
    # The hosts by name (platform docker) or the cluster (platform kubernetes).
    target: Hosts | KubernetesCluster
    image: str
    exporter_image: str
    # Keep the data volumes on `pulumi destroy` (protectData, or production by default).
    protect_data: bool
    # The host the `url` output reaches Redis from (the monitoring host's view).
    url_host: str


class RedisCache(pulumi.ComponentResource):
    password: pulumi.Output[str]
    url: pulumi.Output[str]
    exporter: Endpoint
    primary: docker.Container
    data_volumes: list[docker.Volume]
    host: str  # the primary's host (docker) or Service DNS name (kubernetes)

    def __init__(self, name: str, args: RedisCacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("webstack:cache:RedisCache", name, None, opts)
        redis = args.redis
        self.port = redis.port
        generated = random.RandomPassword(
            f"{name}-password",
            length=48,
            special=False,
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["result"]),
        )
        self.password = pulumi.Output.secret(generated.result)
        self.data_volumes = []
        self.sentinels: list[str] = []
        self._service_address: str | None = None
        spec = RedisSpec(
            port=redis.port,
            maxmemory_mb=redis.maxmemory_mb,
            maxmemory_policy=redis.maxmemory_policy,
            appendonly=redis.appendonly,
            appendfsync=redis.appendfsync,
        )
        if isinstance(args.target, KubernetesCluster):
            self._kubernetes(name, args, args.target, spec)
        else:
            self._docker(name, args, args.target, spec)
        self.url = self.url_for(args.url_host)
        self.register_outputs({"url": self.url, "host": self.host, "port": redis.port, "sentinels": self.sentinels})

    def _kubernetes(self, name: str, args: RedisCacheArgs, cluster: KubernetesCluster, spec: RedisSpec) -> None:
        target, k8s_cfg = cluster.target, cluster.config
        conf = render_redis_conf(spec)
        auth = cluster.declare(
            f"{name}-auth",
            manifests.secret(target, "redis-auth", "cache", {"password": ""}),
            parent=self,
            string_data=pulumi.Output.secret({"password": self.password}),
        )
        config_map = cluster.declare(
            f"{name}-config", manifests.config_map(target, "redis-config", "cache", {"redis.conf": conf}), parent=self
        )
        pod = manifests.RedisPodSpec(
            image=args.image,
            exporter_image=args.exporter_image,
            port=spec.port,
            maxmemory_mb=spec.maxmemory_mb,
            storage_gi=k8s_cfg.storage_gi.redis,
            storage_class=k8s_cfg.storage_class,
            secret_name="redis-auth",
            config_name="redis-config",
            start=REDIS_START,
            config_checksum=manifests.checksum(conf),
            annotations_scrape=not k8s_cfg.service_monitor,
        )
        self.statefulset = cluster.declare(
            f"{name}-statefulset",
            manifests.redis_statefulset(target, "redis", pod),
            parent=self,
            depends_on=[auth, config_map],
        )
        ports = [("redis", spec.port), ("metrics", manifests.REDIS_EXPORTER_PORT)]
        cluster.declare(f"{name}-service", manifests.service(target, "redis", "cache", ports), parent=self)
        cluster.declare(
            f"{name}-headless",
            manifests.service(target, "redis-headless", "cache", ports, headless=True),
            parent=self,
        )
        clients = {"podSelector": {"matchLabels": {manifests.REDIS_CLIENT: "true"}}}
        cluster.declare(
            f"{name}-netpol",
            manifests.network_policy(
                target,
                "redis-ingress",
                "cache",
                "redis",
                [
                    ([clients], [spec.port]),
                    ([manifests.pods_named(target, "prometheus")], [manifests.REDIS_EXPORTER_PORT]),
                ],
            ),
            parent=self,
        )
        self._service_address = f"{target.service_dns('redis')}:{spec.port}"
        self.host = target.service_dns("redis")

    def _docker(self, name: str, args: RedisCacheArgs, hosts: Hosts, spec: RedisSpec) -> None:
        redis = args.redis
        assert redis.host is not None
        self._primary_host = hosts[redis.host]
        self.host = redis.host
        self._images: dict[str, docker.RemoteImage] = {}
        # Every node asks the Sentinels who is primary before it starts (render.redis).
        self._sentinel_addresses = [f"{hosts[h].internal_address}:{SENTINEL_PORT}" for h in redis.sentinel_hosts]
        self.primary = self._node(name, args, self._primary_host, "redis", spec)
        self.replica: docker.Container | None = None
        if redis.replica_host:
            replica_spec = RedisSpec(
                **{**spec.__dict__, "replica_of": f"{self._primary_host.internal_address} {redis.port}"}
            )
            self.replica = self._node(name, args, hosts[redis.replica_host], "redis-replica", replica_spec)
        for host_name in redis.sentinel_hosts:
            self._sentinel(name, args, hosts[host_name])
        self.sentinels = list(self._sentinel_addresses)

        host = self._primary_host
        self.exporter = exporter(
            f"{name}-exporter",
            host=host,
            stack=args.stack,
            service="redis-exporter",
            image=self._image(name, host, args.exporter_image).image_id,
            port=EXPORTER_PORT,
            envs=env_list({"REDIS_ADDR": f"redis://redis:{redis.port}"}, {"REDIS_PASSWORD": self.password}),
            parent=self,
            depends_on=[self.primary],
        )

    def address_for(self, host_name: str) -> str:
        """host:port of the primary as seen from `host_name` (on kubernetes: its Service, from anywhere)."""
        if self._service_address is not None:
            return self._service_address
        if host_name == self._primary_host.name:
            return f"redis:{self.port}"
        return f"{self._primary_host.internal_address}:{self.port}"

    @property
    def sentinel_master(self) -> str | None:
        """The name the Sentinels watch the primary under (None: no Sentinels)."""
        return SENTINEL_MASTER if self.sentinels else None

    def url_for(self, host_name: str) -> pulumi.Output[str]:
        return pulumi.Output.secret(
            pulumi.Output.concat("redis://:", self.password, "@", self.address_for(host_name), "/0")
        )

    def _image(self, name: str, host: VpsHost, image: str) -> docker.RemoteImage:
        key = f"{host.name}/{image}"
        if key not in self._images:
            suffix = "exporter-" if "exporter" in image else ""
            self._images[key] = docker.RemoteImage(
                f"{name}-{suffix}image-{host.name}",
                name=image,
                keep_locally=True,
                opts=pulumi.ResourceOptions(parent=self, provider=host.docker),
            )
        return self._images[key]

    def _node(self, name: str, args: RedisCacheArgs, host: VpsHost, role: str, spec: RedisSpec) -> docker.Container:
        protect = args.protect_data
        volume = docker.Volume(
            f"{name}-{role}-data",
            name=f"webstack-{args.stack}-{role}-data",
            opts=pulumi.ResourceOptions(parent=self, provider=host.docker, protect=protect, retain_on_delete=protect),
        )
        self.data_volumes.append(volume)
        conf = render_redis_conf(spec)
        if host.multi_host:
            # Announce the private address, not the container's, to replicas and Sentinels.
            conf += f"replica-announce-ip {host.internal_address}\nreplica-announce-port {spec.port}\n"
        return docker.Container(
            f"{name}-{role}",
            name=f"webstack-{args.stack}-{role}",
            image=self._image(name, host, args.image).image_id,
            command=[
                "sh",
                "-c",
                redis_start(sentinels=self._sentinel_addresses, announce=f"{host.internal_address} {spec.port}"),
            ],
            envs=env_list({}, {"REDIS_PASSWORD": self.password}),
            uploads=uploads({CONF: conf}),
            volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path="/data")],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=host.network_name, aliases=[role])],
            ports=(
                [docker.ContainerPortArgs(internal=spec.port, external=spec.port, ip=host.internal_address)]
                if host.multi_host
                else []
            ),
            healthcheck=command_healthcheck(
                f'redis-cli -p {spec.port} --no-auth-warning -a "$REDIS_PASSWORD" ping | grep -q PONG'
            ),
            wait=True,
            wait_timeout=120,
            **container_defaults(memory_mb=redis_memory_mb(args.redis.maxmemory_mb), stack=args.stack, service=role),
            opts=pulumi.ResourceOptions(parent=self, provider=host.docker, delete_before_replace=True),
        )

    def _sentinel(self, name: str, args: RedisCacheArgs, host: VpsHost) -> docker.Container:
        conf = render_sentinel_conf(
            primary_address=self._primary_host.internal_address,
            primary_port=args.redis.port,
            quorum=args.redis.sentinel_quorum,
            port=SENTINEL_PORT,
        )
        conf += f"sentinel announce-ip {host.internal_address}\nsentinel announce-port {SENTINEL_PORT}\n"
        return docker.Container(
            f"{name}-sentinel-{host.name}",
            name=f"webstack-{args.stack}-redis-sentinel",
            image=self._image(name, host, args.image).image_id,
            command=["sh", "-c", SENTINEL_START],
            envs=env_list({}, {"REDIS_PASSWORD": self.password}),
            uploads=uploads({"/etc/redis/sentinel.conf": conf}),
            networks_advanced=[
                docker.ContainerNetworksAdvancedArgs(name=host.network_name, aliases=["redis-sentinel"])
            ],
            ports=[docker.ContainerPortArgs(internal=SENTINEL_PORT, external=SENTINEL_PORT, ip=host.internal_address)],
            healthcheck=command_healthcheck(
                f'redis-cli -p {SENTINEL_PORT} --no-auth-warning -a "$REDIS_PASSWORD" sentinel master {SENTINEL_MASTER} >/dev/null'
            ),
            **container_defaults(memory_mb=SENTINEL.memory_mb, stack=args.stack, service="redis-sentinel"),
            opts=pulumi.ResourceOptions(
                parent=self, provider=host.docker, depends_on=[self.primary], delete_before_replace=True
            ),
        )
