"""Every policy of the pack, with its name, description, config schema and default enforcement.

`POLICIES` is what `__main__` puts in the `PolicyPack` and what the offline gate runs.
Every policy is mandatory unless a stack's pack config (policy/config/<stack>.json) says
otherwise.
"""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ResourceValidation,
    ResourceValidationPolicy,
    Severity,
    StackValidation,
    StackValidationPolicy,
)

from . import (
    cloudflare_rules,
    cost_rules,
    drill_rules,
    exposure_rules,
    kubernetes_rules,
    nginx_rules,
    postgres_rules,
    resilience_rules,
    secrets_rules,
)
from .common import Schema

PACK_NAME = "webstack-guardrails"
PACK_ENFORCEMENT = EnforcementLevel.MANDATORY


def _schema(properties: Schema | None) -> PolicyConfigSchema | None:
    return PolicyConfigSchema(properties=properties) if properties else None


def _resource(
    name: str,
    validate: ResourceValidation,
    *,
    severity: Severity,
    tags: list[str],
    schema: Schema | None = None,
) -> ResourceValidationPolicy:
    doc = " ".join((validate.__doc__ or name).split())
    return ResourceValidationPolicy(
        name=name,
        description=doc,
        validate=validate,
        config_schema=_schema(schema),
        severity=severity,
        tags=tags,
        remediation_steps="Each violation message names the resource and the fix.",
    )


def _stack(
    name: str,
    validate: StackValidation,
    *,
    severity: Severity,
    tags: list[str],
    schema: Schema | None = None,
) -> StackValidationPolicy:
    doc = " ".join((validate.__doc__ or name).split())
    return StackValidationPolicy(
        name=name,
        description=doc,
        validate=validate,
        config_schema=_schema(schema),
        severity=severity,
        tags=tags,
        remediation_steps="Each violation message names the resource and the fix.",
    )


HIGH, CRITICAL, MEDIUM = Severity.HIGH, Severity.CRITICAL, Severity.MEDIUM

POLICIES: list[Policy] = [
    # HTTPS and TLS
    _resource("nginx-https-only", nginx_rules.nginx_https_only, severity=CRITICAL, tags=["https", "nginx"]),
    _resource(
        "nginx-tls-protocols",
        nginx_rules.nginx_tls_protocols,
        severity=HIGH,
        tags=["https", "nginx"],
        schema=nginx_rules.TLS_SCHEMA,
    ),
    _resource(
        "nginx-hsts", nginx_rules.nginx_hsts, severity=HIGH, tags=["https", "nginx"], schema=nginx_rules.HSTS_SCHEMA
    ),
    _resource(
        "nginx-security-headers",
        nginx_rules.nginx_security_headers,
        severity=MEDIUM,
        tags=["https", "nginx"],
        schema=nginx_rules.HEADERS_SCHEMA,
    ),
    _stack(
        "cloudflare-zone-tls",
        cloudflare_rules.cloudflare_zone_tls,
        severity=HIGH,
        tags=["https", "cloudflare"],
        schema=cloudflare_rules.ZONE_TLS_SCHEMA,
    ),
    _resource(
        "cloudflare-records-proxied",
        cloudflare_rules.cloudflare_records_proxied,
        severity=HIGH,
        tags=["https", "cloudflare"],
        schema=cloudflare_rules.RECORDS_SCHEMA,
    ),
    _resource("k8s-ingress-tls", kubernetes_rules.k8s_ingress_tls, severity=CRITICAL, tags=["https", "kubernetes"]),
    # Rate limits
    _resource(
        "nginx-rate-limit-coverage", nginx_rules.nginx_rate_limit_coverage, severity=HIGH, tags=["rate-limit", "nginx"]
    ),
    _resource(
        "nginx-login-rate-stricter",
        nginx_rules.nginx_login_rate_stricter,
        severity=HIGH,
        tags=["rate-limit", "nginx"],
        schema=nginx_rules.AUTH_SCHEMA,
    ),
    _resource(
        "nginx-rate-limit-maxima",
        nginx_rules.nginx_rate_limit_maxima,
        severity=MEDIUM,
        tags=["rate-limit", "nginx"],
        schema=nginx_rules.MAXIMA_SCHEMA,
    ),
    _resource(
        "k8s-ingress-rate-limit",
        kubernetes_rules.k8s_ingress_rate_limit,
        severity=HIGH,
        tags=["rate-limit", "kubernetes"],
        schema=kubernetes_rules.INGRESS_RATE_SCHEMA,
    ),
    # Secret handling
    _resource(
        "no-weak-secrets",
        secrets_rules.no_weak_secrets,
        severity=CRITICAL,
        tags=["secrets"],
        schema=secrets_rules.WEAK_SCHEMA,
    ),
    _resource(
        "redis-requires-password", secrets_rules.redis_requires_password, severity=CRITICAL, tags=["secrets", "redis"]
    ),
    _resource(
        "grafana-admin-password", secrets_rules.grafana_admin_password, severity=CRITICAL, tags=["secrets", "grafana"]
    ),
    _resource(
        "k8s-secrets-not-configmaps",
        kubernetes_rules.k8s_secrets_not_configmaps,
        severity=CRITICAL,
        tags=["secrets", "kubernetes"],
    ),
    _stack(
        "postgres-passwords",
        postgres_rules.postgres_passwords,
        severity=CRITICAL,
        tags=["secrets", "postgres"],
        schema=postgres_rules.PASSWORDS_SCHEMA,
    ),
    _stack(
        "stack-config-no-plaintext-secrets",
        secrets_rules.stack_config_no_plaintext_secrets,
        severity=CRITICAL,
        tags=["secrets", "config"],
    ),
    # Exposure and resilience
    _resource(
        "internal-services-not-public",
        exposure_rules.internal_services_not_public,
        severity=CRITICAL,
        tags=["exposure"],
    ),
    _stack(
        "host-firewall-enabled",
        exposure_rules.host_firewall_enabled,
        severity=CRITICAL,
        tags=["exposure", "vps"],
        schema=exposure_rules.FIREWALL_SCHEMA,
    ),
    _stack(
        "production-images-pinned",
        exposure_rules.production_images_pinned,
        severity=HIGH,
        tags=["resilience", "images"],
        schema=exposure_rules.PINNED_SCHEMA,
    ),
    _resource(
        "container-restart-policy", resilience_rules.container_restart_policy, severity=HIGH, tags=["resilience"]
    ),
    _resource(
        "container-healthcheck",
        resilience_rules.container_healthcheck,
        severity=MEDIUM,
        tags=["resilience"],
        schema=resilience_rules.HEALTHCHECK_SCHEMA,
    ),
    _resource("container-memory-limit", resilience_rules.container_memory_limit, severity=MEDIUM, tags=["resilience"]),
    _stack(
        "production-backup",
        resilience_rules.production_backup,
        severity=CRITICAL,
        tags=["resilience", "backup"],
        schema=resilience_rules.BACKUP_SCHEMA,
    ),
    _stack(
        "production-restore-drill",
        drill_rules.production_restore_drill,
        severity=HIGH,
        tags=["resilience", "backup"],
        schema=drill_rules.DRILL_SCHEMA,
    ),
    _stack(
        "production-postgres-standby",
        postgres_rules.production_postgres_standby,
        severity=HIGH,
        tags=["resilience", "postgres"],
        schema=postgres_rules.STANDBY_SCHEMA,
    ),
    _stack(
        "production-monitoring",
        resilience_rules.production_monitoring,
        severity=HIGH,
        tags=["resilience", "monitoring"],
        schema=resilience_rules.MONITORING_SCHEMA,
    ),
    # Cost
    _stack(
        "monthly-budget",
        cost_rules.monthly_budget,
        severity=HIGH,
        tags=["cost", "capacity"],
        schema=cost_rules.BUDGET_SCHEMA,
    ),
]

POLICY_NAMES: list[str] = [p.name for p in POLICIES]


def policy(name: str) -> Policy:
    return next(p for p in POLICIES if p.name == name)


def schema_of(name: str) -> Schema:
    schema = policy(name).config_schema
    return dict(schema.properties) if schema is not None else {}


def build_pack() -> None:
    """Start the pack's gRPC server for the engine (blocks until the engine stops it)."""
    from pulumi_policy import PolicyPack

    from .stack_config import capture_configure_stack

    capture_configure_stack()
    PolicyPack(
        name=PACK_NAME,
        policies=POLICIES,
        enforcement_level=PACK_ENFORCEMENT,
        description="webstack guardrails: HTTPS/TLS, rate limits, secret handling, exposure, resilience and cost, "
        "checked on the resources the program declares (the edge's nginx.conf parsed with crossplane).",
    )
