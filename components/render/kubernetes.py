"""Kubernetes manifests of the `kubernetes` platform. Pure: no Pulumi import.

Each builder returns one whole manifest (apiVersion, kind, metadata and spec, or data) as
plain dicts with the API's camelCase names, so it validates against the Kubernetes JSON
schemas by itself; the components declare them as typed pulumi_kubernetes resources.
Secret values are never built here: a Secret builder takes the values from its caller
(Pulumi secrets there, plain strings in tests), and workloads refer to Secrets by key.

Conventions:
- labels: `app.kubernetes.io/{name,instance,component,part-of,managed-by}`; selectors use
  name and instance;
- scraping by annotations (`prometheus.io/scrape|port|path`, and `webstack.io/job` for the
  job label the alert rules expect: `app-<service>`, `redis`), or by ServiceMonitors;
- every pod: non-root, no privilege escalation, all capabilities dropped, the runtime's
  seccomp profile, no service account token unless it needs one (Pod Security
  `restricted`, which the namespace enforces).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from components.config import AutoscaleConfig, RateLimit, ServiceConfig
from components.render.backup_drill import DRILL_METRICS_FILE

PART_OF = "webstack"
NAME = "app.kubernetes.io/name"
INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"
REDIS_CLIENT = "webstack.io/redis-client"
SERVICE_LABEL = "webstack.io/service"
JOB_ANNOTATION = "webstack.io/job"
CHECKSUM = "webstack.io/config-checksum"
NGINX = "nginx.ingress.kubernetes.io/"

PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
GRAFANA_PORT = 3000
PUSHGATEWAY_PORT = 9091
REDIS_EXPORTER_PORT = 9121
PROMETHEUS_RULES = "/etc/prometheus/rules/webstack.rules.yml"
BACKUP_SCRIPTS = "/etc/webstack-backup"
BACKUP_TEXTFILE = "/textfile"
BACKUP_WORK = "/var/lib/webstack-backup"
# backup.sh's and restore.sh's own folder inside the work emptyDir: the kubelet makes the mount
# point root's, and the scripts chmod their work dir 0700 as uid 65534.
BACKUP_RUN_WORK = f"{BACKUP_WORK}/run"
BACKUP_METRICS_JOB = "webstack-backup"
NOBODY = 65534

Manifest = dict[str, Any]


def checksum(*texts: str) -> str:
    """sha256 of config texts: a pod template annotation, so a config change rolls the pods."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class Target:
    """Where the manifests go: the namespace and the stack (the `instance` label)."""

    namespace: str
    stack: str

    def labels(self, name: str, component: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {
            NAME: name,
            INSTANCE: self.stack,
            COMPONENT: component,
            "app.kubernetes.io/part-of": PART_OF,
            "app.kubernetes.io/managed-by": "pulumi",
            **(extra or {}),
        }

    def selector(self, name: str) -> dict[str, str]:
        return {NAME: name, INSTANCE: self.stack}

    def metadata(
        self,
        name: str,
        component: str,
        *,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        namespaced: bool = True,
    ) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name, "labels": self.labels(name, component, labels)}
        if namespaced:
            meta["namespace"] = self.namespace
        if annotations:
            meta["annotations"] = dict(annotations)
        return meta

    def service_dns(self, name: str) -> str:
        return f"{name}.{self.namespace}.svc.cluster.local"


# --- pods ---------------------------------------------------------------------------------


def resources(cpus: float, memory_mb: int) -> dict[str, dict[str, str]]:
    """Limits from the config; requests at half of them (the seeds' 250m/256Mi for 500m/512Mi)."""
    millicores = max(10, round(cpus * 1000))
    return {
        "requests": {"cpu": f"{max(5, millicores // 2)}m", "memory": f"{max(16, memory_mb // 2)}Mi"},
        "limits": {"cpu": f"{millicores}m", "memory": f"{memory_mb}Mi"},
    }


def container_security(*, uid: int, gid: int, read_only: bool) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": read_only,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security(*, uid: int, gid: int, fs_group: int | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if fs_group is not None:
        context["fsGroup"] = fs_group
    return context


def http_probe(path: str, port: int | str, *, period_s: int = 10, failures: int = 3) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period_s,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def env_list(plain: Mapping[str, str], secret_name: str | None = None, secret_keys: Sequence[str] = ()) -> list[Any]:
    """Plain values as `value`, secret ones from the Secret `secret_name` by key."""
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(plain.items())]
    for key in sorted(secret_keys):
        env.append({"name": key, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}})
    return env


def scrape_annotations(job: str, port: int, path: str = "/metrics") -> dict[str, str]:
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": path,
        JOB_ANNOTATION: job,
    }


def _claim(name: str, size_gi: int, storage_class: str | None, labels: Mapping[str, str]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": f"{size_gi}Gi"}},
    }
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"metadata": {"name": name, "labels": dict(labels)}, "spec": spec}


# --- namespace-wide -----------------------------------------------------------------------


def namespace(target: Target) -> Manifest:
    """The stack's namespace, with Pod Security `restricted` enforced."""
    labels = {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
    }
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": target.namespace, "labels": target.labels(target.namespace, "namespace", labels)},
    }


def default_deny_ingress(target: Target) -> Manifest:
    """No pod of the namespace accepts a connection unless a policy of its own allows it."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": target.metadata("default-deny-ingress", "network"),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }


def network_policy(
    target: Target, name: str, component: str, pod: str, rules: list[tuple[list[dict[str, Any]], list[int]]]
) -> Manifest:
    """Ingress to the pods of `pod`: each rule is (peers, TCP ports)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": target.metadata(name, component),
        "spec": {
            "podSelector": {"matchLabels": target.selector(pod)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": peers, "ports": [{"protocol": "TCP", "port": port} for port in ports]}
                for peers, ports in rules
            ],
        },
    }


def pods_named(target: Target, name: str) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": target.selector(name)}}


def secret(
    target: Target, name: str, component: str, string_data: Mapping[str, Any], *, secret_type: str = "Opaque"
) -> Manifest:
    """A Secret; the values come from the caller (Pulumi secrets in the program)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": target.metadata(name, component),
        "type": secret_type,
        "stringData": dict(string_data),
    }


def config_map(target: Target, name: str, component: str, data: Mapping[str, str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": target.metadata(name, component),
        "data": dict(sorted(data.items())),
    }


def service(
    target: Target,
    name: str,
    component: str,
    ports: Sequence[tuple[str, int]],
    *,
    headless: bool = False,
    labels: Mapping[str, str] | None = None,
) -> Manifest:
    spec: dict[str, Any] = {
        "type": "ClusterIP",
        "selector": target.selector(name if not name.endswith("-headless") else name[: -len("-headless")]),
        "ports": [
            {"name": port_name, "port": port, "targetPort": port_name, "protocol": "TCP"} for port_name, port in ports
        ],
    }
    if headless:
        spec["clusterIP"] = "None"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": target.metadata(name, component, labels=labels),
        "spec": spec,
    }


# --- AppTier ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppSpec:
    name: str
    service: ServiceConfig
    environment: str
    secret_name: str
    secret_keys: tuple[str, ...]  # env names read from the Secret (REDIS_URL included)
    annotations_scrape: bool  # pod annotations for Prometheus (false: a ServiceMonitor)


def app_deployment(target: Target, app: AppSpec, *, pod_annotations: Mapping[str, str] | None = None) -> Manifest:
    svc = app.service
    uid, gid = svc.uid_gid
    labels = {SERVICE_LABEL: app.name}
    if svc.uses_redis:
        labels[REDIS_CLIENT] = "true"
    annotations = dict(pod_annotations or {})
    if app.annotations_scrape and svc.metrics_path:
        annotations |= scrape_annotations(f"app-{app.name}", svc.port, svc.metrics_path)
    plain_env = {
        **svc.env,
        "PORT": str(svc.port),
        "WEBSTACK_SERVICE": app.name,
        "WEBSTACK_ENVIRONMENT": app.environment,
    }
    env = env_list(plain_env, app.secret_name, app.secret_keys)
    # The replica's name, as WEBSTACK_REPLICA is on the docker platform.
    env.append({"name": "WEBSTACK_REPLICA", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
    container: dict[str, Any] = {
        "name": app.name,
        "image": svc.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": svc.port, "protocol": "TCP"}],
        "env": env,
        "resources": resources(svc.cpus, svc.memory_mb),
        "securityContext": container_security(uid=uid, gid=gid, read_only=svc.read_only_root_filesystem),
        # As on docker: startupTimeoutS to pass a first health check, else the pod restarts.
        "startupProbe": http_probe(svc.health_path, "http", period_s=2, failures=svc.startup_timeout_s // 2),
        "readinessProbe": http_probe(svc.health_path, "http", period_s=5),
        "livenessProbe": http_probe(svc.health_path, "http", period_s=10),
        # Out of the Service's endpoints first, then stop: no request lands on a dying pod.
        "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
    }
    volumes: list[dict[str, Any]] = []
    if svc.read_only_root_filesystem:
        container["volumeMounts"] = [{"name": "tmp", "mountPath": "/tmp"}]
        volumes.append({"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}})
    pod: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "securityContext": pod_security(uid=uid, gid=gid),
        "terminationGracePeriodSeconds": 30,
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": target.selector(app.name)},
            }
        ],
        "containers": [container],
    }
    if volumes:
        pod["volumes"] = volumes
    template_meta: dict[str, Any] = {"labels": target.labels(app.name, "app", labels)}
    if annotations:
        template_meta["annotations"] = annotations
    spec: dict[str, Any] = {
        "selector": {"matchLabels": target.selector(app.name)},
        "revisionHistoryLimit": 5,
        "minReadySeconds": 5,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": {"metadata": template_meta, "spec": pod},
    }
    if svc.autoscale is None:
        # With an HPA the count is the HPA's: a replicas field here would reset it on every update.
        spec["replicas"] = svc.replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": target.metadata(app.name, "app", labels={SERVICE_LABEL: app.name}),
        "spec": spec,
    }


def app_service(target: Target, app: AppSpec) -> Manifest:
    return service(target, app.name, "app", [("http", app.service.port)], labels={SERVICE_LABEL: app.name})


def app_hpa(target: Target, name: str, scale: AutoscaleConfig) -> Manifest:
    metrics = [
        {
            "type": "Resource",
            "resource": {"name": resource, "target": {"type": "Utilization", "averageUtilization": pct}},
        }
        for resource, pct in (("cpu", scale.cpu_percent), ("memory", scale.memory_percent))
        if pct is not None
    ]
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": target.metadata(name, "app"),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": scale.min_replicas,
            "maxReplicas": scale.max_replicas,
            "metrics": metrics,
            "behavior": {
                "scaleUp": {
                    "stabilizationWindowSeconds": scale.scale_up_stabilization_s,
                    "policies": [{"type": "Percent", "value": scale.scale_up_percent, "periodSeconds": 60}],
                },
                "scaleDown": {
                    "stabilizationWindowSeconds": scale.scale_down_stabilization_s,
                    "policies": [{"type": "Percent", "value": scale.scale_down_percent, "periodSeconds": 60}],
                },
            },
        },
    }


def app_pdb(target: Target, name: str) -> Manifest:
    """At most one pod of the service down for a voluntary disruption (a node drain)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": target.metadata(name, "app"),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": target.selector(name)}},
    }


@dataclass(frozen=True)
class IngressSpec:
    hosts: tuple[str, ...]
    ingress_class: str
    tls_secret: str
    client_max_body_mb: int


def _burst_multiplier(limit: RateLimit) -> int:
    return max(1, math.ceil((limit.rate + limit.burst) / limit.rate))


def app_ingress(
    target: Target,
    name: str,
    backend: str,
    port_name: str,
    paths: Sequence[tuple[str, str]],
    limit: RateLimit,
    edge: IngressSpec,
    *,
    websocket: bool = False,
) -> Manifest:
    """One Ingress of the ingress-nginx controller: TLS for every host, HTTPS forced, and a
    per-client-IP rate limit (`limit-rps`, burst as a multiplier) for all its paths."""
    annotations = {
        NGINX + "force-ssl-redirect": "true",
        NGINX + "ssl-redirect": "true",
        NGINX + "limit-rps": str(limit.rate),
        NGINX + "limit-burst-multiplier": str(_burst_multiplier(limit)),
        NGINX + "proxy-body-size": f"{edge.client_max_body_mb}m",
    }
    if websocket:
        annotations[NGINX + "proxy-read-timeout"] = "3600"
        annotations[NGINX + "proxy-send-timeout"] = "3600"
    http_paths = [
        {
            "path": path,
            "pathType": path_type,
            "backend": {"service": {"name": backend, "port": {"name": port_name}}},
        }
        for path, path_type in paths
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": target.metadata(name, "edge", annotations=annotations),
        "spec": {
            "ingressClassName": edge.ingress_class,
            "tls": [{"hosts": list(edge.hosts), "secretName": edge.tls_secret}],
            "rules": [{"host": host, "http": {"paths": http_paths}} for host in edge.hosts],
        },
    }


def ingress_controller_peer(controller_namespace: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": controller_namespace}}}


# --- RedisCache ---------------------------------------------------------------------------

REDIS_UID, REDIS_GID = 999, 1000  # the redis user and group of the official alpine image


@dataclass(frozen=True)
class RedisPodSpec:
    image: str
    exporter_image: str
    port: int
    maxmemory_mb: int
    storage_gi: int
    storage_class: str | None
    secret_name: str
    config_name: str
    start: str  # the start command (password from $REDIS_PASSWORD into a file)
    config_checksum: str
    annotations_scrape: bool


def redis_statefulset(target: Target, name: str, spec: RedisPodSpec) -> Manifest:
    password = {"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": spec.secret_name, "key": "password"}}}
    annotations = {CHECKSUM: spec.config_checksum}
    if spec.annotations_scrape:
        annotations |= scrape_annotations("redis", REDIS_EXPORTER_PORT)
    redis = {
        "name": "redis",
        "image": spec.image,
        "command": ["sh", "-c", spec.start],
        "ports": [{"name": "redis", "containerPort": spec.port, "protocol": "TCP"}],
        "env": [password],
        "resources": resources(0.5, int(spec.maxmemory_mb * 1.5) + 64),
        "securityContext": container_security(uid=REDIS_UID, gid=REDIS_GID, read_only=True),
        "readinessProbe": {
            "exec": {
                "command": [
                    "sh",
                    "-c",
                    f'redis-cli -p {spec.port} --no-auth-warning -a "$REDIS_PASSWORD" ping | grep -q PONG',
                ]
            },
            "periodSeconds": 10,
            "timeoutSeconds": 5,
        },
        "livenessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 10, "timeoutSeconds": 5},
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "config", "mountPath": "/etc/redis", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    exporter = {
        "name": "exporter",
        "image": spec.exporter_image,
        "ports": [{"name": "metrics", "containerPort": REDIS_EXPORTER_PORT, "protocol": "TCP"}],
        "env": [{"name": "REDIS_ADDR", "value": f"redis://localhost:{spec.port}"}, password],
        "resources": resources(0.1, 64),
        "securityContext": container_security(uid=NOBODY, gid=NOBODY, read_only=True),
        "readinessProbe": http_probe("/health", "metrics"),
        "livenessProbe": http_probe("/health", "metrics", period_s=20),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": target.metadata(name, "cache"),
        "spec": {
            "serviceName": f"{name}-headless",
            "replicas": 1,
            "selector": {"matchLabels": target.selector(name)},
            # The data outlives the StatefulSet: deleting or scaling it keeps the claim.
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            "template": {
                "metadata": {"labels": target.labels(name, "cache"), "annotations": annotations},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security(uid=REDIS_UID, gid=REDIS_GID, fs_group=REDIS_GID),
                    "terminationGracePeriodSeconds": 30,
                    "containers": [redis, exporter],
                    "volumes": [
                        {"name": "config", "configMap": {"name": spec.config_name}},
                        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                    ],
                },
            },
            "volumeClaimTemplates": [_claim("data", spec.storage_gi, spec.storage_class, target.labels(name, "cache"))],
        },
    }


# --- MonitoringStack ----------------------------------------------------------------------


def prometheus_cluster_role(target: Target, name: str) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": target.metadata(name, "monitoring", namespaced=False),
        "rules": [
            {"apiGroups": [""], "resources": ["pods", "services", "endpoints"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
        ],
    }


def prometheus_cluster_role_binding(target: Target, name: str, service_account: str) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": target.metadata(name, "monitoring", namespaced=False),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": target.namespace}],
    }


def service_account(target: Target, name: str, component: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": target.metadata(name, component),
        "automountServiceAccountToken": False,
    }


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000)


def render_prometheus_k8s_config(
    *,
    scrape_interval_s: int,
    environment: str,
    alertmanager: str,
    rule_files: Sequence[str],
    pushgateway: str | None,
) -> str:
    """prometheus.yml for the cluster: itself, Alertmanager, the Pushgateway (backup freshness,
    its labels honoured) and every pod of the cluster annotated `prometheus.io/scrape: "true"`."""
    static = [("prometheus", f"localhost:{PROMETHEUS_PORT}"), ("alertmanager", alertmanager)]
    jobs: list[dict[str, Any]] = [
        {"job_name": job, "static_configs": [{"targets": [address]}]} for job, address in static
    ]
    if pushgateway is not None:
        jobs.append({"job_name": "pushgateway", "honor_labels": True, "static_configs": [{"targets": [pushgateway]}]})
    annotation = "__meta_kubernetes_pod_annotation_"
    jobs.append(
        {
            "job_name": "kubernetes-pods",
            "kubernetes_sd_configs": [{"role": "pod"}],
            "relabel_configs": [
                {"source_labels": [annotation + "prometheus_io_scrape"], "action": "keep", "regex": "true"},
                {
                    "source_labels": ["__meta_kubernetes_pod_phase"],
                    "action": "drop",
                    "regex": "Pending|Succeeded|Failed",
                },
                {
                    "source_labels": [annotation + "prometheus_io_path"],
                    "action": "replace",
                    "regex": "(.+)",
                    "target_label": "__metrics_path__",
                },
                {
                    "source_labels": ["__address__", annotation + "prometheus_io_port"],
                    "action": "replace",
                    "regex": r"([^:]+)(?::\d+)?;(\d+)",
                    "replacement": "$1:$2",
                    "target_label": "__address__",
                },
                # The job names the alert rules select on (app-<service>, redis).
                {
                    "source_labels": [annotation + "webstack_io_job"],
                    "action": "replace",
                    "regex": "(.+)",
                    "target_label": "job",
                },
                {
                    "source_labels": ["__meta_kubernetes_pod_label_webstack_io_service"],
                    "action": "replace",
                    "regex": "(.+)",
                    "target_label": "service",
                },
                {"source_labels": ["__meta_kubernetes_namespace"], "action": "replace", "target_label": "namespace"},
                {"source_labels": ["__meta_kubernetes_pod_name"], "action": "replace", "target_label": "pod"},
                {"source_labels": ["__meta_kubernetes_pod_node_name"], "action": "replace", "target_label": "node"},
            ],
        }
    )
    config = {
        "global": {
            "scrape_interval": f"{scrape_interval_s}s",
            "scrape_timeout": f"{min(10, scrape_interval_s)}s",
            "evaluation_interval": f"{scrape_interval_s}s",
            "external_labels": {"environment": environment},
        },
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "rule_files": list(rule_files),
        "scrape_configs": jobs,
    }
    return _dump(config)


@dataclass(frozen=True)
class StatefulAppSpec:
    """One monitoring server: a single-pod StatefulSet with its data on a claim."""

    name: str
    image: str
    port: int
    args: tuple[str, ...]
    uid: int
    gid: int
    fs_group: int
    data_path: str
    storage_gi: int
    storage_class: str | None
    health_path: str
    memory_mb: int
    cpus: float
    config_mounts: tuple[tuple[str, str, str], ...] = ()  # (volume name, configMap|secret name, mount path)
    config_kinds: Mapping[str, str] = field(default_factory=dict)  # volume name -> "configMap" or "secret"
    config_items: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # volume -> (key, path)
    env: Mapping[str, str] = field(default_factory=dict)
    secret_env: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # env -> (secret name, key)
    service_account: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)


def stateful_app(target: Target, spec: StatefulAppSpec) -> Manifest:
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(spec.env.items())]
    env += [
        {"name": k, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}}
        for k, (secret_name, key) in sorted(spec.secret_env.items())
    ]
    mounts: list[dict[str, Any]] = [{"name": "data", "mountPath": spec.data_path}, {"name": "tmp", "mountPath": "/tmp"}]
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    for volume, source, path in spec.config_mounts:
        mounts.append({"name": volume, "mountPath": path, "readOnly": True})
        kind = spec.config_kinds.get(volume, "configMap")
        ref: dict[str, Any] = {"name": source} if kind == "configMap" else {"secretName": source}
        items = spec.config_items.get(volume)
        if items:
            ref["items"] = [{"key": key, "path": item_path} for key, item_path in items]
        volumes.append({"name": volume, kind: ref})
    container: dict[str, Any] = {
        "name": spec.name,
        "image": spec.image,
        "ports": [{"name": "http", "containerPort": spec.port, "protocol": "TCP"}],
        "resources": resources(spec.cpus, spec.memory_mb),
        "securityContext": container_security(uid=spec.uid, gid=spec.gid, read_only=True),
        "readinessProbe": http_probe(spec.health_path, "http"),
        "livenessProbe": http_probe(spec.health_path, "http", period_s=20, failures=6),
        "volumeMounts": mounts,
    }
    if spec.args:
        container["args"] = list(spec.args)
    if env:
        container["env"] = env
    pod: dict[str, Any] = {
        "automountServiceAccountToken": spec.service_account is not None,
        "securityContext": pod_security(uid=spec.uid, gid=spec.gid, fs_group=spec.fs_group),
        "containers": [container],
        "volumes": volumes,
    }
    if spec.service_account:
        pod["serviceAccountName"] = spec.service_account
    template_meta: dict[str, Any] = {"labels": target.labels(spec.name, "monitoring")}
    if spec.annotations:
        template_meta["annotations"] = dict(spec.annotations)
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": target.metadata(spec.name, "monitoring"),
        "spec": {
            "serviceName": spec.name,
            "replicas": 1,
            "selector": {"matchLabels": target.selector(spec.name)},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            "template": {"metadata": template_meta, "spec": pod},
            "volumeClaimTemplates": [
                _claim("data", spec.storage_gi, spec.storage_class, target.labels(spec.name, "monitoring"))
            ],
        },
    }


def pushgateway_deployment(target: Target, name: str, image: str) -> Manifest:
    container = {
        "name": name,
        "image": image,
        "ports": [{"name": "http", "containerPort": PUSHGATEWAY_PORT, "protocol": "TCP"}],
        "resources": resources(0.1, 64),
        "securityContext": container_security(uid=NOBODY, gid=NOBODY, read_only=True),
        "readinessProbe": http_probe("/-/ready", "http"),
        "livenessProbe": http_probe("/-/healthy", "http", period_s=20),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": target.metadata(name, "monitoring"),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": target.selector(name)},
            "template": {
                "metadata": {"labels": target.labels(name, "monitoring")},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security(uid=NOBODY, gid=NOBODY),
                    "containers": [container],
                },
            },
        },
    }


def service_monitor(
    target: Target,
    name: str,
    *,
    selector: Mapping[str, str],
    port: str,
    path: str,
    interval_s: int,
    job: str,
    labels: Mapping[str, str] | None = None,
    honor_labels: bool = False,
) -> Manifest:
    """A ServiceMonitor (monitoring.coreos.com/v1) that sets the job and labels the rules expect."""
    relabelings: list[dict[str, Any]] = [{"action": "replace", "targetLabel": "job", "replacement": job}]
    relabelings += [
        {"action": "replace", "targetLabel": key, "replacement": value} for key, value in sorted((labels or {}).items())
    ]
    endpoint: dict[str, Any] = {"port": port, "path": path, "interval": f"{interval_s}s", "relabelings": relabelings}
    if honor_labels:
        endpoint["honorLabels"] = True
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": target.metadata(name, "monitoring"),
        "spec": {
            "selector": {"matchLabels": dict(selector)},
            "namespaceSelector": {"matchNames": [target.namespace]},
            "endpoints": [endpoint],
        },
    }


def prometheus_rule(target: Target, name: str, rules_yaml: str) -> Manifest:
    """The alert rules (the same file as on the docker platform) as a PrometheusRule."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": target.metadata(name, "monitoring"),
        "spec": {"groups": yaml.safe_load(rules_yaml)["groups"]},
    }


def prometheus_server(
    target: Target,
    name: str,
    *,
    image: str,
    service_account: str,
    scrape_interval_s: int,
    retention_days: int,
    environment: str,
    alertmanager_service: str,
    storage_gi: int,
    storage_class: str | None,
) -> Manifest:
    """A Prometheus (monitoring.coreos.com/v1) the cluster's Prometheus Operator runs: it picks
    up this stack's ServiceMonitors and PrometheusRules and sends alerts to its Alertmanager."""
    mine = {"matchLabels": {"app.kubernetes.io/part-of": PART_OF, INSTANCE: target.stack}}
    claim = _claim("data", storage_gi, storage_class, target.labels(name, "monitoring"))
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "Prometheus",
        "metadata": target.metadata(name, "monitoring"),
        "spec": {
            "image": image,
            "replicas": 1,
            "serviceAccountName": service_account,
            "serviceMonitorSelector": mine,
            "ruleSelector": mine,
            "scrapeInterval": f"{scrape_interval_s}s",
            "evaluationInterval": f"{scrape_interval_s}s",
            "retention": f"{retention_days}d",
            "externalLabels": {"environment": environment},
            "alerting": {
                "alertmanagers": [{"namespace": target.namespace, "name": alertmanager_service, "port": "http"}]
            },
            "podMetadata": {"labels": target.labels(name, "monitoring")},
            "securityContext": pod_security(uid=NOBODY, gid=NOBODY, fs_group=NOBODY),
            "resources": resources(1, 1024),
            "storage": {"volumeClaimTemplate": claim},
        },
    }


# --- BackupJob ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupPodSpec:
    image: str
    plain_env: Mapping[str, str]
    secret_name: str
    secret_keys: tuple[str, ...]
    scripts_config_map: str
    state_claim: str
    pushgateway: str  # host:port
    uses_redis: bool
    scripts_checksum: str


def run_and_push(script: str, metrics_file: str, job: str, failure: str) -> str:
    """The scheduled run: `script`, then its metrics file to the Pushgateway (also after a failed
    run: the metrics say which target failed); the job fails if either did."""
    return (
        f"rc=0; {BACKUP_SCRIPTS}/{script} || rc=$?; "
        "busybox wget -q -O /dev/null --header 'Content-Type: text/plain; version=0.0.4' "
        f"--post-file {BACKUP_TEXTFILE}/{metrics_file} "
        f'"http://$PUSHGATEWAY/metrics/job/{job}" '
        f'|| {{ echo "{failure} to $PUSHGATEWAY" >&2; rc=1; }}; exit "$rc"'
    )


BACKUP_RUN = run_and_push(
    "backup.sh", "webstack_backup.prom", BACKUP_METRICS_JOB, "backup: could not push the freshness metrics"
)


def script_pod(
    name: str,
    *,
    image: str,
    env: list[dict[str, Any]],
    limits: dict[str, Any],
    scripts_config_map: str,
    work: dict[str, Any],
    extra: Sequence[tuple[dict[str, Any], dict[str, Any]]],
    command: Sequence[str] | None,
) -> dict[str, Any]:
    """A pod of the backup component as uid 65534 with a read-only root: the scripts from a
    ConfigMap, scratch on the `work` emptyDir, a small /tmp, and `extra` (mount, volume) pairs."""
    mounts = [
        {"name": "scripts", "mountPath": BACKUP_SCRIPTS, "readOnly": True},
        {"name": "work", "mountPath": BACKUP_WORK},
        {"name": "tmp", "mountPath": "/tmp"},
        *(mount for mount, _ in extra),
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "scripts", "configMap": {"name": scripts_config_map, "defaultMode": 0o555}},
        {"name": "work", "emptyDir": work},
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        *(volume for _, volume in extra),
    ]
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "env": env,
        "resources": limits,
        "securityContext": container_security(uid=NOBODY, gid=NOBODY, read_only=True),
        "volumeMounts": mounts,
    }
    if command is not None:
        container["command"] = list(command)
    return {
        "automountServiceAccountToken": False,
        "securityContext": pod_security(uid=NOBODY, gid=NOBODY, fs_group=NOBODY),
        "restartPolicy": "Never",
        "containers": [container],
        "volumes": volumes,
    }


def backup_pod(target: Target, name: str, spec: BackupPodSpec, *, command: Sequence[str] | None) -> dict[str, Any]:
    """The backup pod's spec: scripts from a ConfigMap, secrets from a Secret, scratch on emptyDir.
    With a command (the scheduled run) its metrics stay on a claim between runs."""
    state = (
        {"name": "state", "mountPath": BACKUP_TEXTFILE},
        {"name": "state", "persistentVolumeClaim": {"claimName": spec.state_claim}},
    )
    return script_pod(
        name,
        image=spec.image,
        env=env_list({**spec.plain_env, "PUSHGATEWAY": spec.pushgateway}, spec.secret_name, spec.secret_keys),
        limits=resources(1, 1024),
        scripts_config_map=spec.scripts_config_map,
        work={},
        extra=[state] if command is not None else [],
        command=command,
    )


def backup_pod_labels(target: Target, name: str, spec: BackupPodSpec) -> dict[str, str]:
    return target.labels(name, "backup", {REDIS_CLIENT: "true"} if spec.uses_redis else None)


def utc_cronjob(
    target: Target,
    name: str,
    *,
    schedule: str,
    backoff_limit: int,
    pod_labels: dict[str, str],
    checksum: str,
    pod: dict[str, Any],
) -> Manifest:
    """A CronJob of the backup component on a UTC schedule: never two runs at once, six hours
    at most, the last three jobs of each outcome kept; `checksum` rolls its pods on a change."""
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": target.metadata(name, "backup"),
        "spec": {
            "schedule": schedule,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": backoff_limit,
                    "activeDeadlineSeconds": 6 * 3600,
                    "template": {"metadata": {"labels": pod_labels, "annotations": {CHECKSUM: checksum}}, "spec": pod},
                }
            },
        },
    }


def backup_cronjob(target: Target, name: str, spec: BackupPodSpec, *, schedule: str) -> Manifest:
    return utc_cronjob(
        target,
        name,
        schedule=schedule,
        backoff_limit=1,
        pod_labels=backup_pod_labels(target, name, spec),
        checksum=spec.scripts_checksum,
        pod=backup_pod(target, name, spec, command=["bash", "-c", BACKUP_RUN]),
    )


def backup_claim(target: Target, name: str, size_gi: int, storage_class: str | None) -> Manifest:
    claim = _claim(name, size_gi, storage_class, target.labels(name, "backup"))
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {**claim["metadata"], "namespace": target.namespace},
        "spec": claim["spec"],
    }


def restore_command(
    target: Target, name: str, spec: BackupPodSpec, *, targets: Sequence[str], context: str | None
) -> str:
    """A one-off pod with the backup pod's env and scripts that runs restore.sh interactively."""
    overrides = {
        "metadata": {"labels": backup_pod_labels(target, f"{name}-restore", spec)},
        "spec": {
            **backup_pod(target, f"{name}-restore", spec, command=None),
            "containers": [
                {
                    **backup_pod(target, f"{name}-restore", spec, command=None)["containers"][0],
                    "stdin": True,
                    "tty": True,
                }
            ],
        },
    }
    return (
        f"{kubectl(target, context)} run {name}-restore --rm -it --restart=Never --image={spec.image} "
        f"--override-type=strategic --overrides='{json.dumps(overrides, separators=(',', ':'), sort_keys=True)}' "
        f"--command -- {BACKUP_SCRIPTS}/restore.sh <{'|'.join(targets)}> [SNAPSHOT]"
    )


# --- BackupJob: the restore drill ---------------------------------------------------------

DRILL_METRICS_JOB = "webstack-backup-drill"
# drill.sh's work dir: a directory of its own in the scratch emptyDir. The kubelet creates an
# emptyDir's root owned by root (mode 0777), and drill.sh makes its work dir 0700, which only
# the owner may do.
DRILL_WORK = f"{BACKUP_WORK}/drill"
DRILL_RECORDS_SIZE = "16Mi"


@dataclass(frozen=True)
class DrillPodSpec:
    """The restore drill's pod: the backup's image, scripts ConfigMap and env Secret (only the
    keys drill.sh reads: never DATABASE_URL), its scratch space on an emptyDir."""

    image: str
    plain_env: Mapping[str, str]
    secret_name: str
    secret_keys: tuple[str, ...]
    scripts_config_map: str
    state_claim: str  # the drill's metrics between runs: a failed drill keeps the last success
    pushgateway: str  # host:port
    records_dir: str  # drill.sh's "host" copy of the records: an emptyDir, gone with the pod
    reads_live_redis: bool  # the Redis check compares with the live key count (INFO keyspace)
    scratch_mb: int  # the emptyDir's size: the largest snapshot restored, scratchMinMb, restic's cache
    memory_mb: int  # restic, and the scratch redis-server holding the restored data set
    scripts_checksum: str


DRILL_RUN = run_and_push("drill.sh", DRILL_METRICS_FILE, DRILL_METRICS_JOB, "drill: could not push its metrics")


def backup_drill_pod(target: Target, name: str, spec: DrillPodSpec, *, command: Sequence[str] | None) -> dict[str, Any]:
    """The drill pod's spec. With a command, the scheduled drill: scratch space for the restore
    (requested from the node), the records directory and the metrics claim. Without one, a
    one-off pod that reads the repository only (drill.sh records): no Redis, no claim."""
    scheduled = command is not None
    plain = {**spec.plain_env, "PUSHGATEWAY": spec.pushgateway}
    keys = spec.secret_keys
    if not scheduled:
        plain = {k: v for k, v in plain.items() if not k.startswith("REDIS")}
        keys = tuple(k for k in keys if not k.startswith("REDIS"))
    limits = resources(1, spec.memory_mb if scheduled else 1024)
    extra: list[tuple[dict[str, Any], dict[str, Any]]] = []
    if scheduled:
        extra = [
            (
                {"name": "records", "mountPath": spec.records_dir},
                {"name": "records", "emptyDir": {"sizeLimit": DRILL_RECORDS_SIZE}},
            ),
            (
                {"name": "state", "mountPath": BACKUP_TEXTFILE},
                {"name": "state", "persistentVolumeClaim": {"claimName": spec.state_claim}},
            ),
        ]
        # The scheduler places the pod on a node with the scratch space free.
        limits["requests"]["ephemeral-storage"] = f"{spec.scratch_mb}Mi"
    return script_pod(
        name,
        image=spec.image,
        env=env_list(plain, spec.secret_name, keys),
        limits=limits,
        scripts_config_map=spec.scripts_config_map,
        work={"sizeLimit": f"{spec.scratch_mb}Mi" if scheduled else "1Gi"},
        extra=extra,
        command=command,
    )


def backup_drill_cronjob(target: Target, name: str, spec: DrillPodSpec, *, schedule: str) -> Manifest:
    """drill.sh on its schedule. One attempt: a failed drill is evidence, not a flake to retry."""
    return utc_cronjob(
        target,
        name,
        schedule=schedule,
        backoff_limit=0,
        pod_labels=target.labels(name, "backup", {REDIS_CLIENT: "true"} if spec.reads_live_redis else None),
        checksum=spec.scripts_checksum,
        pod=backup_drill_pod(target, name, spec, command=["bash", "-c", DRILL_RUN]),
    )


def drill_records_command(
    target: Target, name: str, spec: DrillPodSpec, *, context: str | None, count: int = 10
) -> str:
    """A one-off pod with the drill's scripts and the repository's env that prints the last
    `count` evidence records from the repository (drill.sh records), then goes."""
    pod_name = f"{name}-records"
    overrides = {
        "metadata": {"labels": target.labels(pod_name, "backup")},
        "spec": backup_drill_pod(target, pod_name, spec, command=None),
    }
    return (
        f"{kubectl(target, context)} run {pod_name} --rm -i --quiet --restart=Never --image={spec.image} "
        f"--override-type=strategic --overrides='{json.dumps(overrides, separators=(',', ':'), sort_keys=True)}' "
        f"--command -- {BACKUP_SCRIPTS}/drill.sh records {count}"
    )


def kubectl(target: Target, context: str | None) -> str:
    return "kubectl" + (f" --context {context}" if context else "") + f" -n {target.namespace}"


@dataclass(frozen=True)
class ScrapeService:
    """A Service a ServiceMonitor scrapes (ServiceMonitor mode), with the job the rules expect."""

    job: str
    service: str  # the Service's name (its `app.kubernetes.io/name` label)
    port: str  # the Service's port name
    path: str = "/metrics"
    labels: Mapping[str, str] = field(default_factory=dict)
    honor_labels: bool = False
