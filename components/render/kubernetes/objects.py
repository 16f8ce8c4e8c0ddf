"""The Kubernetes objects every component shares: the Target (namespace, stack, labels,
metadata and Service DNS names), the label and annotation names, the pod pieces (resources,
security contexts, probes, env, scrape annotations, volume claim templates), the namespace
and its default-deny NetworkPolicy, Secrets, ConfigMaps, Services, ServiceAccounts,
NetworkPolicies, config checksums and the kubectl command line. Pure: no Pulumi import."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PART_OF = "webstack"
NAME = "app.kubernetes.io/name"
INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"
REDIS_CLIENT = "webstack.io/redis-client"
JOB_ANNOTATION = "webstack.io/job"
CHECKSUM = "webstack.io/config-checksum"

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


def claim_template(name: str, size_gi: int, storage_class: str | None, labels: Mapping[str, str]) -> dict[str, Any]:
    """A PersistentVolumeClaim's metadata and spec: a StatefulSet's or a Prometheus's
    volumeClaimTemplate, or the body of a standalone claim."""
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


def service_account(target: Target, name: str, component: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": target.metadata(name, component),
        "automountServiceAccountToken": False,
    }


def kubectl(target: Target, context: str | None) -> str:
    return "kubectl" + (f" --context {context}" if context else "") + f" -n {target.namespace}"
