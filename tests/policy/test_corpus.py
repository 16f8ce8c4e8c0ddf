"""The mutation corpus: each mutated configuration or resource set is caught by exactly the
policies that should catch it (the offline gate's evaluation, the stack's own pack config).

Config mutations are ones the program's validation accepts (it refuses others, e.g. :latest in
production: those are resource mutations, defence in depth against code changes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from policy.registry import POLICY_NAMES
from tests.policy.helpers import (
    CONTAINER,
    base_config,
    base_resources,
    directives,
    edge_conf,
    edit_env,
    edit_nginx,
    fired,
    location,
    named,
    nginx_text,
    plain_input,
    plain_server,
    remove_directives,
    run_config,
    set_input,
    tls_server,
)
from tools.offline import Declared

pytestmark = pytest.mark.timeout(180)

Resources = list[Declared]
StackConfig = tuple[dict[str, Any], set[str]]
NGINX = {
    "nginx-https-only",
    "nginx-tls-protocols",
    "nginx-hsts",
    "nginx-security-headers",
    "nginx-rate-limit-coverage",
    "nginx-login-rate-stricter",
    "nginx-rate-limit-maxima",
}


@dataclass(frozen=True)
class Case:
    id: str
    stack: str
    expected: frozenset[str]
    resources: Callable[[Resources], None] | None = None  # edits a copy of the stack's declared resources
    config: Callable[[dict[str, Any]], None] | None = None  # edits a copy of the stack's config, then reruns

    def mutate(self) -> tuple[Resources, StackConfig]:
        if self.config is not None:
            return run_config(self.stack, self.config)
        resources = base_resources(self.stack)
        assert self.resources is not None
        self.resources(resources)
        return resources, base_config(self.stack)


def case(id: str, expected: set[str], *, stack: str = "production", **edits: Any) -> Case:
    return Case(id, stack, frozenset(expected), **edits)


# --- resource edits -----------------------------------------------------------------------------------


def containers(resources: Resources, *names: str) -> list[Declared]:
    return [named(resources, n) for n in names]


def drop(resources: Resources, keep: Callable[[Declared], bool]) -> None:
    resources[:] = [r for r in resources if keep(r)]


def drop_subtree(resources: Resources, component_type: str) -> None:
    roots = {r.urn for r in resources if r.type == component_type}
    drop(resources, lambda r: r.urn not in roots and r.parent not in roots)


def edit_upload(resource: Declared, path_suffix: str, edit: Callable[[str], str | None]) -> None:
    files = []
    for upload in plain_input(resource, "uploads"):
        if upload["file"].endswith(path_suffix):
            content = edit(upload["content"])
            if content is None:
                continue
            upload = {**upload, "content": content}
        files.append(upload)
    set_input(resource, "uploads", files)


def leak_password_into_conf(node: Declared) -> None:
    """A PostgreSQL node's own owner password pasted into its postgresql.conf."""
    env = dict(e.split("=", 1) for e in plain_input(node, "envs"))
    password = env["POSTGRES_PASSWORD_APP"]
    edit_upload(node, "/postgresql.conf", lambda text: text + f"# app's password: {password}\n")


def edit_stdin(resource: Declared, edit: Callable[[str], str]) -> None:
    set_input(resource, "stdin", edit(plain_input(resource, "stdin")))


def zone_setting(resources: Resources, setting: str) -> Declared:
    return next(
        r
        for r in resources
        if r.type == "cloudflare:index/zoneSetting:ZoneSetting" and r.inputs["settingId"] == setting
    )


def k8s(resources: Resources, resource_type: str, name: str, props: dict[str, Any]) -> None:
    urn = f"urn:pulumi:production::webstack::{resource_type}::{name}"
    resources.append(Declared(urn, resource_type, name, "", True, "", False, False, False, [], props))


INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
FORCE = {"nginx.ingress.kubernetes.io/force-ssl-redirect": "true"}
RULES = {"rules": [{"host": "example.com", "http": {"paths": [{"path": "/api/", "pathType": "Prefix"}]}}]}
TLS = {"tls": [{"hosts": ["example.com"], "secretName": "webstack-tls"}]}
RATE = {"nginx.ingress.kubernetes.io/limit-rps": "10"}


def strip_limit(payload: list[dict[str, Any]]) -> None:
    block = location(tls_server(payload), "^~", "/api/ws")
    block[:] = [d for d in block if d["directive"] != "limit_req"]


def cache_header(payload: list[dict[str, Any]]) -> None:
    location(tls_server(payload), "^~", "/api/").append(
        {"directive": "add_header", "args": ["Cache-Control", "no-store", "always"]}
    )


def serve_on_port_80(payload: list[dict[str, Any]]) -> None:
    block = plain_server(payload)
    block[:] = [d for d in block if d["directive"] != "return"]
    proxy = [
        {"directive": "limit_req", "args": ["zone=frontend", "burst=100"]},
        {"directive": "proxy_pass", "args": ["http://frontend"]},
    ]
    block.append({"directive": "location", "args": ["/"], "block": proxy})


def set_return(payload: list[dict[str, Any]], index: int, value: str) -> None:
    directives(plain_server(payload), "return")[0]["args"][index] = value


def drop_ssl(payload: list[dict[str, Any]]) -> None:
    for listen in directives(payload, "listen"):
        listen["args"] = [a for a in listen["args"] if a != "ssl"]


def hsts_without_always(payload: list[dict[str, Any]]) -> None:
    for header in directives(payload, "add_header", "Strict-Transport-Security"):
        header["args"] = [a for a in header["args"] if a != "always"]


def rezone(payload: list[dict[str, Any]], old: str, new: str) -> None:
    found = directives(payload, "limit_req", f"zone={old}")
    assert found
    for node in found:
        node["args"][0] = f"zone={new}"


def unforce_https(resources: Resources) -> None:
    ingress = next(r for r in resources if r.type == INGRESS)
    props = plain_input(ingress, "metadata") or {}
    props["annotations"] = {k: v for k, v in props.get("annotations", {}).items() if "ssl-redirect" not in k}
    set_input(ingress, "metadata", props)


def expose_redis(resources: Resources) -> None:
    service = next(r for r in resources if r.type == "kubernetes:core/v1:Service" and "redis" in r.name)
    spec = plain_input(service, "spec")
    set_input(service, "spec", {**spec, "type": "LoadBalancer"})


def without_check(script: str) -> str:
    return "\n".join(line for line in script.splitlines() if "restic check" not in line) + "\n"


SEEDS_MONGO = "mongodb+srv://username:password@cluster.mongodb.net/codementee?retryWrites=true&w=majority"
STRONG = "k7Qp2Vx9Lm4Rt8Wz3Nb6Yc1Hd5Fg0Js"

CORPUS: list[Case] = [
    # HTTPS and TLS (nginx)
    case("http-only-edge", {"nginx-https-only"}, resources=lambda r: edit_nginx(r, serve_on_port_80)),
    case(
        "redirect-drops-path-and-query",
        {"nginx-https-only"},
        resources=lambda r: edit_nginx(r, lambda p: set_return(p, 1, "https://$host")),
    ),
    case(
        "temporary-redirect", {"nginx-https-only"}, resources=lambda r: edit_nginx(r, lambda p: set_return(p, 0, "302"))
    ),
    case("tls-listener-without-ssl", {"nginx-https-only"}, resources=lambda r: edit_nginx(r, drop_ssl)),
    case(
        "tls-1.0-allowed",
        {"nginx-tls-protocols"},
        resources=lambda r: edit_nginx(
            r, lambda p: directives(p, "ssl_protocols")[0].update(args=["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"])
        ),
    ),
    case(
        "ssl-protocols-left-to-nginx-defaults",
        {"nginx-tls-protocols"},
        resources=lambda r: edit_nginx(r, lambda p: remove_directives(p, "ssl_protocols")),
    ),
    case("hsts-without-always", {"nginx-hsts"}, resources=lambda r: edit_nginx(r, hsts_without_always)),
    case(
        "location-headers-drop-hsts-and-security-headers",
        {"nginx-hsts", "nginx-security-headers"},
        resources=lambda r: edit_nginx(r, cache_header),
    ),
    case(
        "no-x-frame-options",
        {"nginx-security-headers"},
        resources=lambda r: edit_nginx(r, lambda p: remove_directives(p, "add_header", "X-Frame-Options")),
    ),
    case(
        "nginx-config-does-not-parse",
        NGINX,
        resources=lambda r: set_input(edge_conf(r), "stdin", nginx_text(r) + "}\n"),
    ),
    # HTTPS and TLS (Cloudflare)
    case(
        "cloudflare-ssl-flexible",
        {"cloudflare-zone-tls"},
        resources=lambda r: set_input(zone_setting(r, "ssl"), "value", "flexible"),
    ),
    case(
        "cloudflare-min-tls-1.0",
        {"cloudflare-zone-tls"},
        resources=lambda r: set_input(zone_setting(r, "min_tls_version"), "value", "1.0"),
    ),
    case(
        "cloudflare-always-https-gone",
        {"cloudflare-zone-tls"},
        resources=lambda r: drop(r, lambda x: x.name != "edge-zone-always-use-https"),
    ),
    # Rate limits
    case("route-without-limit-req", {"nginx-rate-limit-coverage"}, resources=lambda r: edit_nginx(r, strip_limit)),
    case(
        "limit-req-zone-undefined",
        {"nginx-rate-limit-coverage"},
        resources=lambda r: edit_nginx(r, lambda p: rezone(p, "api", "api2")),
    ),
    case(
        "login-on-the-api-zone",
        {"nginx-login-rate-stricter", "nginx-rate-limit-maxima"},
        resources=lambda r: edit_nginx(r, lambda p: rezone(p, "login", "api")),
    ),
    # Secret handling
    case(
        "weak-jwt-secret",
        {"no-weak-secrets"},
        resources=lambda r: edit_env(named(r, "app-backend-0"), {"JWT_SECRET": "changeme"}),
    ),
    case(
        "seeds-example-jwt-secret",
        {"no-weak-secrets"},
        resources=lambda r: edit_env(
            named(r, "app-backend-1"), {"JWT_SECRET": "your-super-secure-jwt-secret-key-here"}
        ),
    ),
    case(
        "weak-redis-password",
        {"no-weak-secrets"},
        resources=lambda r: edit_env(named(r, "redis-redis"), {"REDIS_PASSWORD": "your_redis_password"}),
    ),
    case(
        "seeds-mongo-url-with-credentials",
        {"no-weak-secrets"},
        resources=lambda r: edit_env(named(r, "app-backend-2"), {"MONGO_URL": SEEDS_MONGO}),
    ),
    case(
        "short-generated-password",
        {"no-weak-secrets"},
        resources=lambda r: set_input(named(r, "redis-password"), "length", 8.0),
    ),
    case(
        "redis-without-requirepass",
        {"redis-requires-password"},
        resources=lambda r: set_input(named(r, "redis-redis"), "command", ["redis-server", "/etc/redis/redis.conf"]),
    ),
    case(
        "redis-password-env-missing",
        {"redis-requires-password"},
        resources=lambda r: edit_env(named(r, "redis-redis-replica"), {"REDIS_PASSWORD": None}),
    ),
    case(
        "grafana-without-admin-password",
        {"grafana-admin-password"},
        resources=lambda r: edit_env(named(r, "monitoring-grafana"), {"GF_SECURITY_ADMIN_PASSWORD": None}),
    ),
    case(
        "grafana-admin-admin",
        {"grafana-admin-password", "no-weak-secrets"},
        resources=lambda r: edit_env(named(r, "monitoring-grafana"), {"GF_SECURITY_ADMIN_PASSWORD": "admin"}),
    ),
    # Exposure and resilience
    case(
        "redis-on-0.0.0.0",
        {"internal-services-not-public"},
        resources=lambda r: set_input(
            named(r, "redis-redis"), "ports", [{"internal": 6379.0, "external": 6379.0, "ip": "0.0.0.0"}]
        ),
    ),
    case(
        "grafana-on-public-address",
        {"internal-services-not-public"},
        resources=lambda r: set_input(
            named(r, "monitoring-grafana"), "ports", [{"internal": 3000.0, "external": 3000.0, "ip": "203.0.113.15"}]
        ),
    ),
    case(
        "node-exporter-on-all-interfaces",
        {"internal-services-not-public"},
        resources=lambda r: set_input(named(r, "monitoring-node-exporter-app-1"), "ports", [{"internal": 9100.0}]),
    ),
    case(
        "firewall-never-enabled",
        {"host-firewall-enabled"},
        resources=lambda r: edit_stdin(named(r, "data-1-bootstrap"), lambda s: s.replace("ufw --force enable", "true")),
    ),
    case(
        "firewall-opens-redis",
        {"host-firewall-enabled"},
        resources=lambda r: edit_stdin(
            named(r, "data-1-bootstrap"),
            lambda s: s.replace("ufw allow 22/tcp", "ufw allow 22/tcp\nufw allow 6379/tcp"),
        ),
    ),
    case(
        "docker-ports-skip-the-firewall",
        {"host-firewall-enabled"},
        resources=lambda r: edit_stdin(
            named(r, "app-1-bootstrap"), lambda s: s.replace("iptables -w -A DOCKER-USER -j DROP", "true")
        ),
    ),
    case(
        "host-without-bootstrap",
        {"host-firewall-enabled"},
        resources=lambda r: drop(r, lambda x: x.name != "app-2-bootstrap"),
    ),
    case(
        "latest-image-in-production",
        {"production-images-pinned"},
        resources=lambda r: set_input(named(r, "app-backend-image-app-1"), "name", "ghcr.io/example/backend:latest"),
    ),
    case(
        "untagged-redis-image",
        {"production-images-pinned"},
        resources=lambda r: set_input(named(r, "redis-image-data-1"), "name", "redis"),
    ),
    case(
        "no-restart-policy",
        {"container-restart-policy"},
        resources=lambda r: set_input(named(r, "app-frontend-0"), "restart", "no"),
    ),
    case(
        "no-healthcheck",
        {"container-healthcheck"},
        resources=lambda r: named(r, "app-backend-0").inputs.pop("healthcheck"),
    ),
    case(
        "no-memory-limit",
        {"container-memory-limit"},
        resources=lambda r: named(r, "redis-exporter").inputs.pop("memory"),
    ),
    case(
        "no-backups-in-production",
        {"production-backup", "production-restore-drill"},
        resources=lambda r: drop_subtree(r, "webstack:backup:BackupJob"),
    ),
    case(
        "backup-never-verified",
        {"production-backup"},
        resources=lambda r: edit_upload(named(r, "backup-runner"), "/backup.sh", without_check),
    ),
    case(
        "backup-not-scheduled",
        {"production-backup", "production-restore-drill"},
        resources=lambda r: edit_upload(named(r, "backup-runner"), "/crontabs/root", lambda _: None),
    ),
    case(
        "no-alert-rules",
        {"production-monitoring"},
        resources=lambda r: edit_stdin(named(r, "monitoring-prometheus-rules"), lambda _: "groups: []\n"),
    ),
    case(
        "no-monitoring-in-production",
        {"production-monitoring"},
        resources=lambda r: drop_subtree(r, "webstack:monitoring:MonitoringStack"),
    ),
    # Kubernetes (the platform lands later: resources appended to the production run)
    case(
        "ingress-without-tls",
        {"k8s-ingress-tls"},
        resources=lambda r: k8s(r, INGRESS, "edge", {"metadata": {"annotations": {**FORCE, **RATE}}, "spec": RULES}),
    ),
    case(
        "ingress-without-rate-limit",
        {"k8s-ingress-rate-limit"},
        resources=lambda r: k8s(r, INGRESS, "edge", {"metadata": {"annotations": FORCE}, "spec": {**RULES, **TLS}}),
    ),
    case(
        "secret-in-a-configmap",
        {"k8s-secrets-not-configmaps"},
        resources=lambda r: k8s(
            r, "kubernetes:core/v1:ConfigMap", "app-env", {"data": {"LOG_LEVEL": "info", "JWT_SECRET": STRONG}}
        ),
    ),
    # The kubernetes platform's own resources (stack production-k8s)
    case(
        "k8s-ingress-without-forced-https",
        {"k8s-ingress-tls"},
        stack="production-k8s",
        resources=lambda r: unforce_https(r),
    ),
    case(
        "k8s-no-backups",
        {"production-backup", "production-restore-drill"},
        stack="production-k8s",
        resources=lambda r: drop_subtree(r, "webstack:backup:BackupJob"),
    ),
    case(
        "k8s-no-drill-cronjob",
        {"production-restore-drill"},
        stack="production-k8s",
        resources=lambda r: drop(r, lambda d: d.name != "backup-drill-cronjob"),
    ),
    case(
        "k8s-redis-service-load-balancer",
        {"internal-services-not-public"},
        stack="production-k8s",
        resources=lambda r: expose_redis(r),
    ),
    # Config mutations the program's validation accepts
    case("hsts-max-age-an-hour", {"nginx-hsts"}, config=lambda c: c["webstack:edge"].update(hstsMaxAge=3600)),
    case(
        "login-looser-than-api",
        {"nginx-login-rate-stricter"},
        config=lambda c: c["webstack:edge"].update(loginRate={"rate": 5, "burst": 5}, apiRate={"rate": 2, "burst": 20}),
    ),
    case(
        "api-rate-above-maximum",
        {"nginx-rate-limit-maxima"},
        config=lambda c: c["webstack:edge"].update(apiRate={"rate": 500, "burst": 20}),
    ),
    case(
        "backup-retention-3-days",
        {"production-backup"},
        config=lambda c: c["webstack:backup"]["retention"].update(daily=3),
    ),
    case(
        "backup-on-the-same-host",
        {"production-backup"},
        config=lambda c: c["webstack:backup"].update(repository="/var/backups/webstack/restic"),
    ),
    case(
        "backups-disabled",
        {"production-backup", "production-restore-drill"},
        config=lambda c: c["webstack:backup"].update(enabled=False),
    ),
    case(
        "restore-drills-off",
        {"production-restore-drill"},
        config=lambda c: c["webstack:backup"].update(drill={"enabled": False}),
    ),
    case(
        "restore-drills-every-two-months",
        {"production-restore-drill"},
        config=lambda c: c["webstack:backup"].update(drill={"schedule": "0 4 1 */2 *"}),
    ),
    case("dns-only-records", {"cloudflare-records-proxied"}, config=lambda c: c["webstack:dns"].update(proxied=False)),
    case(
        "plain-jwt-secret-in-service-env",
        {"stack-config-no-plaintext-secrets"},
        config=lambda c: c["webstack:services"]["backend"]["env"].update(JWT_SECRET=STRONG),
    ),
    case(
        "staging-dns-only-records",
        {"cloudflare-records-proxied"},
        stack="staging",
        config=lambda c: c["webstack:dns"].update(proxied=False),
    ),
    case(
        "local-hsts-an-hour-is-still-reported",
        {"nginx-hsts"},
        stack="local",
        config=lambda c: c["webstack:edge"].update(hstsMaxAge=3600),
    ),
    case(
        "budget-below-six-business-vps",
        {"monthly-budget"},
        config=lambda c: c["webstack:capacity"].update(monthlyBudget=149.95),
    ),
    case(
        "staging-on-a-bigger-plan-than-its-budget",
        {"monthly-budget"},
        stack="staging",
        config=lambda c: c["webstack:hosts"][0].update(plan="hostinger-enterprise"),
    ),
    # Negative cases: changes no policy should flag
    case(
        "local-may-use-latest",
        set(),
        stack="local",
        config=lambda c: c["webstack:services"]["backend"].update(image="webstack-local/demo-app:latest"),
    ),
    case(
        "staging-keeps-3-days",
        set(),
        stack="staging",
        config=lambda c: c["webstack:backup"]["retention"].update(daily=3),
    ),
    case("untrusted-cloudflare-ranges", set(), config=lambda c: c["webstack:edge"].update(trustCloudflare=False)),
    case("stricter-login", set(), config=lambda c: c["webstack:edge"].update(loginRate={"rate": 1, "burst": 2})),
    case("budget-raised", set(), config=lambda c: c["webstack:capacity"].update(monthlyBudget=1000)),
    # PostgreSQL (the local stack runs a primary and PgBouncer)
    case(
        "postgres-on-0.0.0.0",
        {"internal-services-not-public"},
        stack="local",
        resources=lambda r: set_input(named(r, "postgres-local"), "ports", [{"internal": 5432.0, "external": 5432.0}]),
    ),
    case(
        "pgbouncer-on-public-address",
        {"internal-services-not-public"},
        stack="local",
        resources=lambda r: set_input(
            named(r, "postgres-pgbouncer-local"),
            "ports",
            [{"internal": 6432.0, "external": 6432.0, "ip": "203.0.113.9"}],
        ),
    ),
    case(
        "postgres-owner-password-typed-in",
        {"postgres-passwords", "no-weak-secrets"},
        stack="local",
        resources=lambda r: edit_env(named(r, "postgres-local"), {"POSTGRES_PASSWORD_APP": "app-password"}),
    ),
    case(
        "postgres-password-written-into-its-config",
        {"postgres-passwords"},
        stack="local",
        resources=lambda r: leak_password_into_conf(named(r, "postgres-local")),
    ),
    case(
        "database-url-with-a-typed-password",
        {"postgres-passwords"},
        stack="local",
        resources=lambda r: edit_env(
            named(r, "app-backend-0"), {"DATABASE_URL": "postgresql://app:Xy7pQ2rT9kLmN4vB8cD1fG6h@pgbouncer:6432/app"}
        ),
    ),
    case(
        "production-postgres-without-standby",
        {"production-postgres-standby"},
        config=lambda c: c.update({"webstack:postgres": {"host": "data-1"}}),
    ),
    case(
        "production-postgres-with-standby",
        set(),
        config=lambda c: c.update({"webstack:postgres": {"host": "data-1", "standbyHost": "data-2", "pgbouncer": {}}}),
    ),
]


def test_corpus_is_large_and_covers_every_policy() -> None:
    assert len([c for c in CORPUS if c.expected]) >= 25
    assert len({c.id for c in CORPUS}) == len(CORPUS)
    covered = set().union(*(c.expected for c in CORPUS))
    assert covered == set(POLICY_NAMES), set(POLICY_NAMES) - covered


@pytest.mark.parametrize("mutation", CORPUS, ids=[c.id for c in CORPUS])
def test_mutation_is_caught_by_exactly_the_named_policies(mutation: Case) -> None:
    resources, stack_config = mutation.mutate()
    assert fired(mutation.stack, resources, stack_config=stack_config) == mutation.expected


@pytest.mark.parametrize("stack", ["local", "staging", "production", "production-k8s"])
def test_unmutated_stacks_fire_nothing(stack: str) -> None:
    assert fired(stack, base_resources(stack)) == set()


def test_mutations_change_a_copy_only() -> None:
    first = base_resources("production")
    edit_env(named(first, "app-backend-0"), {"JWT_SECRET": "changeme"})
    assert "JWT_SECRET=changeme" not in (
        plain_input(named(base_resources("production"), "app-backend-0"), "envs") or []
    )
    assert named(first, "app-backend-0").type == CONTAINER
