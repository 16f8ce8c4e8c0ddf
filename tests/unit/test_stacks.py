"""Each stack file under Pulumi mocks: what it declares, how it is parented, what stays secret."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

from components.config.values import image_is_pinned
from tools.offline import OfflineRun, Secret, _fake, reveal, run_offline

COMPONENTS = {
    "webstack:host:VpsHost",
    "webstack:edge:NginxEdge",
    "webstack:app:AppTier",
    "webstack:cache:RedisCache",
    "webstack:backup:BackupJob",
    "webstack:monitoring:MonitoringStack",
    "webstack:database:PostgresCluster",
    "webstack:logs:LogStore",
}
OPTIONAL_COMPONENTS = {"webstack:database:PostgresCluster"}  # with webstack:postgres (the local stack has it)
CONTAINER = "docker:index/container:Container"

# Resources per type each stack must declare (the whole shape, pinned).
EXPECTED_COUNTS: dict[str, dict[str, int]] = {
    "local": {
        "webstack:host:VpsHost": 1,
        "webstack:edge:NginxEdge": 1,
        "webstack:app:AppTier": 1,
        "webstack:cache:RedisCache": 1,
        "webstack:backup:BackupJob": 1,
        "webstack:monitoring:MonitoringStack": 1,
        "webstack:database:PostgresCluster": 1,
        "webstack:logs:LogStore": 1,
        # edge, exporter, 2 backend, 1 frontend, redis, redis exporter, node exporter, prom, am,
        # grafana, backup; postgres, pgbouncer, postgres exporter; log store, vmalert, log shipper
        CONTAINER: 18,
        "docker:index/network:Network": 1,
        # redis, prometheus, alertmanager, grafana, backup, postgres, log store, log shipper's state
        "docker:index/volume:Volume": 8,
        "pulumi:providers:docker": 1,
        # edge: tls, nginx.conf, reload; Prometheus: config, rules, the log pipeline's rules,
        # reload, a targets file per job (node, nginx, redis, postgres, app-backend,
        # app-frontend, log-store, vmalert); Alertmanager's and PgBouncer's reloads
        "command:local:Command": 17,
        # session secret, redis, grafana, restic; postgres: replication, exporter, the owner app
        "random:index/randomPassword:RandomPassword": 7,
    },
    "staging": {
        "webstack:host:VpsHost": 1,
        CONTAINER: 15,  # 12 + log store, vmalert, log shipper
        # bootstrap, csr, cert, nginx.conf, reload; Prometheus 4 (config, 2 rule files, reload) + 7 targets; Alertmanager 1
        "command:remote:Command": 17,
        "cloudflare:index/dnsRecord:DnsRecord": 2,
        "cloudflare:index/zoneSetting:ZoneSetting": 3,
        "cloudflare:index/ruleset:Ruleset": 1,
        "cloudflare:index/originCaCertificate:OriginCaCertificate": 1,
        "random:index/randomPassword:RandomPassword": 3,
    },
    "production": {
        "webstack:host:VpsHost": 6,
        # edge 2, app 5, redis 6 (primary, replica, 3 sentinels, exporter), monitoring 3 + 6 node
        # exporters, backup 1; log store, vmalert, 6 log shippers
        CONTAINER: 31,
        "pulumi:providers:docker": 6,
        # 10 + Prometheus config, 2 rule files, reload, 7 targets files, Alertmanager reload; a
        # port slot per app replica
        "command:remote:Command": 27,
        "cloudflare:index/dnsRecord:DnsRecord": 3,
        # redis 2, prometheus, alertmanager, grafana; log store, 6 log shippers' state
        "docker:index/volume:Volume": 12,
    },
}


@functools.cache
def offline(stack: str) -> OfflineRun:
    # The pinned images, whatever scripts/up.sh wrote into a stack file (webstack:imageSource).
    return run_offline(stack, image_source="registry")


@pytest.mark.parametrize("stack", ["local", "staging", "production"])
def test_all_six_components_are_declared(stack: str) -> None:
    run = offline(stack)
    types = {r.type for r in run.resources}
    assert types >= COMPONENTS - OPTIONAL_COMPONENTS
    assert ("webstack:database:PostgresCluster" in types) is (run.config.postgres is not None)


@pytest.mark.parametrize("stack", ["local", "staging", "production"])
def test_resource_counts(stack: str) -> None:
    counts = offline(stack).counts()
    for type_token, expected in EXPECTED_COUNTS[stack].items():
        assert counts.get(type_token, 0) == expected, f"{type_token}: {counts.get(type_token, 0)} != {expected}"


@pytest.mark.parametrize("stack", ["local", "staging", "production"])
def test_every_resource_is_parented_to_a_component(stack: str) -> None:
    run = offline(stack)
    for resource in run.resources:
        if resource.type in COMPONENTS:
            assert resource.parent.endswith("::webstack-" + stack) or "pulumi:pulumi:Stack" in resource.parent
            continue
        # The child's URN carries its parent's type.
        parent_type = resource.urn.split("::")[2].split("$")[0]
        assert parent_type in COMPONENTS, f"{resource.name} is not under a component ({resource.urn})"


@pytest.mark.parametrize("stack", ["local", "staging", "production"])
def test_no_public_port_but_the_edge(stack: str) -> None:
    run = offline(stack)
    public = {h.address for h in run.config.hosts if h.connection == "ssh"} | {"0.0.0.0", "::", ""}
    for container in run.of_type(CONTAINER):
        for port in container.plain_inputs.get("ports") or []:
            if container.name == "edge-nginx":
                assert port["internal"] in (80, 443)
                continue
            assert port.get("ip") not in public, f"{container.name} publishes {port} on a public interface"


@pytest.mark.parametrize("stack", ["local", "staging", "production"])
def test_containers_have_restart_memory_and_log_rotation(stack: str) -> None:
    for container in offline(stack).of_type(CONTAINER):
        inputs = container.plain_inputs
        assert inputs["restart"] == "unless-stopped", container.name
        assert inputs["memory"] > 0, container.name
        assert inputs["logOpts"]["max-size"], container.name


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_images_are_pinned(stack: str) -> None:
    run = offline(stack)
    for image in run.of_type("docker:index/remoteImage:RemoteImage"):
        assert image_is_pinned(image.plain_inputs["name"]), image.plain_inputs["name"]


def _secret_strings(value: Any) -> list[str]:
    found: list[str] = []
    if isinstance(value, Secret):
        found += [v for v in [json.dumps(reveal(value.value))] if v]
    elif isinstance(value, dict):
        for v in value.values():
            found += _secret_strings(v)
    elif isinstance(value, list):
        for v in value:
            found += _secret_strings(v)
    return found


@pytest.mark.parametrize("stack", ["local", "staging", "production"])
def test_secrets_are_secret_in_inputs(stack: str) -> None:
    run = offline(stack)
    containers = {c.name: c for c in run.of_type(CONTAINER)}
    backend = next(c for n, c in containers.items() if n.startswith("app-backend-"))
    assert isinstance(backend.inputs["envs"], Secret)
    env = reveal(backend.inputs["envs"])
    assert any(e.startswith("REDIS_URL=redis://:") for e in env)
    assert any(e.startswith("SESSION_SECRET=") for e in env)
    grafana = containers["monitoring-grafana"]
    assert isinstance(grafana.inputs["envs"], Secret)
    redis = containers["redis-redis"]
    assert isinstance(redis.inputs["envs"], Secret)
    backup = containers["backup-runner"]
    assert isinstance(backup.inputs["envs"], Secret)
    assert any(e.startswith("RESTIC_PASSWORD=") for e in reveal(backup.inputs["envs"]))
    # No secret value (configured or generated) appears in any plain input.
    secret_values = [v.get_secret_value() for v in run.config.secrets.values()]
    secret_values += [
        _fake(f"password:{p.name}")[: int(p.plain_inputs["length"])]
        for p in run.of_type("random:index/randomPassword:RandomPassword")
    ]
    assert secret_values
    for resource in run.resources:
        plain = json.dumps(_without_secrets(resource.inputs), default=str)
        for value in secret_values:
            assert value not in plain, f"a secret leaks in plain inputs of {resource.name}"


def _without_secrets(value: Any) -> Any:
    if isinstance(value, Secret):
        return "[secret]"
    if isinstance(value, dict):
        return {k: _without_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


@pytest.mark.parametrize("stack", ["local", "staging", "production"])
def test_secret_outputs_are_secret(stack: str) -> None:
    outputs = offline(stack).outputs
    assert isinstance(outputs["redisUrl"], Secret)
    assert reveal(outputs["redisUrl"]).startswith("redis://:")
    assert isinstance(outputs["grafanaAdminPassword"], Secret)
    assert "[secret]" not in json.dumps(reveal(outputs))
    plain = {k: v for k, v in outputs.items() if k not in ("redisUrl", "grafanaAdminPassword")}
    assert not _secret_strings(plain)


def test_same_config_same_declarations() -> None:
    first = run_offline("production")
    second = run_offline("production")

    # Registration order may differ (asynchronous); the set of declarations may not.
    def declared(run: OfflineRun) -> list[str]:
        return sorted(json.dumps([r.type, r.name, r.plain_inputs], sort_keys=True, default=str) for r in run.resources)

    assert declared(first) == declared(second)


def test_production_protects_redis_data() -> None:
    run = offline("production")
    volumes = [v for v in run.of_type("docker:index/volume:Volume") if "redis" in v.name]
    assert volumes and all(v.protect for v in volumes)
    assert not any(v.protect for v in offline("local").of_type("docker:index/volume:Volume"))


def test_edge_config_routes_every_service_with_rate_limits() -> None:
    import crossplane

    run = offline("production")
    conf_cmd = run.named("edge-conf")
    text = reveal(conf_cmd.inputs["stdin"])
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as handle:
        handle.write(text)
    parsed = crossplane.parse(handle.name, single=True, check_ctx=False, check_args=False)
    assert parsed["status"] == "ok", parsed["errors"]
    http = next(d for d in parsed["config"][0]["parsed"] if d["directive"] == "http")["block"]
    upstreams = {d["args"][0]: d["block"] for d in http if d["directive"] == "upstream"}
    assert set(upstreams) == {"backend", "frontend"}
    backend_servers = [d["args"][0] for d in upstreams["backend"] if d["directive"] == "server"]
    assert len(backend_servers) == 3 and len(set(backend_servers)) == 3
    assert all(s.startswith(("10.0.0.11:", "10.0.0.12:")) for s in backend_servers)


def test_local_image_source_uses_the_local_image_set() -> None:
    from components.config.images import LOCAL_IMAGES

    run = run_offline("local", image_source="local")
    images = {r.plain_inputs["name"] for r in run.of_type("docker:index/remoteImage:RemoteImage")}
    assert set(LOCAL_IMAGES.values()) <= images
    assert all(i.startswith("webstack-local/") for i in images), images
    assert "monitoring-grafana" not in {c.name for c in run.of_type(CONTAINER)}
    assert run.outputs["monitoring"]["grafanaUrl"] is None
    assert isinstance(run.outputs["grafanaAdminPassword"], Secret)


@pytest.mark.parametrize(("stack", "source"), [("production", "local"), ("local", "docker-hub")])
def test_image_source_is_checked(stack: str, source: str) -> None:
    from components.config import ConfigError

    with pytest.raises(ConfigError) as error:
        run_offline(stack, image_source=source)
    assert error.value.keys == ["webstack:imageSource"]
    assert "allowed" in str(error.value)


def test_redis_users_follow_the_sentinels_in_production_only() -> None:
    """Back-end replicas get the Sentinels and the name they watch; the front end (usesRedis
    false) and a stack without Sentinels get neither."""

    def envs(stack: str, resource: str) -> dict[str, str]:
        container = offline(stack).named(resource)
        return dict(e.split("=", 1) for e in reveal(container.inputs["envs"]) if "=" in e)

    backend = envs("production", "app-backend-0")
    assert backend["REDIS_SENTINELS"] == "10.0.0.13:26379,10.0.0.14:26379,10.0.0.15:26379"
    assert backend["REDIS_SENTINEL_MASTER"] == "webstack"
    assert "REDIS_SENTINELS" not in envs("production", "app-frontend-0")
    assert "REDIS_SENTINELS" not in envs("local", "app-backend-0")


@pytest.mark.parametrize(("stack", "watches_addresses"), [("local", True), ("staging", True), ("production", False)])
def test_the_edge_reloads_on_replica_addresses_only_where_it_resolves_names(stack: str, watches_addresses: bool) -> None:
    """One host: nginx reaches replicas by container name, resolved at a reload, so their
    addresses are a trigger. Several hosts: published ports on private addresses, which a
    host's reboot does not move: no address trigger, so no false drift after a reboot."""
    reload = next(r for r in offline(stack).resources if r.name == "edge-reload")
    triggers = reload.plain_inputs["triggers"]
    assert len(triggers) == (2 if watches_addresses else 1), triggers
