"""The stack on platform kubernetes: the KubernetesCluster (provider, namespace) in place of
the VpsHosts, the cluster's ingress controller in place of nginx."""

from __future__ import annotations

from typing import Any

from components.app_tier import AppTier
from components.backup_job import BackupJob
from components.config import StackConfig
from components.monitoring import MonitoringStack
from components.nginx_edge import NginxEdge, NginxEdgeArgs
from components.redis_cache import RedisCache
from components.render import kubernetes as manifests
from components.stack.outputs import kubernetes_outputs
from components.stack.slices import app_args, backup_args, edge_site, monitoring_args, redis_args, secret
from components.targets.cluster import KubernetesCluster, KubernetesClusterArgs


def build_cluster_stack(config: StackConfig, stack: str) -> dict[str, Any]:
    """The same components on an existing cluster: the KubernetesCluster (provider,
    namespace) in place of the VpsHosts, the ingress controller in place of nginx."""
    assert config.kubernetes is not None  # validated: required on platform kubernetes
    cluster = KubernetesCluster(
        "cluster",
        KubernetesClusterArgs(kubernetes=config.kubernetes, stack=stack, kubeconfig=secret(config, "kubeconfig")),
    )
    redis = RedisCache("redis", redis_args(config, stack, cluster))
    app = AppTier("app", app_args(config, stack, cluster, redis))
    edge = NginxEdge(
        "edge",
        NginxEdgeArgs(
            site=edge_site(config),
            stack=stack,
            target=cluster,
            image=config.images.nginx,
            exporter_image=config.images.nginx_exporter,
            cloudflare_api_token=secret(config, "cloudflareApiToken"),
        ),
    )
    scraped = [
        manifests.ScrapeService(
            job=f"app-{name}",
            service=name,
            port="http",
            path=service.metrics_path,
            labels={"service": name},
        )
        for name, service in sorted(config.services.items())
        if service.metrics_path
    ]
    scraped.append(manifests.ScrapeService(job="redis", service="redis", port="metrics"))
    monitoring = MonitoringStack(
        "monitoring",
        monitoring_args(config, stack, cluster, scrape_services=scraped),
    )
    backup: BackupJob | None = None
    if config.backup.enabled:
        backup = BackupJob(
            "backup",
            backup_args(
                config,
                stack,
                cluster,
                redis_address=redis.address_for("") if config.backup.redis else None,
                redis_password=redis.password,
                pushgateway=monitoring.pushgateway,
            ),
        )
    return kubernetes_outputs(config, stack, edge=edge, app=app, redis=redis, monitoring=monitoring, backup=backup)


