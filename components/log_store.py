"""LogStore: every host's logs in one searchable place (docs/logs.md).

VictoriaLogs on the store host (`logs.host`, the monitoring host by default), its port on
the private address (the loopback on a single host), where the operators' tunnel ends too;
vmalert on the
monitoring host, beside Alertmanager, running the LogsQL alert rules; and on every host a
shipper, Debian's syslog-ng, that reads Docker's json-file logs (every container labels its
lines: components/targets/containers.py) and, on a VPS host, the systemd journal, and posts them to the
store with a disk buffer that keeps what the store has not acknowledged.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.capacity import LOG_SHIPPER, LOG_STORE, VMALERT
from components.config.logs import LogsConfig
from components.render.logs import (
    DOCKER_CONTAINERS_DIR,
    SHIPPER_STATE_DIR,
    STORE_DATA_PATH,
    LogStoreSpec,
    ShipperSpec,
    log_alert_rules,
    render_log_alert_rules,
    render_shipper_conf,
    victorialogs_args,
    vmalert_args,
)
from components.targets.containers import (
    Endpoint,
    HostImages,
    command_healthcheck,
    container_defaults,
    endpoint,
    http_healthcheck,
    internal_port,
    uploads,
)
from components.targets.vps_host import VpsHost

VMALERT_RULES = "/etc/vmalert/logs.rules.yml"
SHIPPER_CONF = "/etc/syslog-ng/webstack/syslog-ng.conf"
# Where a VPS host's journal lives (persistent, then volatile), bound read-only into the shipper
# with the machine id that names the journal's folder.
JOURNAL_DIRS = ("/var/log/journal", "/run/log/journal")
STORE_ALIAS = "log-store"


@dataclass
class LogStoreArgs:
    logs: LogsConfig
    stack: str
    store_image: str
    vmalert_image: str
    shipper_image: str
    store_host: VpsHost
    monitoring_host: VpsHost  # vmalert runs here, beside Alertmanager
    hosts: list[VpsHost]  # each gets a shipper
    alertmanager_url: str = "http://alertmanager:9093"


class LogStore(pulumi.ComponentResource):
    store: Endpoint  # the store's HTTP API (Prometheus scrapes its /metrics)
    vmalert: Endpoint
    ui_url: str
    tunnel_command: str | None

    def __init__(self, name: str, args: LogStoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("webstack:logs:LogStore", name, None, opts)
        self._args = args
        self._images = HostImages(self, name)
        store = self._store(name)
        self._vmalert(name, depends_on=[store])
        for host in args.hosts:
            self._shipper(name, host)
        logs, host = args.logs, args.store_host
        self.ui_url = f"http://127.0.0.1:{logs.port}/select/vmui/"
        bound = host.internal_address if host.multi_host else "127.0.0.1"
        self.tunnel_command = (
            None
            if host.is_local
            else f"ssh -N -L {logs.port}:{bound}:{logs.port} {host.host.deploy_user}@{host.host.address}"
        )
        self.register_outputs({"uiUrl": self.ui_url})

    def store_url_from(self, host: VpsHost) -> str:
        """The store's base URL as `host` reaches it: its alias on the same host's network,
        else the store host's private address."""
        store = self._args.store_host
        address = STORE_ALIAS if host.name == store.name else store.internal_address
        return f"http://{address}:{self._args.logs.port}"

    def _store(self, name: str) -> docker.Container:
        """VictoriaLogs and its data volume; published on loopback (the tunnel) and, with
        several hosts, on the private address (the other hosts' shippers)."""
        args, logs, host = self._args, self._args.logs, self._args.store_host
        volume = docker.Volume(
            f"{name}-store-data",
            name=f"webstack-{args.stack}-log-store",
            opts=pulumi.ResourceOptions(parent=self, provider=host.docker),
        )
        max_disk = logs.max_disk_gb * 1024**3 if logs.max_disk_gb is not None else None
        spec = LogStoreSpec(retention=logs.retention, port=logs.port, max_disk_bytes=max_disk)
        # One binding: Docker reports two of one port in an order of its own, and every refresh
        # would find drift. With several hosts the private address serves the shippers and the
        # operators' tunnel alike (its far end is on the host).
        ports = [
            internal_port(logs.port, host.internal_address)
            if host.multi_host
            else docker.ContainerPortArgs(internal=logs.port, external=logs.port, ip="127.0.0.1")
        ]
        container = docker.Container(
            f"{name}-store",
            name=f"webstack-{args.stack}-log-store",
            image=self._images.on(host, "log-store", args.store_image).image_id,
            command=victorialogs_args(spec),
            volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path=STORE_DATA_PATH)],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=host.network_name, aliases=[STORE_ALIAS])],
            ports=ports,
            healthcheck=http_healthcheck(f"http://127.0.0.1:{logs.port}/health", interval_s=5),
            wait=True,
            wait_timeout=120,
            **container_defaults(memory_mb=LOG_STORE.memory_mb, stack=args.stack, service="log-store"),
            opts=pulumi.ResourceOptions(parent=self, provider=host.docker, delete_before_replace=True),
        )
        self.store = endpoint(
            container, host=host.name, internal_address=host.internal_address, port=logs.port, published=host.multi_host
        )
        return container

    def _vmalert(self, name: str, *, depends_on: list[pulumi.Resource]) -> None:
        """vmalert beside Alertmanager: the log alert rules (a new rule file replaces this
        stateless container), its API on the monitoring host's network only."""
        args, logs, host = self._args, self._args.logs, self._args.monitoring_host
        rules = render_log_alert_rules(log_alert_rules(logs.alerts)) if logs.alerts.enabled else "groups: []\n"
        container = docker.Container(
            f"{name}-vmalert",
            name=f"webstack-{args.stack}-vmalert",
            image=self._images.on(host, "vmalert", args.vmalert_image).image_id,
            command=vmalert_args(
                store_url=self.store_url_from(host),
                alertmanager_url=args.alertmanager_url,
                rules_path=VMALERT_RULES,
                port=logs.vmalert_port,
            ),
            uploads=uploads({VMALERT_RULES: rules}),
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=host.network_name, aliases=["vmalert"])],
            healthcheck=http_healthcheck(f"http://127.0.0.1:{logs.vmalert_port}/health", interval_s=5),
            user="65534:65534",
            wait=True,
            wait_timeout=120,
            **container_defaults(memory_mb=VMALERT.memory_mb, stack=args.stack, service="vmalert"),
            opts=pulumi.ResourceOptions(
                parent=self, provider=host.docker, depends_on=depends_on, delete_before_replace=True
            ),
        )
        self.vmalert = endpoint(
            container, host=host.name, internal_address=host.internal_address, port=logs.vmalert_port, published=False
        )

    def _shipper(self, name: str, host: VpsHost) -> None:
        """syslog-ng on `host`: Docker's log files (and a VPS host's journal) to the store. Its
        file positions and disk buffer are on a volume, so a new container (a new config)
        resumes where the old one stopped and resends what the store had not taken."""
        args, logs = self._args, self._args.logs
        journal = not host.is_local  # the local engine's machine is not ours to read
        spec = ShipperSpec(
            host=host.name,
            stack=args.stack,
            store_url=self.store_url_from(host),
            buffer_mb=logs.buffer_mb,
            journal=journal,
        )
        state = docker.Volume(
            f"{name}-shipper-state-{host.name}",
            name=f"webstack-{args.stack}-log-shipper",
            opts=pulumi.ResourceOptions(parent=self, provider=host.docker),
        )
        mounts = [
            docker.ContainerVolumeArgs(volume_name=state.name, container_path=SHIPPER_STATE_DIR),
            docker.ContainerVolumeArgs(
                host_path=DOCKER_CONTAINERS_DIR, container_path=DOCKER_CONTAINERS_DIR, read_only=True
            ),
        ]
        if journal:
            mounts += [
                docker.ContainerVolumeArgs(host_path=path, container_path=path, read_only=True)
                for path in (*JOURNAL_DIRS, "/etc/machine-id")
            ]
        docker.Container(
            f"{name}-shipper-{host.name}",
            name=f"webstack-{args.stack}-log-shipper",
            image=self._images.on(host, "log-shipper", args.shipper_image).image_id,
            command=[f"--cfgfile={SHIPPER_CONF}"],
            uploads=uploads({SHIPPER_CONF: render_shipper_conf(spec)}),
            volumes=mounts,
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=host.network_name)],
            healthcheck=command_healthcheck("syslog-ng-ctl stats --control=/run/syslog-ng.ctl >/dev/null"),
            # Root: dockerd's log files are root's (0640); no capability beyond reading them.
            user="0:0",
            **container_defaults(memory_mb=LOG_SHIPPER.memory_mb, stack=args.stack, service="log-shipper"),
            opts=pulumi.ResourceOptions(parent=self, provider=host.docker, delete_before_replace=True),
        )
