"""MonitoringStack on platform kubernetes: Prometheus with RBAC to discover the cluster's
pods (or a Prometheus of the cluster's Prometheus Operator with ServiceMonitors and a
PrometheusRule), the same alert rules, Alertmanager and Grafana, each a one-pod StatefulSet
on its own claim, reached with `kubectl port-forward`; a Pushgateway for the backup
CronJob's metrics."""

from __future__ import annotations

import pulumi

from components.monitoring.args import Monitoring, MonitoringStackArgs
from components.render import kubernetes as manifests
from components.render.monitoring import (
    render_alert_rules,
    render_alertmanager_config,
    render_grafana_dashboard,
    render_grafana_dashboard_providers,
    render_grafana_datasources,
)
from components.targets import KubernetesCluster

ALERTMANAGER_CONF = "/etc/alertmanager/alertmanager.yml"
GRAFANA_PROVISIONING = "/etc/grafana/provisioning"
GRAFANA_DASHBOARDS = "/var/lib/grafana-dashboards"


class OnCluster(Monitoring):
    """The kubernetes half of MonitoringStack."""

    def _kubernetes(self, name: str, args: MonitoringStackArgs, cluster: KubernetesCluster) -> None:
        mon, k8s_cfg, target = args.monitoring, cluster.config, cluster.target
        operator = k8s_cfg.service_monitor
        storage = k8s_cfg.storage_gi

        def declare(
            suffix: str,
            manifest: manifests.Manifest,
            depends_on: list[pulumi.Resource] | None = None,
            **overrides: object,
        ) -> pulumi.CustomResource:
            return cluster.declare(f"{name}-{suffix}", manifest, parent=self, depends_on=depends_on, **overrides)

        # Prometheus' identity: discovery of pods, services and endpoints across the cluster.
        role = f"webstack-{k8s_cfg.namespace}-prometheus"
        account = declare("prometheus-account", manifests.service_account(target, "prometheus", "monitoring"))
        cluster_role = declare("prometheus-role", manifests.prometheus_cluster_role(target, role))
        declare(
            "prometheus-role-binding",
            manifests.prometheus_cluster_role_binding(target, role, "prometheus"),
            depends_on=[account, cluster_role],
        )

        # Alertmanager: its config holds the webhook URL, so it is a Secret.
        alertmanager_yml = render_alertmanager_config(
            webhook_url=args.alert_webhook_url, environment=args.environment
        )
        am_secret = declare(
            "alertmanager-config",
            manifests.secret(target, "alertmanager-config", "monitoring", {"alertmanager.yml": ""}),
            string_data=pulumi.Output.secret({"alertmanager.yml": alertmanager_yml}),
        )
        declare(
            "alertmanager",
            manifests.stateful_app(
                target,
                manifests.StatefulAppSpec(
                    name="alertmanager",
                    image=args.images.alertmanager,
                    port=manifests.ALERTMANAGER_PORT,
                    args=(
                        f"--config.file={ALERTMANAGER_CONF}",
                        "--storage.path=/alertmanager",
                        f"--web.listen-address=:{manifests.ALERTMANAGER_PORT}",
                        "--cluster.listen-address=",
                    ),
                    uid=manifests.NOBODY,
                    gid=manifests.NOBODY,
                    fs_group=manifests.NOBODY,
                    data_path="/alertmanager",
                    storage_gi=storage.alertmanager,
                    storage_class=k8s_cfg.storage_class,
                    health_path="/-/healthy",
                    memory_mb=256,
                    cpus=0.25,
                    config_mounts=(("config", "alertmanager-config", "/etc/alertmanager"),),
                    config_kinds={"config": "secret"},
                    # Digest of the config, so a change rolls the pod (the webhook URL is long and random).
                    annotations={manifests.CHECKSUM: manifests.checksum(alertmanager_yml)},
                ),
            ),
            depends_on=[am_secret],
        )
        declare(
            "alertmanager-service",
            manifests.service(target, "alertmanager", "monitoring", [("http", manifests.ALERTMANAGER_PORT)]),
        )

        rules = render_alert_rules(
            mon.thresholds,
            environment=args.environment,
            backups=args.backups,
            # BackupJob's drill CronJob pushes the drills' metrics to the Pushgateway.
            drill_max_age_hours=args.drill_max_age_hours,
        )
        if args.backups:
            declare("pushgateway", manifests.pushgateway_deployment(target, "pushgateway", args.images.pushgateway))
            declare(
                "pushgateway-service",
                manifests.service(target, "pushgateway", "monitoring", [("http", manifests.PUSHGATEWAY_PORT)]),
            )
            self.pushgateway = f"pushgateway:{manifests.PUSHGATEWAY_PORT}"

        prometheus_service = "prometheus"
        if operator:
            declare("rules", manifests.prometheus_rule(target, "webstack", rules))
            declare(
                "prometheus",
                manifests.prometheus_server(
                    target,
                    "prometheus",
                    image=args.images.prometheus,
                    service_account="prometheus",
                    scrape_interval_s=mon.scrape_interval_s,
                    retention_days=mon.retention_days,
                    environment=args.environment,
                    alertmanager_service="alertmanager",
                    storage_gi=storage.prometheus,
                    storage_class=k8s_cfg.storage_class,
                ),
                depends_on=[account],
            )
            prometheus_service = "prometheus-operated"  # the operator's Service
            scraped = [
                *args.scrape_services,
                manifests.ScrapeService(job="alertmanager", service="alertmanager", port="http"),
            ]
            if self.pushgateway:
                scraped.append(
                    manifests.ScrapeService(job="pushgateway", service="pushgateway", port="http", honor_labels=True)
                )
            for scrape in scraped:
                declare(
                    f"{scrape.job}-monitor",
                    manifests.service_monitor(
                        target,
                        scrape.job,
                        selector=target.selector(scrape.service),
                        port=scrape.port,
                        path=scrape.path,
                        interval_s=mon.scrape_interval_s,
                        job=scrape.job,
                        labels=scrape.labels,
                        honor_labels=scrape.honor_labels,
                    ),
                )
            self.prometheus_config = pulumi.Output.from_input("")
        else:
            prometheus_yml = manifests.render_prometheus_k8s_config(
                scrape_interval_s=mon.scrape_interval_s,
                environment=args.environment,
                alertmanager=f"alertmanager:{manifests.ALERTMANAGER_PORT}",
                rule_files=[manifests.PROMETHEUS_RULES],
                pushgateway=self.pushgateway,
            )
            self.prometheus_config = pulumi.Output.from_input(prometheus_yml)
            config = declare(
                "prometheus-config",
                manifests.config_map(
                    target,
                    "prometheus-config",
                    "monitoring",
                    {"prometheus.yml": prometheus_yml, "webstack.rules.yml": rules},
                ),
            )
            declare(
                "prometheus",
                manifests.stateful_app(
                    target,
                    manifests.StatefulAppSpec(
                        name="prometheus",
                        image=args.images.prometheus,
                        port=manifests.PROMETHEUS_PORT,
                        args=(
                            "--config.file=/etc/prometheus/prometheus.yml",
                            "--storage.tsdb.path=/prometheus",
                            f"--storage.tsdb.retention.time={mon.retention_days}d",
                            "--web.enable-lifecycle",
                        ),
                        uid=manifests.NOBODY,
                        gid=manifests.NOBODY,
                        fs_group=manifests.NOBODY,
                        data_path="/prometheus",
                        storage_gi=storage.prometheus,
                        storage_class=k8s_cfg.storage_class,
                        health_path="/-/ready",
                        memory_mb=2048,
                        cpus=1,
                        config_mounts=(("config", "prometheus-config", "/etc/prometheus"),),
                        config_items={
                            "config": (
                                ("prometheus.yml", "prometheus.yml"),
                                ("webstack.rules.yml", "rules/webstack.rules.yml"),
                            )
                        },
                        service_account="prometheus",
                        annotations={manifests.CHECKSUM: manifests.checksum(prometheus_yml, rules)},
                    ),
                ),
                depends_on=[config, account],
            )
            declare(
                "prometheus-service",
                manifests.service(target, "prometheus", "monitoring", [("http", manifests.PROMETHEUS_PORT)]),
            )
        prometheus = manifests.pods_named(target, "prometheus")
        declare(
            "alertmanager-netpol",
            manifests.network_policy(
                target,
                "alertmanager-ingress",
                "monitoring",
                "alertmanager",
                [([prometheus], [manifests.ALERTMANAGER_PORT])],
            ),
        )
        declare(
            "prometheus-netpol",
            manifests.network_policy(
                target,
                "prometheus-ingress",
                "monitoring",
                "prometheus",
                [([manifests.pods_named(target, "grafana")], [manifests.PROMETHEUS_PORT])],
            ),
        )
        if self.pushgateway:
            backup = {"podSelector": {"matchLabels": {manifests.COMPONENT: "backup", manifests.INSTANCE: target.stack}}}
            declare(
                "pushgateway-netpol",
                manifests.network_policy(
                    target,
                    "pushgateway-ingress",
                    "monitoring",
                    "pushgateway",
                    [([backup, prometheus], [manifests.PUSHGATEWAY_PORT])],
                ),
            )

        # Grafana: generated admin password in a Secret, provisioning in ConfigMaps.
        self._grafana_password(name)
        grafana_secret = declare(
            "grafana-admin",
            manifests.secret(target, "grafana-admin", "monitoring", {"password": ""}),
            string_data=pulumi.Output.secret({"password": self.grafana_admin_password}),
        )
        provisioning = {
            "datasources.yaml": render_grafana_datasources(
                prometheus_url=f"http://{prometheus_service}:{manifests.PROMETHEUS_PORT}"
            ),
            "dashboards.yaml": render_grafana_dashboard_providers(dashboards_dir=GRAFANA_DASHBOARDS),
        }
        dashboard = render_grafana_dashboard(environment=args.environment)
        grafana_config = [
            declare(
                "grafana-provisioning", manifests.config_map(target, "grafana-provisioning", "monitoring", provisioning)
            ),
            declare(
                "grafana-dashboards",
                manifests.config_map(target, "grafana-dashboards", "monitoring", {"webstack.json": dashboard}),
            ),
        ]
        declare(
            "grafana",
            manifests.stateful_app(
                target,
                manifests.StatefulAppSpec(
                    name="grafana",
                    image=args.images.grafana,
                    port=manifests.GRAFANA_PORT,
                    args=(),
                    uid=472,
                    gid=0,
                    fs_group=472,
                    data_path="/var/lib/grafana",
                    storage_gi=storage.grafana,
                    storage_class=k8s_cfg.storage_class,
                    health_path="/api/health",
                    memory_mb=256,
                    cpus=0.5,
                    config_mounts=(
                        ("provisioning", "grafana-provisioning", GRAFANA_PROVISIONING),
                        ("dashboards", "grafana-dashboards", GRAFANA_DASHBOARDS),
                    ),
                    config_items={
                        "provisioning": (
                            ("datasources.yaml", "datasources/webstack.yaml"),
                            ("dashboards.yaml", "dashboards/webstack.yaml"),
                        )
                    },
                    env={
                        "GF_USERS_ALLOW_SIGN_UP": "false",
                        "GF_AUTH_ANONYMOUS_ENABLED": "false",
                        "GF_ANALYTICS_REPORTING_ENABLED": "false",
                    },
                    secret_env={"GF_SECURITY_ADMIN_PASSWORD": ("grafana-admin", "password")},
                    annotations={manifests.CHECKSUM: manifests.checksum(*provisioning.values(), dashboard)},
                ),
            ),
            depends_on=[grafana_secret, *grafana_config],
        )
        declare(
            "grafana-service", manifests.service(target, "grafana", "monitoring", [("http", manifests.GRAFANA_PORT)])
        )

        local = "127.0.0.1"
        self.prometheus_url = f"http://{local}:{mon.prometheus_port}"
        self.alertmanager_url = f"http://{local}:{mon.alertmanager_port}"
        self.grafana_url = f"http://{local}:{mon.grafana_port}"
        kubectl = manifests.kubectl(target, k8s_cfg.context)
        self.tunnel_command = " & ".join(
            f"{kubectl} port-forward svc/{svc} {local_port}:{port}"
            for svc, local_port, port in (
                ("grafana", mon.grafana_port, manifests.GRAFANA_PORT),
                (prometheus_service, mon.prometheus_port, manifests.PROMETHEUS_PORT),
                ("alertmanager", mon.alertmanager_port, manifests.ALERTMANAGER_PORT),
            )
        )
