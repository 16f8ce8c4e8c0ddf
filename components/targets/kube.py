"""Declare the manifests of components/render/kubernetes/ as typed pulumi_kubernetes resources."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.render.kubernetes import Manifest

# (apiVersion, kind) -> the typed resource class.
TYPED: dict[tuple[str, str], Callable[..., pulumi.CustomResource]] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "PersistentVolumeClaim"): k8s.core.v1.PersistentVolumeClaim,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("apps/v1", "StatefulSet"): k8s.apps.v1.StatefulSet,
    ("batch/v1", "CronJob"): k8s.batch.v1.CronJob,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): k8s.autoscaling.v2.HorizontalPodAutoscaler,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    ("networking.k8s.io/v1", "Ingress"): k8s.networking.v1.Ingress,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): k8s.rbac.v1.ClusterRole,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): k8s.rbac.v1.ClusterRoleBinding,
}

# Top-level manifest keys -> the resource classes' argument names.
_ARGS = {
    "stringData": "string_data",
    "roleRef": "role_ref",
    "automountServiceAccountToken": "automount_service_account_token",
}


def declare(
    resource_name: str,
    manifest: Manifest,
    *,
    parent: pulumi.Resource,
    provider: pulumi.ProviderResource,
    depends_on: list[pulumi.Resource] | None = None,
    **overrides: Any,
) -> pulumi.CustomResource:
    """One manifest as its typed resource (a CustomResource for CRD kinds), under `parent`.

    `overrides` replace top-level fields with Pulumi inputs (e.g. a Secret's string_data).
    """
    opts = pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=depends_on or [])
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    fields = {_ARGS.get(k, k): v for k, v in manifest.items() if k not in ("apiVersion", "kind")}
    fields.update(overrides)
    typed = TYPED.get((api_version, kind))
    if typed is None:
        return k8s.apiextensions.CustomResource(resource_name, api_version=api_version, kind=kind, opts=opts, **fields)
    return typed(resource_name, opts=opts, **fields)
