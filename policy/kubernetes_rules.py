"""Kubernetes (the platform that comes in a later release): Ingress TLS and forced redirect,
Ingress rate limits, secrets in Secrets and never in ConfigMaps or literal env values."""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from .common import Schema, as_dict, as_list, is_secret_name, is_unknown, plain, settings, subject, url_password
from .containers import pod_containers
from .nginx_rules import AUTH_PATH_PATTERN
from .stack_config import plaintext_secret_findings

INGRESS_TYPES = frozenset(
    {
        "kubernetes:networking.k8s.io/v1:Ingress",
        "kubernetes:networking.k8s.io/v1beta1:Ingress",
        "kubernetes:extensions/v1beta1:Ingress",
    }
)
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"

NGINX = "nginx.ingress.kubernetes.io/"
_TRUE = ("true", "1", "yes")


def _annotations(props: dict[str, Any]) -> dict[str, Any]:
    return as_dict(as_dict(props.get("metadata")).get("annotations"))


def _paths(props: dict[str, Any]) -> list[str]:
    return [
        str(as_dict(path).get("path") or "/")
        for rule in as_list(as_dict(props.get("spec")).get("rules"))
        for path in as_list(as_dict(as_dict(rule).get("http")).get("paths"))
    ]


def k8s_ingress_tls(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Every Ingress terminates TLS for all its hosts and forces the redirect to HTTPS
    (nginx.ingress.kubernetes.io/force-ssl-redirect or ssl-redirect: "true")."""
    if args.resource_type not in INGRESS_TYPES:
        return
    props = plain(args.props)
    spec = as_dict(props.get("spec"))
    who = subject(args.resource_type, args.name)
    tls = spec.get("tls")
    if is_unknown(tls):
        return
    covered = {str(h) for entry in as_list(tls) for h in as_list(as_dict(entry).get("hosts"))}
    hosts = [str(as_dict(rule).get("host")) for rule in as_list(spec.get("rules")) if as_dict(rule).get("host")]
    if not as_list(tls):
        report_violation(
            f"{who}: the Ingress has no tls section, so it serves plain HTTP; fix: spec.tls with the hosts and a certificate secret.",
            None,
        )
    elif hosts and (missing := [h for h in hosts if h not in covered]):
        report_violation(
            f"{who}: the Ingress has no TLS for {', '.join(missing)}; fix: list them in spec.tls[].hosts.", None
        )
    annotations = _annotations(props)
    forced = any(
        str(annotations.get(NGINX + key, "")).lower() in _TRUE for key in ("force-ssl-redirect", "ssl-redirect")
    )
    if not forced:
        report_violation(
            f'{who}: the Ingress does not force HTTPS; fix: annotation {NGINX}force-ssl-redirect: "true".', None
        )


INGRESS_RATE_SCHEMA: Schema = {
    "maxRatePerSecond": {
        "type": "number",
        "minimum": 0,
        "default": 100,
        "description": "Highest limit-rps (or limit-rpm / 60).",
    },
    "maxAuthRatePerSecond": {
        "type": "number",
        "minimum": 0,
        "default": 5,
        "description": "Highest limit of an Ingress that serves only login and auth routes.",
    },
    "authPathPattern": {"type": "string", "default": AUTH_PATH_PATTERN, "description": "Marks login and auth paths."},
}


def _number(value: Any) -> float | None:
    try:
        return float(str(value))
    except ValueError:
        return None


def k8s_ingress_rate_limit(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Every Ingress is rate limited per client (nginx.ingress.kubernetes.io/limit-rps or limit-rpm)
    within the maxima; an Ingress of login/auth routes only within the stricter maximum."""
    if args.resource_type not in INGRESS_TYPES:
        return
    props = plain(args.props)
    cfg = settings(args.get_config(), INGRESS_RATE_SCHEMA)
    annotations = _annotations(props)
    who = subject(args.resource_type, args.name)
    rps = _number(annotations.get(NGINX + "limit-rps")) if NGINX + "limit-rps" in annotations else None
    rpm = _number(annotations.get(NGINX + "limit-rpm")) if NGINX + "limit-rpm" in annotations else None
    rates = [r for r in (rps, None if rpm is None else rpm / 60.0) if r is not None]
    if not rates:
        report_violation(
            f"{who}: the Ingress has no rate limit; fix: annotation {NGINX}limit-rps (per client IP).", None
        )
        return
    rate = min(rates)
    paths = _paths(props)
    auth_only = bool(paths) and all(re.search(str(cfg["authPathPattern"]), p) for p in paths)
    maximum = float(cfg["maxAuthRatePerSecond"] if auth_only else cfg["maxRatePerSecond"])
    if rate > maximum:
        kind = "auth routes" if auth_only else "routes"
        report_violation(
            f"{who}: the Ingress limits its {kind} to {rate:g} r/s per client, above the maximum {maximum:g}; "
            f"fix: a lower {NGINX}limit-rps.",
            None,
        )


def k8s_secrets_not_configmaps(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Kubernetes secrets live in Secrets: no ConfigMap holds a secret-named key, a URL with a
    password or a token, and no container takes a secret-named env var as a literal value or
    from a ConfigMap."""
    props = plain(args.props)
    who = subject(args.resource_type, args.name)
    if args.resource_type == CONFIG_MAP:
        data = as_dict(props.get("data"))
        for finding in plaintext_secret_findings({"data": data}, ()):
            report_violation(
                f"{who}: ConfigMap {finding.removeprefix('data.')}; fix: a kubernetes:core/v1:Secret "
                "(valueFrom.secretKeyRef / envFrom.secretRef), never a ConfigMap.",
                None,
            )
        return
    for container in pod_containers(args.resource_type, props):
        for item in as_list(container.get("env")):
            env = as_dict(item)
            name = str(env.get("name", ""))
            source = as_dict(env.get("valueFrom"))
            literal = env.get("value")
            secret_value = isinstance(literal, str) and (is_secret_name(name) or url_password(literal))
            if secret_value or (is_secret_name(name) and "configMapKeyRef" in source):
                how = "a ConfigMap" if "configMapKeyRef" in source else "a literal value"
                report_violation(
                    f"{who}: container {container.get('name')} takes {name} from {how}; fix: "
                    "valueFrom.secretKeyRef to a kubernetes:core/v1:Secret.",
                    None,
                )
