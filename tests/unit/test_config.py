"""The typed config: the three stack files load; bad values stop with the exact key."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from components.config import ConfigError
from components.config.stackfile import read_stack_file, stack_names
from components.config.values import image_is_pinned
from components.load import load_stack_config

Mutation = Callable[[dict[str, Any]], None]


def _load(stack: str, mutate: Mutation | None = None, secret_keys: set[str] | None = None) -> Any:
    raw, secrets = read_stack_file(stack)
    raw = copy.deepcopy(raw)
    if mutate:
        mutate(raw)
    return load_stack_config(stack, raw, secrets if secret_keys is None else secret_keys, placeholder_secrets=True)


def test_every_stack_file_is_one_of_the_three() -> None:
    assert {"local", "staging", "production"} <= set(stack_names())


@pytest.mark.parametrize("stack", ["local", "staging", "production"])
def test_stack_files_load(stack: str) -> None:
    config = _load(stack)
    assert config.environment == stack
    assert config.platform == "docker"


def test_production_is_the_seeds_high_scale_layout() -> None:
    config = _load("production")
    roles = config.roles()
    assert [h for h, r in roles.items() if "edge" in r] == ["edge-1"]
    assert len([h for h, r in roles.items() if "app" in r]) >= 2
    assert config.services["backend"].replicas == 3
    assert config.services["frontend"].replicas == 2
    assert config.redis.replica_host and len(config.redis.sentinel_hosts) == 3
    assert config.backup.offsite and config.backup.retention.daily >= 30
    assert any("monitoring" in r for r in roles.values())


def test_required_secrets_are_missing_without_placeholders() -> None:
    raw, secrets = read_stack_file("production")
    with pytest.raises(ConfigError) as error:
        load_stack_config("production", raw, secrets)
    assert "webstack:cloudflareApiToken" in error.value.keys
    assert "webstack:sshPrivateKey" in error.value.keys
    assert "stack 'production'" in str(error.value)


def _set(path: str, value: Any) -> Mutation:
    """Set a nested key: 'webstack:services.backend.replicas' or 'webstack:hosts[1].address'."""

    def mutate(raw: dict[str, Any]) -> None:
        top, _, rest = path.partition(".")
        node: Any = raw
        parts: list[Any] = []
        for piece in [top, *(rest.split(".") if rest else [])]:
            name, _, index = piece.partition("[")
            parts.append(name)
            if index:
                parts.append(int(index.rstrip("]")))
        for part in parts[:-1]:
            node = node.setdefault(part, {}) if isinstance(node, dict) else node[part]
        node[parts[-1]] = value

    return mutate


def _append_host(raw: dict[str, Any]) -> None:
    raw["webstack:hosts"].append({"name": "app-3", "address": "203.0.113.11", "privateAddress": "10.0.0.99"})


def _drop(key: str) -> Mutation:
    return lambda raw: raw.pop(key)


# (stack, mutation, the key the error must name)
BAD_CONFIGS: list[tuple[str, Mutation, str]] = [
    ("production", _set("webstack:services.backend.replicas", 0), "webstack:services.backend.replicas"),
    ("production", _set("webstack:services.backend.replicas", "three"), "webstack:services.backend.replicas"),
    ("production", _set("webstack:services.backend.port", 70000), "webstack:services.backend.port"),
    ("local", _set("webstack:edge.httpsPort", 0), "webstack:edge.httpsPort"),
    ("production", _set("webstack:services.backend.hosts", ["app-1", "app-9"]), "webstack:services.backend.hosts[1]"),
    ("production", _append_host, "webstack:hosts[6].address"),
    (
        "production",
        _set("webstack:services.backend.image", "ghcr.io/example/backend:latest"),
        "webstack:services.backend.image",
    ),
    (
        "staging",
        _set("webstack:services.frontend.image", "ghcr.io/example/frontend"),
        "webstack:services.frontend.image",
    ),
    ("production", _set("webstack:images.nginx", "nginx:latest"), "webstack:images.nginx"),
    ("local", _drop("webstack:domain"), "webstack:domain"),
    ("local", _set("webstack:unknownThing", "x"), "webstack:unknownThing"),
    ("production", _set("webstack:services.backend.replica", 3), "webstack:services.backend.replica"),
    ("local", _set("webstack:environment", "prod"), "webstack:environment"),
    ("production", _set("webstack:redis.maxmemoryPolicy", "lru"), "webstack:redis.maxmemoryPolicy"),
    ("production", _set("webstack:backup.schedule", "every night"), "webstack:backup.schedule"),
    ("production", _set("webstack:backup.retention.daily", 0), "webstack:backup.retention.daily"),
    ("production", _set("webstack:redis.replicaHost", "data-1"), "webstack:redis.replicaHost"),
    ("production", _set("webstack:redis.host", "nowhere"), "webstack:redis.host"),
    (
        "production",
        _set("webstack:monitoring.thresholds", {"cpuWarning": 95, "cpuCritical": 90}),
        "webstack:monitoring.thresholds",
    ),
    ("production", _set("webstack:hosts[0].address", "not an address!"), "webstack:hosts[0].address"),
    ("production", _set("webstack:hosts[1].privateAddress", None), "webstack:hosts[1].privateAddress"),
    ("staging", _set("webstack:dns", {"enabled": True}), "webstack:dns"),
    (
        "local",
        _set("webstack:services.backend.secretEnv", {"JWT_SECRET": {"generate": 8}}),
        "webstack:services.backend.secretEnv.JWT_SECRET.generate",
    ),
    ("local", _set("webstack:hosts", "local"), "webstack:hosts"),
    ("production", _set("webstack:platform", "kubernetes"), "webstack:platform"),
    ("local", _set("webstack:backup.volumes", ["postgres-data"]), "webstack:backup.volumes[0]"),
    (
        "production",
        _set("webstack:services.backend.loginPaths", ["/auth/login"]),
        "webstack:services.backend.loginPaths[0]",
    ),
    # Replicas' fixed published ports: past 65535, on Redis' port, on another service's range.
    (
        "production",
        _set("webstack:services.backend.publishedPortBase", 65534),
        "webstack:services.backend.publishedPortBase",
    ),
    (
        "production",
        _set("webstack:services.frontend.publishedPortBase", 6378),
        "webstack:services.frontend.publishedPortBase",
    ),
    (
        "production",
        _set("webstack:services.frontend.publishedPortBase", 18002),
        "webstack:services.frontend.publishedPortBase",
    ),
]


@pytest.mark.parametrize(("stack", "mutate", "key"), BAD_CONFIGS, ids=[f"{s}:{k}" for s, _, k in BAD_CONFIGS])
def test_bad_config_names_the_key(stack: str, mutate: Mutation, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        _load(stack, mutate)
    assert key in error.value.keys, str(error.value)
    assert f"stack '{stack}'" in str(error.value)
    problem = next(p for p in error.value.problems if p.key == key)
    assert "allowed" in problem.detail or "required" in problem.detail, problem.detail


LONG_NAME = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 253 characters, the most DNS allows

GOOD_ADDRESSES = [
    "203.0.113.99",
    "10.0.0.255",
    "2001:db8::10",
    "vps-1",
    "vps-1.example.com",
    "1e100.net",
    "123.example.com",  # numeric labels are fine, but not the last one
    "xn--bcher-kva.example",
    "a" * 63 + ".example.com",
    LONG_NAME,
]

BAD_ADDRESSES = [
    "300.1.2.3",  # looks like a DNS name of numeric labels, but is an out-of-range IPv4 address
    "10.0.0.256",
    "1.2.3",
    "1.2.3.4.5",
    "010.0.0.1",
    "12345",
    "0x7f000001",
    "host.10",
    "",
    "-vps.example.com",
    "vps-.example.com",
    "vps.-example.com",
    "vps..example.com",
    ".example.com",
    "example.com.",
    "my_vps.example.com",
    "a" * 64 + ".example.com",
    LONG_NAME + "d",  # 254 characters
    "vps 1.example.com",
    "vps.example.com\n",
    "2001:db8::10::1",
]


def _address_id(address: str) -> str:
    return repr(address) if len(address) <= 30 else f"{address[:12]!r}...({len(address)} chars)"


@pytest.mark.parametrize("field", ["address", "privateAddress"])
@pytest.mark.parametrize("address", GOOD_ADDRESSES, ids=_address_id)
def test_good_host_addresses_are_accepted(field: str, address: str) -> None:
    config = _load("production", _set(f"webstack:hosts[1].{field}", address))
    host = config.hosts[1]
    assert (host.address if field == "address" else host.private_address) == address


@pytest.mark.parametrize("field", ["address", "privateAddress"])
@pytest.mark.parametrize("address", BAD_ADDRESSES, ids=_address_id)
def test_bad_host_addresses_name_the_key_and_the_stack(field: str, address: str) -> None:
    key = f"webstack:hosts[1].{field}"
    with pytest.raises(ConfigError) as error:
        _load("production", _set(key, address))
    assert error.value.keys == [key], str(error.value)
    message = str(error.value)
    assert "invalid config for stack 'production'" in message
    problem = error.value.problems[0].detail
    assert problem.startswith("got ") and "; allowed: an IP address" in problem, problem
    assert "a DNS host name (lowercase labels" in message


@pytest.mark.parametrize("address", ["10.0.0.256", "lb", "lb_1.example.com"])
def test_bad_load_balancer_address_uses_the_same_check(address: str) -> None:
    key = "webstack:kubernetes.loadBalancerAddress"
    with pytest.raises(ConfigError) as error:
        _load("production-k8s", _set(key, address))
    assert error.value.keys == [key], str(error.value)
    assert "stack 'production-k8s'" in str(error.value)
    assert "allowed: an IP address" in str(error.value)


def _edge_ports(http: int, https: int) -> Mutation:
    def mutate(raw: dict[str, Any]) -> None:
        raw["webstack:edge"]["httpPort"] = http
        raw["webstack:edge"]["httpsPort"] = https

    return mutate


@pytest.mark.parametrize(("stack", "port"), [("local", 8443), ("staging", 443), ("production", 80)])
def test_edge_port_clash_names_both_keys_and_the_stack(stack: str, port: int) -> None:
    with pytest.raises(ConfigError) as error:
        _load(stack, _edge_ports(port, port))
    assert error.value.keys == ["webstack:edge"], str(error.value)
    message = str(error.value)
    assert f"invalid config for stack '{stack}'" in message
    assert f"allowed: different ports for edge.httpPort and edge.httpsPort (both are {port};" in message


@pytest.mark.parametrize(("http", "https"), [(8080, 8443), (8443, 8080), (80, 443)])
def test_edge_ports_that_differ_are_accepted(http: int, https: int) -> None:
    config = _load("local", _edge_ports(http, https))
    assert (config.edge.http_port, config.edge.https_port) == (http, https)


def test_plaintext_secret_is_refused() -> None:
    def mutate(raw: dict[str, Any]) -> None:
        raw["webstack:cloudflareApiToken"] = "plain-token-value-1234567890"

    with pytest.raises(ConfigError) as error:
        _load("staging", mutate, secret_keys=set())
    assert "webstack:cloudflareApiToken" in error.value.keys
    assert "pulumi config set --secret webstack:cloudflareApiToken" in str(error.value)


def test_secret_set_as_secret_is_accepted_and_kept_out_of_the_model_dump() -> None:
    def mutate(raw: dict[str, Any]) -> None:
        raw["webstack:cloudflareApiToken"] = "token-from-the-engine-0123456789"

    config = _load("staging", mutate, secret_keys={"webstack:cloudflareApiToken"})
    assert config.secret("cloudflareApiToken") == "token-from-the-engine-0123456789"
    assert "token-from-the-engine" not in config.model_dump_json()


def test_structured_keys_may_not_be_secret() -> None:
    raw, _ = read_stack_file("local")
    with pytest.raises(ConfigError) as error:
        load_stack_config("local", raw, {"webstack:hosts"})
    assert "webstack:hosts" in error.value.keys


def test_engine_json_strings_are_decoded() -> None:
    import json

    raw, secrets = read_stack_file("local")
    as_engine = {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}
    assert load_stack_config("local", as_engine, secrets) == load_stack_config("local", raw, secrets)


def test_provider_namespaces_are_left_alone() -> None:
    config = _load("local", _set("docker:host", "unix:///var/run/docker.sock"))
    assert config.environment == "local"


@pytest.mark.parametrize(
    ("ref", "pinned"),
    [
        ("nginx:1.27.3-alpine", True),
        ("ghcr.io/example/backend:1.4.2", True),
        ("localhost:5000/app:2", True),
        ("localhost:5000/app", False),
        ("nginx", False),
        ("nginx:latest", False),
        ("nginx@sha256:" + "a" * 64, True),
    ],
)
def test_image_is_pinned(ref: str, pinned: bool) -> None:
    assert image_is_pinned(ref) is pinned


def test_one_half_of_a_rate_limit_keeps_the_other_half_default() -> None:
    """`pulumi config set --path webstack:edge.apiRate.burst 30` on a stack that sets no apiRate."""
    config = _load("local", _set("webstack:edge.apiRate", {"burst": 30}))
    assert (config.edge.api_rate.rate, config.edge.api_rate.burst) == (10, 30)
    config = _load("local", _set("webstack:edge.loginRate", {"rate": 2}))
    assert (config.edge.login_rate.rate, config.edge.login_rate.burst) == (2, 5)
    with pytest.raises(ConfigError) as error:
        _load("local", _set("webstack:edge.apiRate", {"burst": -1}))
    assert "webstack:edge.apiRate.burst" in error.value.keys


def test_replicas_are_published_on_fixed_ports_that_name_their_replica() -> None:
    config = _load("production")
    backend, frontend = config.services["backend"], config.services["frontend"]
    assert [backend.published_port(i) for i in range(backend.replicas)] == [18001, 18002, 18003]
    assert [frontend.published_port(i) for i in range(frontend.replicas)] == [18080, 18081]


def test_reserved_host_ports_are_the_components_ports() -> None:
    from components import monitoring, nginx_edge, redis_cache
    from components.config import RESERVED_HOST_PORTS

    used = {monitoring.NODE_EXPORTER_PORT, nginx_edge.EXPORTER_PORT, redis_cache.EXPORTER_PORT}
    used |= {redis_cache.SENTINEL_PORT, _load("production").redis.port}
    assert used <= set(RESERVED_HOST_PORTS)
