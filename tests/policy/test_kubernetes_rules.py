"""Kubernetes policies (for the platform that lands later) on hand-built resources."""

from __future__ import annotations

from typing import Any

from policy.kubernetes_rules import k8s_ingress_rate_limit, k8s_ingress_tls, k8s_secrets_not_configmaps
from tests.policy.helpers import Reports, resource_args

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"


def ingress(annotations: dict[str, str], *, tls: bool = True, paths: tuple[str, ...] = ("/api/",)) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "rules": [{"host": "example.com", "http": {"paths": [{"path": p, "pathType": "Prefix"} for p in paths]}}]
    }
    if tls:
        spec["tls"] = [{"hosts": ["example.com"], "secretName": "edge-tls"}]
    return {"metadata": {"name": "edge", "annotations": annotations}, "spec": spec}


GOOD = {
    "nginx.ingress.kubernetes.io/force-ssl-redirect": "true",
    "nginx.ingress.kubernetes.io/limit-rps": "10",
}


def check(policy: Any, props: dict[str, Any], kind: str = INGRESS, config: dict[str, Any] | None = None) -> Reports:
    reports = Reports()
    policy(resource_args(kind, props, name="edge", config=config), reports)
    return reports


def test_ingress_tls() -> None:
    assert not check(k8s_ingress_tls, ingress(GOOD))
    assert "no tls section" in check(k8s_ingress_tls, ingress(GOOD, tls=False)).text()
    other_host = ingress(GOOD)
    other_host["spec"]["rules"].append({"host": "www.example.com"})
    assert "no TLS for www.example.com" in check(k8s_ingress_tls, other_host).text()
    assert (
        "does not force HTTPS"
        in check(k8s_ingress_tls, ingress({"nginx.ingress.kubernetes.io/limit-rps": "10"})).text()
    )
    assert not check(k8s_ingress_tls, ingress(GOOD), kind="kubernetes:core/v1:Service")


def test_ingress_rate_limit() -> None:
    assert not check(k8s_ingress_rate_limit, ingress(GOOD))
    assert "no rate limit" in check(k8s_ingress_rate_limit, ingress({})).text()
    assert (
        "above the maximum 100"
        in check(k8s_ingress_rate_limit, ingress({**GOOD, "nginx.ingress.kubernetes.io/limit-rps": "500"})).text()
    )
    login = ingress(GOOD, paths=("/api/auth/login",))
    assert "auth routes" in check(k8s_ingress_rate_limit, login).text()
    assert not check(
        k8s_ingress_rate_limit, ingress({"nginx.ingress.kubernetes.io/limit-rpm": "60"}, paths=("/api/auth/login",))
    )
    assert not check(
        k8s_ingress_rate_limit,
        ingress({**GOOD, "nginx.ingress.kubernetes.io/limit-rps": "500"}),
        config={"maxRatePerSecond": 1000},
    )


def test_secrets_are_not_configmaps() -> None:
    plain = {"data": {"LOG_LEVEL": "info", "API_URL": "https://api.example.com"}}
    assert not check(k8s_secrets_not_configmaps, plain, kind="kubernetes:core/v1:ConfigMap")
    leaked = {"data": {"JWT_SECRET": "k7Qp2Vx9Lm4Rt8Wz3Nb6Yc1Hd5Fg0Js", "DATABASE_URL": "postgresql://app:pw@db/app"}}
    reports = check(k8s_secrets_not_configmaps, leaked, kind="kubernetes:core/v1:ConfigMap")
    assert (
        len(reports.messages) == 2 and "JWT_SECRET" in reports.text() and "kubernetes:core/v1:Secret" in reports.text()
    )
    assert "k7Qp2V" not in reports.text()


def deployment(env: list[dict[str, Any]]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": [{"name": "backend", "image": "b:1", "env": env}]}}}}


def test_workloads_take_secrets_from_secrets() -> None:
    kind = "kubernetes:apps/v1:Deployment"
    good: list[dict[str, Any]] = [
        {"name": "JWT_SECRET", "valueFrom": {"secretKeyRef": {"name": "app", "key": "jwt"}}},
        {"name": "LOG_LEVEL", "value": "info"},
    ]
    assert not check(k8s_secrets_not_configmaps, deployment(good), kind=kind)
    literal = [{"name": "JWT_SECRET", "value": "k7Qp2Vx9Lm4Rt8Wz3Nb6Yc1Hd5Fg0Js"}]
    assert "a literal value" in check(k8s_secrets_not_configmaps, deployment(literal), kind=kind).text()
    from_map = [{"name": "REDIS_PASSWORD", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "redis"}}}]
    assert "a ConfigMap" in check(k8s_secrets_not_configmaps, deployment(from_map), kind=kind).text()
    cron = {
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "job", "env": literal}]}}}}}
    }
    assert check(k8s_secrets_not_configmaps, cron, kind="kubernetes:batch/v1:CronJob")
