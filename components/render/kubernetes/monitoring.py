"""The monitoring stack's Kubernetes objects: Prometheus's RBAC, the single-pod
StatefulSets of Prometheus, Alertmanager and Grafana, the Pushgateway, prometheus.yml for
the cluster, and in ServiceMonitor mode the ServiceMonitors, PrometheusRule and Prometheus
the cluster's Prometheus Operator runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from components.render.kubernetes.objects import (
    INSTANCE,
    NOBODY,
    PART_OF,
    Manifest,
    Target,
    claim_template,
    container_security,
    http_probe,
    pod_security,
    resources,
)

PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
GRAFANA_PORT = 3000
PUSHGATEWAY_PORT = 9091
PROMETHEUS_RULES = "/etc/prometheus/rules/webstack.rules.yml"


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
                claim_template("data", spec.storage_gi, spec.storage_class, target.labels(spec.name, "monitoring"))
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
    claim = claim_template("data", storage_gi, storage_class, target.labels(name, "monitoring"))
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


@dataclass(frozen=True)
class ScrapeService:
    """A Service a ServiceMonitor scrapes (ServiceMonitor mode), with the job the rules expect."""

    job: str
    service: str  # the Service's name (its `app.kubernetes.io/name` label)
    port: str  # the Service's port name
    path: str = "/metrics"
    labels: Mapping[str, str] = field(default_factory=dict)
    honor_labels: bool = False
