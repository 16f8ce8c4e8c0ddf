"""MonitoringStack: Prometheus, Alertmanager, Grafana on the monitoring host; node exporter everywhere.

The UIs listen on the monitoring host's loopback only (reach them through an SSH
tunnel); exporters are published on private addresses only when another host
scrapes them. Alert rules carry the seeds' thresholds from the config.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from .config import Platform, StackConfig
from .render.monitoring import (
    ScrapeJob,
    render_alert_rules,
    render_alertmanager_config,
    render_grafana_dashboard,
    render_grafana_dashboard_providers,
    render_grafana_datasources,
    render_prometheus_config,
)
from .vps_host import VpsHost
from .wiring import Endpoint, container_defaults, endpoint, env_list, http_healthcheck, internal_port, uploads

NODE_EXPORTER_PORT = 9100
RULES = "/etc/prometheus/rules/webstack.rules.yml"
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


class MonitoringStack(pulumi.ComponentResource):
    grafana_admin_password: pulumi.Output[str]
    volumes: dict[str, docker.Volume]

    def __init__(self, name: str, args: MonitoringStackArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("webstack:monitoring:MonitoringStack", name, None, opts)
        if args.platform != "docker":
            raise ValueError(f"MonitoringStack: platform {args.platform!r} is not available; allowed: 'docker'")
        cfg, mon = args.config, args.config.monitoring
        host = args.hosts[mon.host]
        self._images: dict[str, docker.RemoteImage] = {}

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
        )

        rules = render_alert_rules(mon.thresholds, environment=cfg.environment, backups=cfg.backup.enabled)
        prometheus_yml = pulumi.Output.all(
            **{job: pulumi.Output.all(*[e.from_host(host.name) for e in eps]) for job, eps in targets.items()}
        ).apply(
            lambda resolved: render_prometheus_config(
                scrape_interval_s=mon.scrape_interval_s,
                jobs=[
                    ScrapeJob(
                        name=job,
                        targets=sorted(resolved[job]),
                        metrics_path=args.metrics_paths.get(job, "/metrics"),
                        labels=args.target_labels.get(job, {}),
                    )
                    for job in sorted(resolved)
                ]
                + [
                    ScrapeJob(name="prometheus", targets=["localhost:9090"]),
                    ScrapeJob(name="alertmanager", targets=["alertmanager:9093"]),
                ],
                alertmanager_targets=["alertmanager:9093"],
                rule_files=[RULES],
                environment=cfg.environment,
            )
        )
        self.prometheus_config = prometheus_yml
        prometheus = self._container(
            name,
            args,
            "prometheus",
            cfg.images.prometheus,
            command=[
                "--config.file=/etc/prometheus/prometheus.yml",
                "--storage.tsdb.path=/prometheus",
                f"--storage.tsdb.retention.time={mon.retention_days}d",
                "--web.enable-lifecycle",
            ],
            files={"/etc/prometheus/prometheus.yml": prometheus_yml, RULES: rules},
            data_path="/prometheus",
            internal=9090,
            published=mon.prometheus_port,
            health="/-/ready",
            user="65534:65534",
            depends_on=[alertmanager],
        )

        admin = random.RandomPassword(
            f"{name}-grafana-admin",
            length=32,
            special=False,
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["result"]),
        )
        self.grafana_admin_password = pulumi.Output.secret(admin.result)
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
        self.grafana_url = f"http://{local}:{mon.grafana_port}"
        self.tunnel_command = (
            None
            if host.is_local
            else (
                f"ssh -N -L {mon.grafana_port}:127.0.0.1:{mon.grafana_port} -L {mon.prometheus_port}:127.0.0.1:{mon.prometheus_port}"
                f" -L {mon.alertmanager_port}:127.0.0.1:{mon.alertmanager_port} {host.host.deploy_user}@{host.host.address}"
            )
        )
        self.register_outputs(
            {
                "prometheusUrl": self.prometheus_url,
                "alertmanagerUrl": self.alertmanager_url,
                "grafanaUrl": self.grafana_url,
                "grafanaAdminPassword": self.grafana_admin_password,
            }
        )

    def _image(self, name: str, host: VpsHost, kind: str, image: str) -> docker.RemoteImage:
        key = f"{host.name}/{kind}"
        if key not in self._images:
            self._images[key] = docker.RemoteImage(
                f"{name}-{kind}-image-{host.name}",
                name=image,
                keep_locally=True,
                opts=pulumi.ResourceOptions(parent=self, provider=host.docker),
            )
        return self._images[key]

    def _node_exporter(self, name: str, args: MonitoringStackArgs, host: VpsHost) -> Endpoint:
        container = docker.Container(
            f"{name}-node-exporter-{host.name}",
            name=f"webstack-{args.stack}-node-exporter",
            image=self._image(name, host, "node-exporter", args.config.images.node_exporter).image_id,
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
            pid_mode="host",
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=host.network_name, aliases=["node-exporter"])],
            ports=[internal_port(NODE_EXPORTER_PORT, host.internal_address)] if host.multi_host else [],
            user="65534:65534",
            **container_defaults(memory_mb=64),
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
        depends_on: list[pulumi.Resource] | None = None,
    ) -> docker.Container:
        host = args.hosts[args.config.monitoring.host]
        return docker.Container(
            f"{name}-{kind}",
            name=f"webstack-{args.stack}-{kind}",
            image=self._image(name, host, kind, image).image_id,
            command=command,
            envs=env_list(env or {}, secret_env),
            uploads=uploads(files, secret=secret_files or []),
            volumes=[docker.ContainerVolumeArgs(volume_name=self.volumes[kind].name, container_path=data_path)],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=host.network_name, aliases=[kind])],
            # Loopback only: operators come in through an SSH tunnel.
            ports=[docker.ContainerPortArgs(internal=internal, external=published, ip="127.0.0.1")],
            healthcheck=http_healthcheck(f"http://127.0.0.1:{internal}{health}"),
            user=user,
            wait=True,
            wait_timeout=180,
            **container_defaults(memory_mb=1024 if kind == "prometheus" else 256),
            opts=pulumi.ResourceOptions(
                parent=self, provider=host.docker, depends_on=depends_on or [], delete_before_replace=True
            ),
        )
