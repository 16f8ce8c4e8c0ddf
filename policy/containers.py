"""What a Docker container of the stack is, read from its props (engine names).

The container's `image` input is an image id (a RemoteImage output), so a role is read
from what the container runs instead: its command, environment, labels and name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from .common import as_dict, as_int, as_list, parse_env

CONTAINER = "docker:index/container:Container"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"

Role = Literal[
    "edge",
    "app",
    "redis",
    "redis-sentinel",
    "prometheus",
    "alertmanager",
    "grafana",
    "exporter",
    "backup",
    "postgres",
    "pgbouncer",
    "log-store",
    "vmalert",
    "log-shipper",
    "other",
]

# Internal services: never on a public interface.
INTERNAL_ROLES: frozenset[str] = frozenset(
    {"redis", "redis-sentinel", "prometheus", "alertmanager", "grafana", "exporter", "postgres", "pgbouncer"}
)
# Well-known container ports of internal services (Redis, Sentinel, Prometheus,
# Alertmanager, node / nginx / redis exporters; PostgreSQL, PgBouncer, the postgres exporter).
INTERNAL_PORTS: frozenset[int] = frozenset({6379, 26379, 9090, 9093, 9100, 9113, 9121, 5432, 6432, 9187})

# The log store (VictoriaLogs: its HTTP API and web UI on 9428) and vmalert (8880), which runs the
# LogsQL alert rules (docs/logs.md): internal as Prometheus is, on loopback or a private address.
LOG_ROLES: frozenset[str] = frozenset({"log-store", "vmalert", "log-shipper"})
LOG_PORTS: frozenset[int] = frozenset({9428, 8880})
INTERNAL_ROLES = INTERNAL_ROLES | LOG_ROLES
INTERNAL_PORTS = INTERNAL_PORTS | LOG_PORTS


def command_args(props: Mapping[str, Any]) -> list[str]:
    return [a for a in as_list(props.get("command")) + as_list(props.get("entrypoints")) if isinstance(a, str)]


def labels(props: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in as_list(props.get("labels")):
        entry = as_dict(item)
        if isinstance(entry.get("label"), str):
            out[entry["label"]] = entry.get("value")
    return out


def container_name(props: Mapping[str, Any], resource_name: str) -> str:
    name = props.get("name")
    return name if isinstance(name, str) and name else resource_name


def role(props: Mapping[str, Any], resource_name: str) -> Role:
    """The container's role in the stack, from what it runs (falling back to its names)."""
    args = command_args(props)
    joined = " ".join(args)
    env = parse_env(props.get("envs"))
    if "redis-server" in joined:
        return "redis-sentinel" if "--sentinel" in joined else "redis"
    if "pgbouncer" in joined and "prometheus-postgres-exporter" not in joined:
        return "pgbouncer"
    if "webstack-postgres-" in joined or re.search(r"\b(postgres|initdb|pg_ctl)\b.*-D ", joined):
        return "postgres"
    if args and args[0] == "nginx":
        return "edge"
    if "--storage.tsdb.path" in joined or "prometheus.yml" in joined:
        return "prometheus"
    if "-storageDataPath=" in joined or "victoria-logs" in joined:
        return "log-store"
    if "-datasource.url=" in joined or "-rule.defaultRuleType=" in joined:
        return "vmalert"  # before Alertmanager: its -notifier.url names it
    if "syslog-ng" in joined:
        return "log-shipper"  # before the labels: it carries webstack.service like every container
    if "alertmanager" in joined or "--cluster.listen-address" in joined:
        return "alertmanager"
    if any(key.startswith("GF_") for key in env):
        return "grafana"
    if (
        "--nginx.scrape-uri" in joined
        or "--path.rootfs" in joined
        or "--collector." in joined
        or "REDIS_ADDR" in env
        or "exporter" in container_name(props, resource_name)
    ):
        return "exporter"
    if "RESTIC_REPOSITORY" in env:
        return "backup"
    if "webstack.service" in labels(props) or "WEBSTACK_SERVICE" in env:
        return "app"
    names = f"{container_name(props, resource_name)} {resource_name}"
    for keyword, found in (
        ("sentinel", "redis-sentinel"),
        ("redis", "redis"),
        ("prometheus", "prometheus"),
        ("alertmanager", "alertmanager"),
        ("grafana", "grafana"),
        ("exporter", "exporter"),
        ("victoria", "log-store"),
        ("vmalert", "vmalert"),
        ("backup", "backup"),
        ("edge", "edge"),
        ("nginx", "edge"),
    ):
        if keyword in names:
            return found  # type: ignore[return-value]
    return "other"


def published_ports(props: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each published port as {internal, external, ip, protocol} (numbers as int)."""
    out: list[dict[str, Any]] = []
    for item in as_list(props.get("ports")):
        port = as_dict(item)
        out.append(
            {
                "internal": as_int(port.get("internal")),
                "external": as_int(port.get("external")),
                "ip": port.get("ip"),
                "protocol": port.get("protocol") or "tcp",
            }
        )
    return out


def uploads(props: Mapping[str, Any]) -> dict[str, Any]:
    """Files put into the container at creation: path -> content (possibly UNKNOWN)."""
    out: dict[str, Any] = {}
    for item in as_list(props.get("uploads")):
        upload = as_dict(item)
        if isinstance(upload.get("file"), str):
            out[upload["file"]] = upload.get("content")
    return out


# VpsHost.write_file: `mkdir -p DIR && cat > PATH.tmp && chmod MODE PATH.tmp && mv PATH.tmp PATH`,
# the content on stdin.
_WRITES_FILE = re.compile(r"\bcat > (?P<path>\S+)\.tmp && chmod \d+ (?P=path)\.tmp && mv (?P=path)\.tmp (?P=path)$")
COMMANDS = frozenset({"command:remote:Command", "command:local:Command"})


def host_files(resources: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Files the stack writes on its hosts with command resources: path -> content (or UNKNOWN).
    Paths of different hosts are not told apart: a policy reads them beside one container."""
    out: dict[str, Any] = {}
    for resource_type, props in resources:
        create = props.get("create")
        if resource_type in COMMANDS and isinstance(create, str) and "stdin" in props:
            match = _WRITES_FILE.search(create)
            if match:
                out[match["path"]] = props.get("stdin")
    return out


def container_files(props: Mapping[str, Any], written: Mapping[str, Any]) -> dict[str, Any]:
    """Files a container reads: its uploads, and the host files under its bind mounts (at the
    path the container sees them)."""
    out = uploads(props)
    for item in as_list(props.get("volumes")):
        volume = as_dict(item)
        host, inside = volume.get("hostPath"), volume.get("containerPath")
        if isinstance(host, str) and isinstance(inside, str):
            prefix = host.rstrip("/") + "/"
            for path, content in written.items():
                if path.startswith(prefix):
                    out[f"{inside.rstrip('/')}/{path[len(prefix) :]}"] = content
    return out


# --- Kubernetes workloads (platform kubernetes) -------------------------------------------------

CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
K8S_SERVICE = "kubernetes:core/v1:Service"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
CRON_JOB = "kubernetes:batch/v1:CronJob"
# Where each workload kind keeps its pod spec.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    CRON_JOB: ("spec", "jobTemplate", "spec", "template", "spec"),
    "kubernetes:core/v1:Pod": ("spec",),
}
LONG_RUNNING = frozenset(
    {"kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:DaemonSet"}
)


def pod_containers(resource_type: str, props: Mapping[str, Any], *, init: bool = True) -> list[dict[str, Any]]:
    """The containers (and init containers) of a Kubernetes workload's pod spec."""
    path = POD_SPEC_PATHS.get(resource_type)
    if path is None:
        return []
    pod: Any = props
    for key in path:
        pod = as_dict(pod).get(key)
    kinds = ("containers", "initContainers") if init else ("containers",)
    return [as_dict(c) for kind in kinds for c in as_list(as_dict(pod).get(kind))]


def k8s_env(container: Mapping[str, Any]) -> dict[str, Any]:
    """A pod container's env: literal values; values from Secrets or ConfigMaps as None."""
    out: dict[str, Any] = {}
    for item in as_list(container.get("env")):
        entry = as_dict(item)
        if isinstance(entry.get("name"), str):
            out[entry["name"]] = entry.get("value")
    return out


def config_map_files(resources: list[tuple[str, str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Every ConfigMap key of the stack as a file: 'configmap <name>/<key>' -> content."""
    out: dict[str, Any] = {}
    for resource_type, name, props in resources:
        if resource_type == CONFIG_MAP:
            meta = as_dict(props.get("metadata")).get("name") or name
            for key, value in as_dict(props.get("data")).items():
                out[f"configmap {meta}/{key}"] = value
    return out
