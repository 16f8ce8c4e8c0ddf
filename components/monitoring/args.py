"""MonitoringStack's args and what both platforms share: the slice of config it reads and
the outputs it gives (`on_hosts.py` and `on_cluster.py` declare it on each platform)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from components.config import ImagesConfig, MonitoringConfig
from components.render import kubernetes as manifests
from components.targets import Hosts, KubernetesCluster
from components.targets.containers import Endpoint


@dataclass
class MonitoringStackArgs:
    monitoring: MonitoringConfig
    environment: str
    stack: str
    # The hosts by name (platform docker: the monitoring host and a node exporter on each)
    # or the cluster (platform kubernetes).
    target: Hosts | KubernetesCluster
    images: ImagesConfig
    alert_webhook_url: str | None = None
    # What the alert rules cover: backups (and a Pushgateway on kubernetes), PostgreSQL, and
    # the restore drills' age (None: no drills).
    backups: bool = False
    postgres: bool = False
    drill_max_age_hours: int | None = None
    # Scrape targets other components expose: job name -> endpoints (+ static labels).
    targets: dict[str, list[Endpoint]] = field(default_factory=dict)
    target_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    metrics_paths: dict[str, str] = field(default_factory=dict)
    # More Prometheus rule files other components bring (file name under rules/ -> content).
    rule_files: dict[str, str] = field(default_factory=dict)
    # Platform kubernetes: the Services to scrape in ServiceMonitor mode.
    scrape_services: list[manifests.ScrapeService] = field(default_factory=list)


class Monitoring(pulumi.ComponentResource):
    """What MonitoringStack gives on either platform."""

    grafana_admin_password: pulumi.Output[str]
    volumes: dict[str, docker.Volume]
    pushgateway: str | None
    prometheus_url: str
    alertmanager_url: str
    tunnel_command: str | None
    grafana_url: str | None

    def _grafana_password(self, name: str) -> None:
        admin = random.RandomPassword(
            f"{name}-grafana-admin",
            length=32,
            special=False,
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["result"]),
        )
        self.grafana_admin_password = pulumi.Output.secret(admin.result)
