"""MonitoringStack: Prometheus, Alertmanager, Grafana on the monitoring host; node exporter everywhere.

Platform docker: the UIs listen on the monitoring host's loopback only (reach them
through an SSH tunnel); exporters are published on private addresses only when another
host scrapes them. Alert rules carry the seeds' thresholds from the config.

Platform kubernetes: Prometheus with RBAC to discover the cluster's pods, scraping those
annotated `prometheus.io/scrape` (or, with `kubernetes.serviceMonitor`, a Prometheus of
the cluster's Prometheus Operator with ServiceMonitors and a PrometheusRule); the same
alert rules, Alertmanager and Grafana as on VPS, each a one-pod StatefulSet on its own
claim, reached with `kubectl port-forward`; and a Pushgateway for the backup CronJob's
freshness metrics. Host metrics come from the cluster's own node exporter (the namespace
enforces Pod Security `restricted`, which a node exporter cannot run under).
"""

from __future__ import annotations

import pulumi

from components.monitoring.args import MonitoringStackArgs
from components.monitoring.on_cluster import OnCluster
from components.monitoring.on_hosts import NODE_EXPORTER_PORT, OnHosts
from components.targets import KubernetesCluster

__all__ = ["NODE_EXPORTER_PORT", "MonitoringStack", "MonitoringStackArgs"]


class MonitoringStack(OnHosts, OnCluster):
    """The component: one place picks the platform (its target); each half declares its own."""

    def __init__(self, name: str, args: MonitoringStackArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("webstack:monitoring:MonitoringStack", name, None, opts)
        self.volumes = {}
        self.pushgateway = None
        if isinstance(args.target, KubernetesCluster):
            self._kubernetes(name, args, args.target)
        else:
            self._docker(name, args, args.target)
        self.register_outputs(
            {
                "prometheusUrl": self.prometheus_url,
                "alertmanagerUrl": self.alertmanager_url,
                "grafanaUrl": self.grafana_url,
                "grafanaAdminPassword": self.grafana_admin_password,
            }
        )
