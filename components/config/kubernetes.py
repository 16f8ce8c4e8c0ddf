"""`webstack:kubernetes`: where and how the stack runs on an existing cluster (platform kubernetes).

Pure: no Pulumi import. What each platform requires of the other keys is checked in
components/config/checks.py.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from components.config.base import K8sName, Model, ip_or_host_name


class StorageConfig(Model):
    """Sizes (GiB) of the PersistentVolumeClaims on platform kubernetes."""

    redis: Annotated[int, Field(ge=1, le=16_384)] = 10
    prometheus: Annotated[int, Field(ge=1, le=16_384)] = 50
    alertmanager: Annotated[int, Field(ge=1, le=16_384)] = 1
    grafana: Annotated[int, Field(ge=1, le=16_384)] = 5
    backup: Annotated[int, Field(ge=1, le=16_384)] = 1  # restic's state between runs (the freshness metrics)


class KubernetesConfig(Model):
    """Where and how the stack runs on an existing cluster (platform kubernetes)."""

    namespace: K8sName = "webstack"
    context: Annotated[str, Field(min_length=1)] | None = None  # a context of the kubeconfig secret
    ingress_class: K8sName = "nginx"
    ingress_controller_namespace: K8sName = "ingress-nginx"
    # The ingress controller's load balancer (IP address or DNS name): Cloudflare points here.
    load_balancer_address: str | None = None
    # A kubernetes.io/tls Secret in the namespace, provided by the operator (see README).
    tls_secret: K8sName = "webstack-tls"
    storage_class: K8sName | None = None
    storage_gi: StorageConfig = StorageConfig()
    # Scrape through ServiceMonitor objects of the Prometheus Operator (its CRDs must be
    # installed) instead of Prometheus' own pod discovery by annotations.
    service_monitor: bool = False
    # Write the manifests to this directory instead of applying them (pulumi-kubernetes
    # renderYamlToDirectory; Secrets land there in plaintext).
    render_to_directory: Annotated[str, Field(min_length=1)] | None = None

    @field_validator("load_balancer_address")
    @classmethod
    def _lb(cls, value: str | None) -> str | None:
        return value if value is None else ip_or_host_name(value, dotted=True)
