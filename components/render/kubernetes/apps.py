"""The app tier's Kubernetes objects: each service's Deployment, Service,
HorizontalPodAutoscaler and PodDisruptionBudget, and its ingress-nginx Ingress (TLS, HTTPS
forced, a per-client-IP rate limit) with the controller as a NetworkPolicy peer."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.config import AutoscaleConfig, RateLimit, ServiceConfig
from components.render.kubernetes.objects import (
    REDIS_CLIENT,
    Manifest,
    Target,
    container_security,
    env_list,
    http_probe,
    pod_security,
    resources,
    scrape_annotations,
    service,
)

SERVICE_LABEL = "webstack.io/service"
NGINX = "nginx.ingress.kubernetes.io/"


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
