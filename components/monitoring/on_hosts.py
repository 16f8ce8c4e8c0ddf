"""MonitoringStack on platform docker: Prometheus, Alertmanager, Grafana on the monitoring
host, their UIs on its loopback only (reach them through an SSH tunnel); node exporter on
every host, published on private addresses only when another host scrapes it. Alert rules
carry the seeds' thresholds from the config."""

from __future__ import annotations

import functools
import hashlib
import shlex

import pulumi
import pulumi_docker as docker

from components.capacity import EXPORTER, MONITORING
from components.monitoring.args import Monitoring, MonitoringStackArgs
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
from components.targets import Hosts
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


class OnHosts(Monitoring):
    """The docker half of MonitoringStack."""

    def _docker(self, name: str, args: MonitoringStackArgs, hosts: Hosts) -> None:
        mon = args.monitoring
        assert mon.host is not None
        host = hosts[mon.host]
        self._images = HostImages(self, name)
        self._monitoring_host = host

        node_targets = [self._node_exporter(name, args, h) for h in hosts.values()]
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
            webhook_url=args.alert_webhook_url, environment=args.environment
        )
        alertmanager = self._container(
            name,
            args,
            "alertmanager",
            args.images.alertmanager,
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
            environment=args.environment,
            backups=args.backups,
            postgres=args.postgres,
            # BackupJob runs the drills from the backup runner's crontab.
            drill_max_age_hours=args.drill_max_age_hours,
        )
        prometheus = self._prometheus(name, args, host, targets, rules, depends_on=[alertmanager])

        self._grafana_password(name)
        if mon.grafana:
            self._container(
                name,
                args,
                "grafana",
                args.images.grafana,
                command=None,
                files={
                    f"{GRAFANA_PROVISIONING}/datasources/webstack.yaml": render_grafana_datasources(
                        prometheus_url="http://prometheus:9090"
                    ),
                    f"{GRAFANA_PROVISIONING}/dashboards/webstack.yaml": render_grafana_dashboard_providers(
                        dashboards_dir=GRAFANA_DASHBOARDS
                    ),
                    f"{GRAFANA_DASHBOARDS}/webstack.json": render_grafana_dashboard(environment=args.environment),
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
        mon = args.monitoring
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
            environment=args.environment,
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
            args.images.prometheus,
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
            image=self._images.on(host, "node-exporter", args.images.node_exporter).image_id,
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
        host = self._monitoring_host
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
