"""The kubernetes platform: the production-k8s stack under Pulumi mocks, its config rules,
each component's Kubernetes objects and their key inputs, and every manifest validated
against the Kubernetes JSON schemas (kubernetes-validate, offline, strict)."""

from __future__ import annotations

import copy
import functools
import importlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from components.config import ConfigError
from components.config.stackfile import read_stack_file
from components.load import load_stack_config
from components.outputs import CONTRACT, HOST_KEYS, SERVICE_KEYS
from components.render import kubernetes as manifests
from components.render.monitoring import render_alert_rules
from tools.offline import Declared, OfflineRun, Secret, _fake, reveal, run_offline

STACK = "production-k8s"
# A recent release, and the newest kubernetes-validate carries.
K8S_VERSIONS = ("1.33", "1.37")
COMPONENTS = {
    "webstack:cluster:KubernetesCluster",
    "webstack:edge:NginxEdge",
    "webstack:app:AppTier",
    "webstack:cache:RedisCache",
    "webstack:backup:BackupJob",
    "webstack:monitoring:MonitoringStack",
}
CRD_GROUPS = ("monitoring.coreos.com/",)

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
SECRET = "kubernetes:core/v1:Secret"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"

# Resources per type production-k8s declares (the whole shape, pinned).
EXPECTED_COUNTS: dict[str, int] = {
    "webstack:cluster:KubernetesCluster": 1,
    "webstack:edge:NginxEdge": 1,
    "webstack:app:AppTier": 1,
    "webstack:cache:RedisCache": 1,
    "webstack:backup:BackupJob": 1,
    "webstack:monitoring:MonitoringStack": 1,
    "pulumi:providers:kubernetes": 1,
    "pulumi:providers:cloudflare": 1,
    "kubernetes:core/v1:Namespace": 1,
    NETPOL: 7,  # default deny; backend, frontend, redis, prometheus, alertmanager, pushgateway
    DEPLOYMENT: 3,  # backend, frontend, pushgateway
    STATEFULSET: 4,  # redis, prometheus, alertmanager, grafana
    "kubernetes:core/v1:Service": 8,  # backend, frontend, redis, redis-headless, prometheus, alertmanager, grafana, pushgateway
    SECRET: 5,  # backend env, redis auth, alertmanager config, grafana admin, backup env
    CONFIG_MAP: 5,  # redis.conf, prometheus config and rules, grafana provisioning and dashboard, backup scripts
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": 1,  # the back end
    "kubernetes:policy/v1:PodDisruptionBudget": 2,
    INGRESS: 3,  # backend, backend login paths, frontend
    "kubernetes:batch/v1:CronJob": 2,  # the backup, the restore drill
    "kubernetes:core/v1:PersistentVolumeClaim": 2,  # the backup's and the drill's metrics state
    "kubernetes:core/v1:ServiceAccount": 1,
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole": 1,
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": 1,
    "random:index/randomPassword:RandomPassword": 3,  # session secret, redis, grafana
    "cloudflare:index/dnsRecord:DnsRecord": 3,
    "cloudflare:index/zoneSetting:ZoneSetting": 3,
    "cloudflare:index/ruleset:Ruleset": 1,
}

Mutation = Callable[[dict[str, Any]], None]


def _raw(mutate: Mutation | None = None) -> tuple[dict[str, Any], set[str]]:
    raw, secrets = read_stack_file(STACK)
    raw = copy.deepcopy(raw)
    if mutate is not None:
        mutate(raw)
    return raw, secrets


def _run(mutate: Mutation | None = None) -> OfflineRun:
    raw, secrets = _raw(mutate)
    return run_offline(STACK, raw=raw, secret_keys=secrets)


@functools.cache
def offline() -> OfflineRun:
    return run_offline(STACK)


@functools.cache
def offline_service_monitor() -> OfflineRun:
    return _run(lambda raw: raw["webstack:kubernetes"].update(serviceMonitor=True))


def _parent_type(resource: Declared) -> str:
    return resource.urn.split("::")[2].split("$")[-2]


def _k8s(run: OfflineRun) -> list[Declared]:
    return [r for r in run.resources if r.type.startswith("kubernetes:")]


def _ints(value: Any) -> Any:
    """Numbers as a manifest has them (the mocks hand integers back as floats)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def manifest(resource: Declared) -> dict[str, Any]:
    """The object as the kubernetes provider sends (or renders) it: the recorded inputs,
    engine names, secrets revealed."""
    return _ints(reveal(resource.inputs))


def _spec(run: OfflineRun, name: str) -> dict[str, Any]:
    return manifest(run.named(name))["spec"]


def _pod(run: OfflineRun, name: str) -> dict[str, Any]:
    return _spec(run, name)["template"]["spec"]


def validate_manifest(document: dict[str, Any]) -> None:
    """Strict schema validation for built-in kinds; CRD kinds (ServiceMonitor, PrometheusRule,
    Prometheus) have no schema there and are checked structurally."""
    if document["apiVersion"].startswith(CRD_GROUPS):
        assert set(document) == {"apiVersion", "kind", "metadata", "spec"}, document["kind"]
        assert document["metadata"]["name"] and document["metadata"]["namespace"]
        assert isinstance(document["spec"], dict) and document["spec"]
        return
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(document, version, strict=True)


def validate_manifest_dir(directory: Path) -> int:
    """Every YAML document under `directory` (the layout of pulumi-kubernetes'
    renderYamlToDirectory: 0-crd/ and 1-manifest/): the check to run on the folder the
    real engine writes. Returns how many documents were validated."""
    count = 0
    for path in sorted(directory.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                validate_manifest(document)
                count += 1
    return count


def write_manifest_dir(run: OfflineRun, directory: Path) -> None:
    """The manifests of a mocked run, laid out and named as the provider's render mode does
    (pulumi-kubernetes' renderPathForResource: <apiVersion>-<kind>-<namespace>-<name>.yaml
    with / and : made _, namespace "default" when there is none)."""
    for resource in _k8s(run):
        document = manifest(resource)
        metadata = document["metadata"]
        api_version = document["apiVersion"].replace("/", "_").replace(":", "_")
        file_name = (
            f"{api_version}-{document['kind'].lower()}-{metadata.get('namespace') or 'default'}-{metadata['name']}"
        )
        folder = directory / "1-manifest"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{file_name}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))


# --- config -------------------------------------------------------------------------------


def test_production_k8s_loads_with_the_seeds_autoscaling() -> None:
    raw, secrets = _raw()
    config = load_stack_config(STACK, raw, secrets, placeholder_secrets=True)
    assert config.platform == "kubernetes" and config.environment == "production"
    assert config.hosts == [] and config.roles() == {}
    scale = config.services["backend"].autoscale
    assert scale is not None
    assert (scale.min_replicas, scale.max_replicas, scale.cpu_percent, scale.memory_percent) == (3, 20, 70, 80)
    assert scale.scale_down_stabilization_s == 300
    assert config.kubernetes is not None and config.kubernetes.load_balancer_address == "198.51.100.10"


def test_kubeconfig_is_required_unless_rendering_to_a_directory() -> None:
    raw, secrets = _raw()
    with pytest.raises(ConfigError) as error:
        load_stack_config(STACK, raw, secrets)
    assert "webstack:kubeconfig" in error.value.keys
    assert "webstack:sshPrivateKey" not in error.value.keys

    raw, secrets = _raw(lambda r: r["webstack:kubernetes"].update(renderToDirectory="rendered/production-k8s"))
    config = load_stack_config(STACK, raw, secrets, placeholder_secrets=True)
    assert "kubeconfig" not in config.required_secrets()


def _set(path: str, value: Any) -> Mutation:
    """Set (or, with value ..., drop) a nested key: 'webstack:edge.host'."""

    def mutate(raw: dict[str, Any]) -> None:
        top, *rest = path.split(".")
        node: Any = raw
        parts = [top, *rest]
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if value is ...:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value

    return mutate


HOST = {"name": "app-1", "address": "203.0.113.11"}

# (stack, mutation, the key the error must name)
BAD_CONFIGS: list[tuple[str, Mutation, str]] = [
    (STACK, _set("webstack:kubernetes", ...), "webstack:platform"),
    (STACK, _set("webstack:hosts", [HOST]), "webstack:hosts"),
    (STACK, _set("webstack:edge.host", "app-1"), "webstack:edge.host"),
    (STACK, _set("webstack:edge.httpsPort", 8443), "webstack:edge.httpsPort"),
    (STACK, _set("webstack:services.backend.hosts", ["app-1"]), "webstack:services.backend.hosts"),
    (STACK, _set("webstack:redis.replicaHost", "data-2"), "webstack:redis.replicaHost"),
    (STACK, _set("webstack:monitoring.host", "monitor-1"), "webstack:monitoring.host"),
    (STACK, _set("webstack:backup.host", "data-1"), "webstack:backup.host"),
    (STACK, _set("webstack:backup.volumes", ["grafana"]), "webstack:backup.volumes[0]"),
    (STACK, _set("webstack:services.backend.replicas", 25), "webstack:services.backend.replicas"),
    (
        STACK,
        _set("webstack:services.backend.autoscale", {"minReplicas": 5, "maxReplicas": 3}),
        "webstack:services.backend.autoscale",
    ),
    (STACK, _set("webstack:kubernetes.loadBalancerAddress", ...), "webstack:kubernetes.loadBalancerAddress"),
    (STACK, _set("webstack:kubernetes.namespace", "Web_Stack"), "webstack:kubernetes.namespace"),
    (STACK, _set("webstack:kubernetes.ingresClass", "nginx"), "webstack:kubernetes.ingresClass"),
    ("production", _set("webstack:kubernetes", {"namespace": "webstack"}), "webstack:kubernetes"),
    ("production", _set("webstack:services.backend.autoscale", {}), "webstack:services.backend.autoscale"),
    (
        "production",
        _set("webstack:services.backend.readOnlyRootFilesystem", True),
        "webstack:services.backend.readOnlyRootFilesystem",
    ),
    ("production", _set("webstack:edge.host", ...), "webstack:edge.host"),
    ("production", _set("webstack:services.backend.hosts", []), "webstack:services.backend.hosts"),
    ("local", _set("webstack:hosts", []), "webstack:hosts"),
]


@pytest.mark.parametrize(("stack", "mutate", "key"), BAD_CONFIGS, ids=[f"{s}:{k}" for s, _, k in BAD_CONFIGS])
def test_bad_config_names_the_key(stack: str, mutate: Mutation, key: str) -> None:
    raw, secrets = read_stack_file(stack)
    raw = copy.deepcopy(raw)
    mutate(raw)
    with pytest.raises(ConfigError) as error:
        load_stack_config(stack, raw, secrets, placeholder_secrets=True)
    assert key in error.value.keys, str(error.value)
    problem = next(p for p in error.value.problems if p.key == key)
    assert "allowed" in problem.detail or "required" in problem.detail, problem.detail


# --- the stack under mocks ----------------------------------------------------------------


def test_resource_counts() -> None:
    assert offline().counts() == dict(sorted(EXPECTED_COUNTS.items()))


def test_every_resource_is_under_a_component_and_objects_use_the_cluster_provider() -> None:
    run = offline()
    provider = next(r for r in run.resources if r.type == "pulumi:providers:kubernetes")
    assert _parent_type(provider) == "webstack:cluster:KubernetesCluster"
    for resource in run.resources:
        if resource.type in COMPONENTS:
            assert "pulumi:pulumi:Stack" in resource.parent
            continue
        assert _parent_type(resource) in COMPONENTS, resource.urn
        if resource.type.startswith("kubernetes:"):
            assert resource.provider.startswith(provider.urn), resource.name
    assert not any(r.type.startswith(("docker:", "command:")) for r in run.resources)


def test_provider_applies_with_the_kubeconfig_or_renders_to_a_directory() -> None:
    provider = offline().of_type("pulumi:providers:kubernetes")[0]
    assert isinstance(provider.inputs["kubeconfig"], Secret)
    assert provider.plain_inputs["context"] == "production"
    assert "renderYamlToDirectory" not in provider.inputs

    rendering = _run(lambda raw: raw["webstack:kubernetes"].update(renderToDirectory="rendered/production-k8s"))
    provider = rendering.of_type("pulumi:providers:kubernetes")[0]
    assert provider.plain_inputs["renderYamlToDirectory"] == "rendered/production-k8s"
    assert "kubeconfig" not in provider.inputs


def test_namespace_enforces_restricted_and_denies_ingress_by_default() -> None:
    run = offline()
    namespace = manifest(run.named("cluster-namespace"))
    assert namespace["metadata"]["name"] == "webstack"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    deny = _spec(run, "cluster-default-deny")
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}
    for resource in _k8s(run):
        meta = manifest(resource)["metadata"]
        if manifest(resource)["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert meta["namespace"] == "webstack", resource.name


def test_app_tier_deployments() -> None:
    run = offline()
    backend = _spec(run, "app-backend-deployment")
    assert "replicas" not in backend  # the HPA owns the count
    assert backend["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    pod = backend["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["image"] == "ghcr.io/example/backend:1.4.2"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"cpu": "1000m", "memory": "1024Mi"},
    }
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] == 10001
    assert security["allowPrivilegeEscalation"] is False and security["capabilities"] == {"drop": ["ALL"]}
    assert security["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert container["ports"] == [{"name": "http", "containerPort": 8001, "protocol": "TCP"}]
    template = backend["template"]["metadata"]
    assert template["annotations"]["prometheus.io/scrape"] == "true"
    assert template["annotations"]["webstack.io/job"] == "app-backend"
    assert len(template["annotations"][manifests.CHECKSUM]) == 64
    assert template["labels"][manifests.REDIS_CLIENT] == "true"

    frontend = _spec(run, "app-frontend-deployment")
    assert frontend["replicas"] == 2  # no autoscale: fixed
    (front,) = frontend["template"]["spec"]["containers"]
    assert front["securityContext"]["readOnlyRootFilesystem"] is False  # the app does not allow it
    assert manifests.REDIS_CLIENT not in frontend["template"]["metadata"]["labels"]


def test_secret_env_comes_from_a_secret_never_a_literal() -> None:
    run = offline()
    env = _pod(run, "app-backend-deployment")["containers"][0]["env"]
    by_name = {e["name"]: e for e in env}
    for key in ("MONGO_URL", "JWT_SECRET", "RAZORPAY_KEY_SECRET", "RESEND_API_KEY", "SESSION_SECRET", "REDIS_URL"):
        assert by_name[key]["valueFrom"] == {"secretKeyRef": {"name": "backend-env", "key": key}}, key
        assert "value" not in by_name[key]
    assert by_name["DB_NAME"] == {"name": "DB_NAME", "value": "app"}
    secret = run.named("app-backend-env")
    assert secret.type == SECRET and isinstance(secret.inputs["stringData"], Secret)
    data = reveal(secret.inputs["stringData"])
    assert set(data) == {
        "MONGO_URL",
        "JWT_SECRET",
        "RAZORPAY_KEY_SECRET",
        "RESEND_API_KEY",
        "SESSION_SECRET",
        "REDIS_URL",
    }
    assert data["REDIS_URL"].startswith("redis://:") and data["REDIS_URL"].endswith(
        "@redis.webstack.svc.cluster.local:6379/0"
    )


def test_hpa_has_the_seeds_figures_and_pdbs_keep_pods_up() -> None:
    run = offline()
    hpa = _spec(run, "app-backend-hpa")
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "backend"}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 20)
    targets = {m["resource"]["name"]: m["resource"]["target"] for m in hpa["metrics"]}
    assert targets == {
        "cpu": {"type": "Utilization", "averageUtilization": 70},
        "memory": {"type": "Utilization", "averageUtilization": 80},
    }
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert hpa["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 60
    for service in ("backend", "frontend"):
        pdb = _spec(run, f"app-{service}-pdb")
        assert pdb["maxUnavailable"] == 1
        assert pdb["selector"]["matchLabels"]["app.kubernetes.io/name"] == service


def test_ingresses_terminate_tls_force_https_and_rate_limit() -> None:
    run = offline()
    hosts = ["example.com", "www.example.com", "api.example.com"]
    ingresses = {r.name: manifest(r) for r in run.of_type(INGRESS)}
    assert set(ingresses) == {"app-backend-ingress", "app-backend-login-ingress", "app-frontend-ingress"}
    for ingress in ingresses.values():
        spec, annotations = ingress["spec"], ingress["metadata"]["annotations"]
        assert spec["ingressClassName"] == "nginx"
        assert spec["tls"] == [{"hosts": hosts, "secretName": "webstack-tls"}]
        assert [rule["host"] for rule in spec["rules"]] == hosts
        assert annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"
        assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "20m"

    def limit(name: str) -> tuple[str, str]:
        annotations = ingresses[name]["metadata"]["annotations"]
        return (
            annotations["nginx.ingress.kubernetes.io/limit-rps"],
            annotations["nginx.ingress.kubernetes.io/limit-burst-multiplier"],
        )

    assert limit("app-backend-ingress") == ("10", "3")  # 10 r/s, burst 20
    assert limit("app-backend-login-ingress") == ("1", "6")  # stricter: 1 r/s, burst 5
    assert limit("app-frontend-ingress") == ("50", "3")
    login_paths = ingresses["app-backend-login-ingress"]["spec"]["rules"][0]["http"]["paths"]
    assert [(p["path"], p["pathType"]) for p in login_paths] == [
        ("/api/auth/login", "Exact"),
        ("/api/auth/register", "Exact"),
    ]
    api = ingresses["app-backend-ingress"]
    assert api["spec"]["rules"][0]["http"]["paths"][0]["backend"] == {
        "service": {"name": "backend", "port": {"name": "http"}}
    }
    assert api["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"  # WebSocket


def test_network_policies_only_the_controller_reaches_the_app_only_clients_reach_redis() -> None:
    run = offline()
    backend = _spec(run, "app-backend-netpol")
    assert backend["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "backend"
    controller, prometheus = backend["ingress"]
    assert controller == {
        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}],
        "ports": [{"protocol": "TCP", "port": 8001}],
    }
    assert prometheus["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "prometheus"
    redis = _spec(run, "redis-netpol")
    clients, exporter = redis["ingress"]
    assert clients == {
        "from": [{"podSelector": {"matchLabels": {manifests.REDIS_CLIENT: "true"}}}],
        "ports": [{"protocol": "TCP", "port": 6379}],
    }
    assert exporter["ports"] == [{"protocol": "TCP", "port": 9121}]
    # Who carries the client label: the back end (uses Redis), the backup and the drill (the
    # live key count, INFO keyspace), nobody else.
    labelled = sorted(
        r.name
        for r in run.resources
        if r.type in (DEPLOYMENT, "kubernetes:batch/v1:CronJob")
        and manifests.REDIS_CLIENT
        in json.dumps(manifest(r)["spec"].get("template", manifest(r)["spec"].get("jobTemplate")))
    )
    assert labelled == ["app-backend-deployment", "backup-cronjob", "backup-drill-cronjob"]


def test_nothing_is_exposed_outside_the_cluster_but_through_the_ingress() -> None:
    for resource in _k8s(offline()):
        document = manifest(resource)
        if document["kind"] == "Service":
            assert document["spec"]["type"] == "ClusterIP", resource.name
        text = json.dumps(document)
        for forbidden in ('"hostNetwork"', '"hostPort"', '"hostPID"', '"hostPath"', '"privileged": true'):
            assert forbidden not in text, f"{resource.name}: {forbidden}"


def test_redis_statefulset_with_a_claim_and_a_secret_password() -> None:
    run = offline()
    spec = _spec(run, "redis-statefulset")
    assert spec["replicas"] == 1 and spec["serviceName"] == "redis-headless"
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert claim["spec"]["storageClassName"] == "standard"
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    redis, exporter = spec["template"]["spec"]["containers"]
    assert redis["env"] == [
        {"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "redis-auth", "key": "password"}}}
    ]
    assert {"name": "data", "mountPath": "/data"} in redis["volumeMounts"]
    assert redis["securityContext"]["runAsNonRoot"] is True
    assert exporter["ports"][0]["containerPort"] == 9121
    conf = manifest(run.named("redis-config"))["data"]["redis.conf"]
    assert "appendonly yes" in conf and "maxmemory 2048mb" in conf and "requirepass" not in conf
    auth = run.named("redis-auth")
    assert isinstance(auth.inputs["stringData"], Secret) and len(reveal(auth.inputs["stringData"])["password"]) == 48
    assert manifest(run.named("redis-service"))["spec"]["ports"][0] == {
        "name": "redis",
        "port": 6379,
        "targetPort": "redis",
        "protocol": "TCP",
    }


def test_monitoring_scrapes_annotated_pods_with_the_same_rules() -> None:
    run = offline()
    data = manifest(run.named("monitoring-prometheus-config"))["data"]
    config = run.config
    assert data["webstack.rules.yml"] == render_alert_rules(
        config.monitoring.thresholds,
        environment="production",
        backups=True,
        drill_max_age_hours=config.drill_max_age_hours(),
    )
    prometheus = yaml.safe_load(data["prometheus.yml"])
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    pods = jobs["kubernetes-pods"]
    assert pods["kubernetes_sd_configs"] == [{"role": "pod"}]
    assert pods["relabel_configs"][0] == {
        "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
        "action": "keep",
        "regex": "true",
    }
    assert jobs["pushgateway"]["honor_labels"] is True
    assert prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert prometheus["global"]["external_labels"] == {"environment": "production"}
    pod = _pod(run, "monitoring-prometheus")
    assert pod["serviceAccountName"] == "prometheus" and pod["automountServiceAccountToken"] is True
    assert "--storage.tsdb.retention.time=30d" in pod["containers"][0]["args"]
    role = manifest(run.named("monitoring-prometheus-role"))
    assert role["rules"][0] == {
        "apiGroups": [""],
        "resources": ["pods", "services", "endpoints"],
        "verbs": ["get", "list", "watch"],
    }
    binding = manifest(run.named("monitoring-prometheus-role-binding"))
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "prometheus", "namespace": "webstack"}]
    # Alertmanager's config holds the webhook: a Secret, not a ConfigMap.
    alertmanager = run.named("monitoring-alertmanager-config")
    assert alertmanager.type == SECRET and isinstance(alertmanager.inputs["stringData"], Secret)
    assert "webhook_configs" in reveal(alertmanager.inputs["stringData"])["alertmanager.yml"]
    grafana = _pod(run, "monitoring-grafana")["containers"][0]
    assert {
        "name": "GF_SECURITY_ADMIN_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "grafana-admin", "key": "password"}},
    } in grafana["env"]
    datasources = manifest(run.named("monitoring-grafana-provisioning"))["data"]["datasources.yaml"]
    assert "http://prometheus:9090" in datasources


def test_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    """promtool (Debian's, from scripts/setup.sh) checks the config and its rule file. Debian
    builds Prometheus without Kubernetes service discovery, so the kubernetes-pods job is
    left out here (the test above checks it structurally; the prom/prometheus image has it)."""
    rules = tmp_path / "webstack.rules.yml"
    run = offline()
    rules.write_text(manifest(run.named("monitoring-prometheus-config"))["data"]["webstack.rules.yml"])
    rendered = yaml.safe_load(
        manifests.render_prometheus_k8s_config(
            scrape_interval_s=15,
            environment="production",
            alertmanager="alertmanager:9093",
            rule_files=[str(rules)],
            pushgateway="pushgateway:9091",
        )
    )
    pods = rendered["scrape_configs"].pop()
    assert pods["job_name"] == "kubernetes-pods"
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(rendered))
    result = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_service_monitor_mode_uses_the_operator() -> None:
    run = offline_service_monitor()
    types = {r.type for r in run.resources}
    assert "kubernetes:monitoring.coreos.com/v1:ServiceMonitor" in types
    assert not any(r.name in ("monitoring-prometheus-config", "monitoring-prometheus-service") for r in run.resources)
    monitors = {
        manifest(r)["metadata"]["name"]: manifest(r)["spec"]
        for r in run.of_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
    }
    assert set(monitors) == {"app-backend", "app-frontend", "redis", "alertmanager", "pushgateway"}
    backend = monitors["app-backend"]
    assert backend["selector"]["matchLabels"]["app.kubernetes.io/name"] == "backend"
    assert backend["endpoints"][0]["port"] == "http" and backend["endpoints"][0]["path"] == "/metrics"
    assert {"action": "replace", "targetLabel": "job", "replacement": "app-backend"} in backend["endpoints"][0][
        "relabelings"
    ]
    assert monitors["pushgateway"]["endpoints"][0]["honorLabels"] is True
    rule = manifest(run.named("monitoring-rules"))
    expected = yaml.safe_load(
        render_alert_rules(
            run.config.monitoring.thresholds,
            environment="production",
            drill_max_age_hours=run.config.drill_max_age_hours(),
        )
    )
    assert rule["spec"]["groups"] == expected["groups"]
    server = manifest(run.named("monitoring-prometheus"))
    assert server["kind"] == "Prometheus" and server["spec"]["serviceAccountName"] == "prometheus"
    assert server["spec"]["ruleSelector"] == server["spec"]["serviceMonitorSelector"]
    assert "prometheus.io/scrape" not in json.dumps(_spec(run, "app-backend-deployment"))
    assert "svc/prometheus-operated" in run.outputs["monitoring"]["tunnelCommand"]
    for resource in _k8s(run):
        validate_manifest(manifest(resource))


def test_backup_cronjob_runs_restic_with_the_same_retention_and_check() -> None:
    run = offline()
    cron = _spec(run, "backup-cronjob")
    assert cron["schedule"] == "0 2 * * *" and cron["timeZone"] == "Etc/UTC"
    assert cron["concurrencyPolicy"] == "Forbid"
    pod = cron["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"][:2] == ["bash", "-c"] and "/etc/webstack-backup/backup.sh" in container["command"][2]
    assert "pushgateway" in json.dumps(container["env"])
    secret_refs = {e["name"] for e in container["env"] if "valueFrom" in e}
    assert secret_refs == {
        "RESTIC_PASSWORD",
        "REDISCLI_AUTH",
        "DATABASE_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    }
    assert {"name": "state", "persistentVolumeClaim": {"claimName": "backup-state"}} in pod["volumes"]
    script = manifest(run.named("backup-scripts"))["data"]["backup.sh"]
    for needle in ("--keep-daily 30", "--keep-weekly 8", "--keep-monthly 12", "restic check --read-data-subset=10%"):
        assert needle in script, needle
    # The scripts chmod their work dir 0700 as uid 65534: a folder of their own inside the work
    # emptyDir, whose mount point the kubelet makes root's.
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["work"] == "/var/lib/webstack-backup"
    for name in ("backup.sh", "restore.sh"):
        text = manifest(run.named("backup-scripts"))["data"][name]
        assert "WORK_DIR=/var/lib/webstack-backup/run" in text.replace("'", ""), name
    secret = run.named("backup-env")
    assert isinstance(secret.inputs["stringData"], Secret)
    outputs = run.outputs["backup"]
    assert outputs["runNowCommand"].startswith(
        "kubectl --context production -n webstack create job --from=cronjob/backup"
    )
    assert "restore.sh <database|redis> [SNAPSHOT]" in outputs["restoreCommand"]


def _labels_select(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_drill_cronjob_runs_drill_sh_on_its_schedule_and_pushes_its_metrics() -> None:
    run = offline()
    cron = _spec(run, "backup-drill-cronjob")
    assert manifest(run.named("backup-drill-cronjob"))["metadata"]["name"] == "backup-drill"
    assert cron["schedule"] == run.config.backup.drill.schedule == "0 4 * * 0"
    assert cron["timeZone"] == "Etc/UTC" and cron["concurrencyPolicy"] == "Forbid"
    job = cron["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0  # a failed drill is evidence, not retried away
    pod = job["template"]["spec"]
    (container,) = pod["containers"]
    # The same image and the same Pod Security `restricted` context as the backup CronJob.
    backup_pod = _spec(run, "backup-cronjob")["jobTemplate"]["spec"]["template"]["spec"]
    (backup_container,) = backup_pod["containers"]
    assert container["image"] == backup_container["image"] == "ghcr.io/example/webstack-backup:0.17.3"
    assert pod["securityContext"] == backup_pod["securityContext"]
    assert container["securityContext"] == backup_container["securityContext"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["automountServiceAccountToken"] is False and pod["restartPolicy"] == "Never"
    # drill.sh, then its metrics to the Pushgateway under a job of their own; the job fails if either did.
    shell, flag, run_text = container["command"]
    assert (shell, flag) == ("bash", "-c") and run_text == manifests.DRILL_RUN
    assert run_text.startswith("rc=0; /etc/webstack-backup/drill.sh || rc=$?; ")
    assert "--post-file /textfile/webstack_backup_drill.prom" in run_text
    assert '"http://$PUSHGATEWAY/metrics/job/webstack-backup-drill"' in run_text and 'exit "$rc"' in run_text
    # Env from the backup's Secret, only what drill.sh reads: no DATABASE_URL (the dump is
    # checked offline), Redis for the live key count.
    env = {e["name"]: e for e in container["env"]}
    secret_refs = {n for n, e in env.items() if "valueFrom" in e}
    assert secret_refs == {"RESTIC_PASSWORD", "REDISCLI_AUTH", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert all(env[n]["valueFrom"]["secretKeyRef"] == {"name": "backup-env", "key": n} for n in secret_refs)
    assert "DATABASE_URL" not in json.dumps(run.named("backup-drill-cronjob").inputs)
    assert env["PUSHGATEWAY"]["value"] == "pushgateway:9091"
    assert env["REDIS_HOST"]["value"] == "redis.webstack.svc.cluster.local" and env["REDIS_PORT"]["value"] == "6379"
    assert env["RESTIC_REPOSITORY"]["value"] == run.config.backup.repository
    # Scratch space for the largest data set (the dump, 10 GB as capacity counts it) plus
    # scratchMinMb and restic's cache, requested from the node; the scratch redis-server's memory.
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert volumes["work"] == {"name": "work", "emptyDir": {"sizeLimit": "12288Mi"}}
    assert container["resources"]["requests"]["ephemeral-storage"] == "12288Mi"
    assert container["resources"]["limits"]["memory"] == "3072Mi"  # 1024 + Redis' maxmemory 2048
    assert volumes["scripts"]["configMap"]["name"] == "backup-scripts"
    assert volumes["records"]["emptyDir"] == {"sizeLimit": "16Mi"}
    assert volumes["state"]["persistentVolumeClaim"] == {"claimName": "backup-drill-state"}
    assert mounts == {
        "scripts": "/etc/webstack-backup",
        "work": "/var/lib/webstack-backup",
        "tmp": "/tmp",
        "records": "/var/lib/webstack-backup-drills",
        "state": "/textfile",
    }
    claim = manifest(run.named("backup-drill-state"))
    assert claim["metadata"]["name"] == "backup-drill-state"
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    # drill.sh in the backup's ConfigMap, its work dir one it creates inside the emptyDir.
    script = manifest(run.named("backup-scripts"))["data"]["drill.sh"]
    for needle in (
        "readonly WORK_DIR=/var/lib/webstack-backup/drill",
        "readonly TEXTFILE_DIR=/textfile",
        "readonly RECORDS_DIR=/var/lib/webstack-backup-drills",
        "readonly TARGETS=(database redis)",
        "export RESTIC_REPOSITORY=s3:https://s3.eu-west-1.amazonaws.com/example-backups/production-k8s",
    ):
        assert needle in script, needle
    checksum = job["template"]["metadata"]["annotations"][manifests.CHECKSUM]
    assert checksum == backup_pod_annotations(run)[manifests.CHECKSUM]
    assert run.named("backup-drill-cronjob").parent == run.named("backup-cronjob").parent
    # The network policies let it reach the Pushgateway, and the live Redis for INFO keyspace.
    labels = job["template"]["metadata"]["labels"]
    (pushgateway_rule,) = _spec(run, "monitoring-pushgateway-netpol")["ingress"]
    assert any(_labels_select(peer["podSelector"]["matchLabels"], labels) for peer in pushgateway_rule["from"])
    assert labels[manifests.REDIS_CLIENT] == "true"
    # The drill alerts are loaded (see test_monitoring_scrapes_annotated_pods_with_the_same_rules).
    rules = yaml.safe_load(manifest(run.named("monitoring-prometheus-config"))["data"]["webstack.rules.yml"])
    drills = next(g for g in rules["groups"] if g["name"] == "webstack-backup-drills")
    assert {r["alert"] for r in drills["rules"]} == {
        "BackupDrillFailed",
        "BackupDrillTooOld",
        "BackupDrillMissing",
        "BackupDrillSlow",
    }
    assert "192 * 3600" in json.dumps(drills)  # drillMaxAgeHours: the weekly schedule's gap plus a day


def backup_pod_annotations(run: OfflineRun) -> dict[str, str]:
    annotations: dict[str, str] = _spec(run, "backup-cronjob")["jobTemplate"]["spec"]["template"]["metadata"][
        "annotations"
    ]
    return annotations


def test_drill_outputs_run_one_now_and_print_the_records() -> None:
    run = offline()
    outputs = run.outputs["backup"]
    assert outputs["drillCommand"] == (
        "kubectl --context production -n webstack create job --from=cronjob/backup-drill backup-drill-now-$(date +%s)"
    )
    records = outputs["drillRecordsCommand"]
    prefix = (
        "kubectl --context production -n webstack run backup-drill-records --rm -i --quiet --restart=Never "
        "--image=ghcr.io/example/webstack-backup:0.17.3 --override-type=strategic --overrides='"
    )
    assert records.startswith(prefix)
    assert records.endswith("' --command -- /etc/webstack-backup/drill.sh records 10")
    overrides = json.loads(records[len(prefix) : records.index("' --command")])
    (container,) = overrides["spec"]["containers"]
    assert container["name"] == "backup-drill-records" and "command" not in container
    names = {e["name"] for e in container["env"]}
    assert {"RESTIC_REPOSITORY", "RESTIC_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= names
    # The repository only: no Redis, no database, no claim, no label that opens Redis to it.
    assert not any(n.startswith("REDIS") or n == "DATABASE_URL" for n in names)
    assert {v["name"] for v in overrides["spec"]["volumes"]} == {"scripts", "work", "tmp"}
    assert manifests.REDIS_CLIENT not in overrides["metadata"]["labels"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "backup-drill-records"}, **overrides}
    pod["metadata"] |= {"namespace": "webstack"}
    pod["spec"]["containers"][0]["image"] = "ghcr.io/example/webstack-backup:0.17.3"
    validate_manifest(pod)


def test_drill_without_redis_check_and_drills_off() -> None:
    # backup.drill.redis off: the pod gets neither Redis' env nor the label that opens Redis to it.
    no_redis = _run(lambda raw: raw["webstack:backup"].update(drill={"redis": {"enabled": False}}))
    job = _spec(no_redis, "backup-drill-cronjob")["jobTemplate"]["spec"]["template"]
    (container,) = job["spec"]["containers"]
    assert manifests.REDIS_CLIENT not in job["metadata"]["labels"]
    assert not any(e["name"].startswith("REDIS") for e in container["env"])
    assert container["resources"]["limits"]["memory"] == "1024Mi"
    assert "readonly TARGETS=(database)" in manifest(no_redis.named("backup-scripts"))["data"]["drill.sh"]
    for resource in _k8s(no_redis):
        validate_manifest(manifest(resource))
    # backup.drill off: no drill CronJob nor claim, no drill.sh, null commands, no drill alerts.
    off = _run(lambda raw: raw["webstack:backup"].update(drill={"enabled": False}))
    names = {r.name for r in off.resources}
    assert "backup-cronjob" in names and not {"backup-drill-cronjob", "backup-drill-state"} & names
    assert "drill.sh" not in manifest(off.named("backup-scripts"))["data"]
    assert off.outputs["backup"]["drillCommand"] is None and off.outputs["backup"]["drillRecordsCommand"] is None
    rules = manifest(off.named("monitoring-prometheus-config"))["data"]["webstack.rules.yml"]
    assert rules == render_alert_rules(off.config.monitoring.thresholds, environment="production", backups=True)


def test_edge_is_cloudflare_in_front_of_the_load_balancer() -> None:
    run = offline()
    records = run.of_type("cloudflare:index/dnsRecord:DnsRecord")
    assert {(r.plain_inputs["name"], r.plain_inputs["type"], r.plain_inputs["content"]) for r in records} == {
        ("example.com", "A", "198.51.100.10"),
        ("www.example.com", "A", "198.51.100.10"),
        ("api.example.com", "A", "198.51.100.10"),
    }
    assert all(r.plain_inputs["proxied"] for r in records)
    edge_children = [r for r in run.resources if _parent_type(r) == "webstack:edge:NginxEdge"]
    assert {r.type.split(":")[0] for r in edge_children} == {"cloudflare", "pulumi"}
    # A cloud load balancer named by DNS gets a CNAME.
    named = _run(lambda raw: raw["webstack:kubernetes"].update(loadBalancerAddress="lb-1.elb.example.net"))
    assert {r.plain_inputs["type"] for r in named.of_type("cloudflare:index/dnsRecord:DnsRecord")} == {"CNAME"}


def test_outputs_keep_the_contract() -> None:
    outputs = offline().outputs
    assert list(outputs) == [spec.name for spec in CONTRACT]
    for spec in CONTRACT:
        value = outputs[spec.name]
        assert isinstance(value, Secret) is spec.secret, spec.name
        if spec.keys:
            assert isinstance(value, dict) and tuple(value) == spec.keys, spec.name
    assert outputs["hosts"] == []
    for service in outputs["services"].values():
        assert tuple(service) == SERVICE_KEYS
    assert outputs["services"]["backend"]["upstreams"] == ["backend.webstack.svc.cluster.local:8001"]
    assert outputs["services"]["backend"]["replicas"] == 3
    assert outputs["edge"]["host"] == "nginx" and outputs["edge"]["publicAddress"] == "198.51.100.10"
    assert outputs["redis"]["host"] == "redis.webstack.svc.cluster.local"
    assert reveal(outputs["redisUrl"]).endswith("@redis.webstack.svc.cluster.local:6379/0")
    assert outputs["monitoring"]["tunnelCommand"].count("port-forward") == 3
    assert HOST_KEYS  # the shape of a host, were there any


def test_no_secret_leaks_into_plain_inputs() -> None:
    run = offline()
    values = [v.get_secret_value() for v in run.config.secrets.values()]
    values += [
        _fake(f"password:{p.name}")[: int(p.plain_inputs["length"])]
        for p in run.of_type("random:index/randomPassword:RandomPassword")
    ]
    for resource in run.resources:
        plain = json.dumps(_masked(resource.inputs), default=str)
        for value in values:
            assert value not in plain, f"a secret leaks in plain inputs of {resource.name}"
    for config_map in run.of_type(CONFIG_MAP):
        text = json.dumps(config_map.plain_inputs)
        assert not any(value in text for value in values), config_map.name


def _masked(value: Any) -> Any:
    if isinstance(value, Secret):
        return "[secret]"
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


# --- schemas ------------------------------------------------------------------------------


def test_every_manifest_validates_against_the_kubernetes_schemas() -> None:
    resources = _k8s(offline())
    assert len(resources) == sum(v for k, v in EXPECTED_COUNTS.items() if k.startswith("kubernetes:"))
    for resource in resources:
        validate_manifest(manifest(resource))


def test_manifest_folder_validates(tmp_path: Path) -> None:
    write_manifest_dir(offline(), tmp_path)
    assert validate_manifest_dir(tmp_path) == len(_k8s(offline()))


def test_the_validator_catches_a_bad_manifest() -> None:
    document = manifest(offline().named("app-backend-deployment"))
    document["spec"]["template"]["spec"]["containers"][0]["resources"]["limit"] = {"cpu": "1"}  # a typo
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_manifest(document)


def test_pure_builders_validate() -> None:
    raw, secrets = _raw()
    config = load_stack_config(STACK, raw, secrets, placeholder_secrets=True)
    target = manifests.Target(namespace="webstack", stack=STACK)
    backend = config.services["backend"]
    assert backend.autoscale is not None
    app = manifests.AppSpec("backend", backend, "production", "backend-env", ("JWT_SECRET",), True)
    edge = manifests.IngressSpec(("example.com",), "nginx", "webstack-tls", 20)
    backup = manifests.BackupPodSpec(
        image="backup:1",
        plain_env={"RESTIC_REPOSITORY": "s3:x"},
        secret_name="backup-env",
        secret_keys=("RESTIC_PASSWORD",),
        scripts_config_map="backup-scripts",
        state_claim="backup-state",
        pushgateway="pushgateway:9091",
        uses_redis=True,
        scripts_checksum=manifests.checksum("x"),
    )
    drill = manifests.DrillPodSpec(
        image="backup:1",
        plain_env={"RESTIC_REPOSITORY": "s3:x"},
        secret_name="backup-env",
        secret_keys=("RESTIC_PASSWORD",),
        scripts_config_map="backup-scripts",
        state_claim="backup-drill-state",
        pushgateway="pushgateway:9091",
        records_dir="/var/lib/webstack-backup-drills",
        reads_live_redis=False,
        scratch_mb=2048,
        memory_mb=1024,
        scripts_checksum=manifests.checksum("x"),
    )
    built = [
        manifests.namespace(target),
        manifests.default_deny_ingress(target),
        manifests.app_deployment(target, app),
        manifests.app_service(target, app),
        manifests.app_hpa(target, "backend", backend.autoscale),
        manifests.app_pdb(target, "backend"),
        manifests.app_ingress(target, "backend", "backend", "http", [("/api/", "Prefix")], config.edge.api_rate, edge),
        manifests.network_policy(
            target, "backend", "app", "backend", [([manifests.ingress_controller_peer("x")], [80])]
        ),
        manifests.secret(target, "backend-env", "app", {"JWT_SECRET": "a-long-generated-value-1234"}),
        manifests.config_map(target, "c", "app", {"a": "b"}),
        manifests.redis_statefulset(
            target,
            "redis",
            manifests.RedisPodSpec(
                "redis:7", "exporter:1", 6379, 256, 10, None, "redis-auth", "redis-config", "x", "0", True
            ),
        ),
        manifests.service(target, "redis-headless", "cache", [("redis", 6379)], headless=True),
        manifests.prometheus_cluster_role(target, "r"),
        manifests.prometheus_cluster_role_binding(target, "r", "prometheus"),
        manifests.service_account(target, "prometheus", "monitoring"),
        manifests.pushgateway_deployment(target, "pushgateway", "prom/pushgateway:v1"),
        manifests.backup_cronjob(target, "backup", backup, schedule="0 2 * * *"),
        manifests.backup_claim(target, "backup-state", 1, "standard"),
        manifests.backup_drill_cronjob(target, "backup-drill", drill, schedule="0 4 * * 0"),
        manifests.service_monitor(
            target, "redis", selector={"a": "b"}, port="metrics", path="/metrics", interval_s=15, job="redis"
        ),
        manifests.prometheus_rule(
            target, "webstack", render_alert_rules(config.monitoring.thresholds, environment="x")
        ),
    ]
    for document in built:
        validate_manifest(document)


def test_policy_pack_passes_and_catches_no_tls_and_no_limits() -> None:
    # The policy pack (policy/, its own lint and tests) as the offline gate runs it.
    evaluate = importlib.import_module("policy.gate").evaluate
    run = offline()
    assert [v for v in evaluate(run.resources, {}) if v.level == "mandatory"] == []
    broken = copy.deepcopy(run.resources)
    for resource in broken:
        if resource.name == "app-backend-ingress":
            del resource.inputs["spec"]["tls"]
        if resource.name == "app-frontend-deployment":
            del resource.inputs["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    caught = {(v.policy, v.resource) for v in evaluate(broken, {}) if v.level == "mandatory"}
    assert ("k8s-ingress-tls", f"{INGRESS} 'app-backend-ingress'") in caught
    assert ("container-memory-limit", f"{DEPLOYMENT} 'app-frontend-deployment'") in caught
