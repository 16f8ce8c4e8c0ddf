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

import functools
import hashlib
import shlex
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from components.capacity import EXPORTER, MONITORING
from components.config import Platform, StackConfig
from components.render import kubernetes as manifests
from components.render.monitoring import (
    ScrapeJob,
    render_alert_rules,
    render_alertmanager_config,
    render_grafana_dashboard,
    render_grafana_dashboard_providers,
    render_grafana_datasources,
    render_prometheus_config,
    render_targets_file,
)
from components.targets.cluster import KubernetesCluster
from components.targets.containers import (
    Endpoint,
    HostImages,
    container_defaults,
    endpoint,
    env_list,
    http_healthcheck,
    internal_port,
    uploads,
)
from components.targets.vps_host import VpsHost

NODE_EXPORTER_PORT = 9100
# Prometheus on docker: the host's config folder, bound read-only (config, rules, targets).
PROMETHEUS_DIR = "/etc/prometheus/webstack"
RULES_FILE = "rules/webstack.rules.yml"
RULES = f"{PROMETHEUS_DIR}/{RULES_FILE}"
ALERTMANAGER_CONF = "/etc/alertmanager/alertmanager.yml"
GRAFANA_PROVISIONING = "/etc/grafana/provisioning"
GRAFANA_DASHBOARDS = "/var/lib/grafana-dashboards"


@dataclass
class MonitoringStackArgs:
    config: StackConfig
    stack: str
    hosts: dict[str, VpsHost]
    platform: Platform
    # Scrape targets other components expose: job name -> endpoints (+ static labels).
    targets: dict[str, list[Endpoint]] = field(default_factory=dict)
    target_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    metrics_paths: dict[str, str] = field(default_factory=dict)
    # More Prometheus rule files other components bring (file name under rules/ -> content).
    rule_files: dict[str, str] = field(default_factory=dict)
    # Platform kubernetes: the cluster, and the Services to scrape in ServiceMonitor mode.
    cluster: KubernetesCluster | None = None
    scrape_services: list[manifests.ScrapeService] = field(default_factory=list)


class MonitoringStack(pulumi.ComponentResource):
    grafana_admin_password: pulumi.Output[str]
    volumes: dict[str, docker.Volume]
    tunnel_command: str | None
    grafana_url: str | None

    def __init__(self, name: str, args: MonitoringStackArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("webstack:monitoring:MonitoringStack", name, None, opts)
        self.volumes = {}
        self.pushgateway: str | None = None
        if args.platform == "docker":
            self._docker(name, args)
        else:
            self._kubernetes(name, args)
        self.register_outputs(
            {
                "prometheusUrl": self.prometheus_url,
                "alertmanagerUrl": self.alertmanager_url,
                "grafanaUrl": self.grafana_url,
                "grafanaAdminPassword": self.grafana_admin_password,
            }
        )

    def _grafana_password(self, name: str) -> None:
        admin = random.RandomPassword(
            f"{name}-grafana-admin",
            length=32,
            special=False,
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["result"]),
        )
        self.grafana_admin_password = pulumi.Output.secret(admin.result)

    def _kubernetes(self, name: str, args: MonitoringStackArgs) -> None:
        cluster = args.cluster
        assert cluster is not None, "platform kubernetes: MonitoringStack needs the cluster"
        cfg, mon, k8s_cfg, target = args.config, args.config.monitoring, cluster.config, cluster.target
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
            webhook_url=cfg.secret("alertWebhookUrl"), environment=cfg.environment
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
                    image=cfg.images.alertmanager,
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
            environment=cfg.environment,
            backups=cfg.backup.enabled,
            # BackupJob's drill CronJob pushes the drills' metrics to the Pushgateway.
            drill_max_age_hours=cfg.drill_max_age_hours() if cfg.backup.enabled and cfg.drills else None,
        )
        if cfg.backup.enabled:
            declare("pushgateway", manifests.pushgateway_deployment(target, "pushgateway", cfg.images.pushgateway))
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
                    image=cfg.images.prometheus,
                    service_account="prometheus",
                    scrape_interval_s=mon.scrape_interval_s,
                    retention_days=mon.retention_days,
                    environment=cfg.environment,
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
                environment=cfg.environment,
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
                        image=cfg.images.prometheus,
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
        dashboard = render_grafana_dashboard(environment=cfg.environment)
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
                    image=cfg.images.grafana,
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

    def _docker(self, name: str, args: MonitoringStackArgs) -> None:
        cfg, mon = args.config, args.config.monitoring
        assert mon.host is not None
        host = args.hosts[mon.host]
        self._images = HostImages(self, name)

        node_targets = [self._node_exporter(name, args, h) for h in args.hosts.values()]
        targets = {"node": node_targets, **args.targets}

        self.volumes = {
            v: docker.Volume(
                f"{name}-{v}-data",
                name=f"webstack-{args.stack}-{v}",
                opts=pulumi.ResourceOptions(parent=self, provider=host.docker),
            )
            for v in ("prometheus", "alertmanager", "grafana")
        }

        alertmanager_yml = render_alertmanager_config(
            webhook_url=cfg.secret("alertWebhookUrl"), environment=cfg.environment
        )
        alertmanager = self._container(
            name,
            args,
            "alertmanager",
            cfg.images.alertmanager,
            command=[
                f"--config.file={ALERTMANAGER_CONF}",
                "--storage.path=/alertmanager",
                f"--web.listen-address=:{9093}",
            ],
            files={ALERTMANAGER_CONF: alertmanager_yml},
            secret_files=[ALERTMANAGER_CONF],
            data_path="/alertmanager",
            internal=9093,
            published=mon.alertmanager_port,
            health="/-/healthy",
            user="65534:65534",
            # Later configs reach the running container (_alertmanager_reload), not a new one.
            ignore_changes=["uploads"],
        )
        self._alertmanager_reload(name, args, host, alertmanager, alertmanager_yml)

        rules = render_alert_rules(
            mon.thresholds,
            environment=cfg.environment,
            backups=cfg.backup.enabled,
            postgres=cfg.postgres is not None,
            # BackupJob runs the drills from the backup runner's crontab.
            drill_max_age_hours=cfg.drill_max_age_hours() if cfg.backup.enabled and cfg.drills else None,
        )
        prometheus = self._prometheus(name, args, host, targets, rules, depends_on=[alertmanager])

        self._grafana_password(name)
        if mon.grafana:
            self._container(
                name,
                args,
                "grafana",
                cfg.images.grafana,
                command=None,
                files={
                    f"{GRAFANA_PROVISIONING}/datasources/webstack.yaml": render_grafana_datasources(
                        prometheus_url="http://prometheus:9090"
                    ),
                    f"{GRAFANA_PROVISIONING}/dashboards/webstack.yaml": render_grafana_dashboard_providers(
                        dashboards_dir=GRAFANA_DASHBOARDS
                    ),
                    f"{GRAFANA_DASHBOARDS}/webstack.json": render_grafana_dashboard(environment=cfg.environment),
                },
                data_path="/var/lib/grafana",
                internal=3000,
                published=mon.grafana_port,
                health="/api/health",
                user="472:0",
                env={
                    "GF_USERS_ALLOW_SIGN_UP": "false",
                    "GF_AUTH_ANONYMOUS_ENABLED": "false",
                    "GF_ANALYTICS_REPORTING_ENABLED": "false",
                },
                secret_env={"GF_SECURITY_ADMIN_PASSWORD": self.grafana_admin_password},
                depends_on=[prometheus],
            )

        local = "127.0.0.1"
        self.prometheus_url = f"http://{local}:{mon.prometheus_port}"
        self.alertmanager_url = f"http://{local}:{mon.alertmanager_port}"
        self.grafana_url = f"http://{local}:{mon.grafana_port}" if mon.grafana else None
        self.tunnel_command = (
            None
            if host.is_local
            else (
                f"ssh -N -L {mon.grafana_port}:127.0.0.1:{mon.grafana_port} -L {mon.prometheus_port}:127.0.0.1:{mon.prometheus_port}"
                f" -L {mon.alertmanager_port}:127.0.0.1:{mon.alertmanager_port} {host.host.deploy_user}@{host.host.address}"
            )
        )

    def _prometheus(
        self,
        name: str,
        args: MonitoringStackArgs,
        host: VpsHost,
        targets: dict[str, list[Endpoint]],
        rules: str,
        *,
        depends_on: list[pulumi.Resource],
    ) -> docker.Container:
        """Prometheus reads its config from a host folder bound into the container. Each job's
        targets are a file it watches, so a roll of the app (new replica names) rewrites a file
        and restarts nothing; a change of the config or the rules reloads it in place."""
        mon = args.config.monitoring
        conf_dir = f"{host.config_root}/monitoring/prometheus"
        jobs = [
            ScrapeJob(
                name=job,
                targets=[],
                metrics_path=args.metrics_paths.get(job, "/metrics"),
                targets_file=f"{PROMETHEUS_DIR}/targets/{job}.json",
            )
            for job in sorted(targets)
        ]
        prometheus_yml = render_prometheus_config(
            scrape_interval_s=mon.scrape_interval_s,
            jobs=[
                *jobs,
                ScrapeJob(name="prometheus", targets=["localhost:9090"]),
                ScrapeJob(name="alertmanager", targets=["alertmanager:9093"]),
            ],
            alertmanager_targets=["alertmanager:9093"],
            rule_files=[RULES, *(f"{PROMETHEUS_DIR}/rules/{f}" for f in sorted(args.rule_files))],
            environment=args.config.environment,
        )
        self.prometheus_config = pulumi.Output.from_input(prometheus_yml)
        written = [
            host.write_file(f"{name}-prometheus-config", f"{conf_dir}/prometheus.yml", prometheus_yml, parent=self),
            host.write_file(f"{name}-prometheus-rules", f"{conf_dir}/{RULES_FILE}", rules, parent=self),
            *(
                host.write_file(
                    f"{name}-prometheus-rules-{f.split('.')[0]}", f"{conf_dir}/rules/{f}", text, parent=self
                )
                for f, text in sorted(args.rule_files.items())
            ),
        ]
        for job, endpoints in sorted(targets.items()):
            listed = pulumi.Output.all(*[e.from_host(host.name) for e in endpoints]).apply(
                functools.partial(render_targets_file, job=job, labels=args.target_labels.get(job, {}))
            )
            written.append(
                host.write_file(f"{name}-targets-{job}", f"{conf_dir}/targets/{job}.json", listed, parent=self)
            )
        container = self._container(
            name,
            args,
            "prometheus",
            args.config.images.prometheus,
            command=[
                f"--config.file={PROMETHEUS_DIR}/prometheus.yml",
                "--storage.tsdb.path=/prometheus",
                f"--storage.tsdb.retention.time={mon.retention_days}d",
                "--web.enable-lifecycle",
            ],
            files={},
            config_dir=(conf_dir, PROMETHEUS_DIR),
            data_path="/prometheus",
            internal=9090,
            published=mon.prometheus_port,
            health="/-/ready",
            user="65534:65534",
            depends_on=[*depends_on, *written],
        )
        # A new config or new rules: checked by promtool inside the container, then a reload.
        prometheus_name = f"webstack-{args.stack}-prometheus"
        host.run(
            f"{name}-prometheus-reload",
            f"docker exec {prometheus_name} promtool check config {PROMETHEUS_DIR}/prometheus.yml >/dev/null"
            f" && docker kill --signal HUP {prometheus_name} >/dev/null",
            parent=self,
            triggers=[
                hashlib.sha256("\0".join([prometheus_yml, rules, *args.rule_files.values()]).encode()).hexdigest()
            ],
            depends_on=[container, *written],
        )
        return container

    def _alertmanager_reload(
        self, name: str, args: MonitoringStackArgs, host: VpsHost, container: docker.Container, config: str
    ) -> None:
        """A new alertmanager.yml goes into the running container (it holds the webhook URL, a
        secret: never in a file on the host's disk), is checked by amtool, then loaded by SIGHUP. Run
        again for a new config and for a new container (created with the config it was first
        given: its uploads are ignored after creation)."""
        target = f"webstack-{args.stack}-alertmanager"
        new = f"{ALERTMANAGER_CONF}.new"
        # As Alertmanager's own user, who owns /etc/alertmanager in its image (upstream's and
        # ours): root in the container has no capability to write another user's folder.
        inside = (
            f"umask 077 && cat > {new}"
            f" && {{ amtool check-config {new} >/dev/null || {{ rm -f {new}; exit 1; }}; }} && mv {new} {ALERTMANAGER_CONF}"
        )
        host.run(
            f"{name}-alertmanager-reload",
            f"docker exec -i {target} sh -c {shlex.quote(inside)} && docker kill --signal HUP {target} >/dev/null",
            parent=self,
            stdin=pulumi.Output.secret(config),
            triggers=[pulumi.Output.secret(hashlib.sha256(config.encode()).hexdigest()), container.id],
            depends_on=[container],
        )

    def _node_exporter(self, name: str, args: MonitoringStackArgs, host: VpsHost) -> Endpoint:
        container = docker.Container(
            f"{name}-node-exporter-{host.name}",
            name=f"webstack-{args.stack}-node-exporter",
            image=self._images.on(host, "node-exporter", args.config.images.node_exporter).image_id,
            command=[
                "--path.rootfs=/host",
                "--collector.textfile.directory=/textfile",
                "--collector.filesystem.mount-points-exclude=^/(dev|proc|sys|run|var/lib/docker/.+)($|/)",
            ],
            volumes=[
                docker.ContainerVolumeArgs(host_path="/", container_path="/host", read_only=True),
                docker.ContainerVolumeArgs(
                    host_path=f"{host.config_root}/textfile", container_path="/textfile", read_only=True
                ),
            ],
            healthcheck=http_healthcheck(f"http://127.0.0.1:{NODE_EXPORTER_PORT}/"),
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=host.network_name, aliases=["node-exporter"])],
            ports=[internal_port(NODE_EXPORTER_PORT, host.internal_address)] if host.multi_host else [],
            user="65534:65534",
            **container_defaults(
                memory_mb=EXPORTER.memory_mb, stack=args.stack, service="node-exporter", host_pid=True
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=host.docker, delete_before_replace=True),
        )
        return endpoint(
            container,
            host=host.name,
            internal_address=host.internal_address,
            port=NODE_EXPORTER_PORT,
            published=host.multi_host,
        )

    def _container(
        self,
        name: str,
        args: MonitoringStackArgs,
        kind: str,
        image: str,
        *,
        command: list[str] | None,
        files: dict[str, pulumi.Input[str]],
        data_path: str,
        internal: int,
        published: int,
        health: str,
        user: str,
        secret_files: list[str] | None = None,
        env: dict[str, str] | None = None,
        secret_env: dict[str, pulumi.Input[str]] | None = None,
        config_dir: tuple[str, str] | None = None,
        depends_on: list[pulumi.Resource] | None = None,
        ignore_changes: list[str] | None = None,
    ) -> docker.Container:
        """One monitoring container: its data volume, its files (uploaded at creation, or a host
        folder bound read-only: `config_dir` = (host path, container path)), loopback port."""
        host = args.hosts[args.config.monitoring.host or ""]
        volumes = [docker.ContainerVolumeArgs(volume_name=self.volumes[kind].name, container_path=data_path)]
        if config_dir is not None:
            volumes.append(
                docker.ContainerVolumeArgs(host_path=config_dir[0], container_path=config_dir[1], read_only=True)
            )
        return docker.Container(
            f"{name}-{kind}",
            name=f"webstack-{args.stack}-{kind}",
            image=self._images.on(host, kind, image).image_id,
            command=command,
            envs=env_list(env or {}, secret_env),
            uploads=uploads(files, secret=secret_files or []),
            volumes=volumes,
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=host.network_name, aliases=[kind])],
            # Loopback only: operators come in through an SSH tunnel.
            ports=[docker.ContainerPortArgs(internal=internal, external=published, ip="127.0.0.1")],
            healthcheck=http_healthcheck(f"http://127.0.0.1:{internal}{health}"),
            user=user,
            wait=True,
            wait_timeout=180,
            **container_defaults(memory_mb=MONITORING[kind].memory_mb, stack=args.stack, service=kind),
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=host.docker,
                depends_on=depends_on or [],
                delete_before_replace=True,
                ignore_changes=ignore_changes,
            ),
        )
