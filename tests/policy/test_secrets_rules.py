"""Secret-handling policies on hand-built resources."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.common import is_secret_name, weakness
from policy.secrets_rules import grafana_admin_password, no_weak_secrets, redis_requires_password
from tests.policy.helpers import Reports, resource_args

CONTAINER = "docker:index/container:Container"
STRONG = "k7Qp2Vx9Lm4Rt8Wz3Nb6Yc1Hd5Fg0Js"


def weak(props: dict[str, Any], kind: str = CONTAINER, config: dict[str, Any] | None = None) -> Reports:
    reports = Reports()
    no_weak_secrets(resource_args(kind, props, name="app-backend-0", config=config), reports)
    return reports


@pytest.mark.parametrize(
    "name",
    [
        "JWT_SECRET",
        "REDIS_PASSWORD",
        "RESEND_API_KEY",
        "SENTRY_DSN",
        "REDISCLI_AUTH",
        "AWS_SECRET_ACCESS_KEY",
        "webstack.api-token",
        "sshPrivateKey",
    ],
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "LOG_LEVEL",
        "RAZORPAY_KEY_ID",
        "GF_AUTH_ANONYMOUS_ENABLED",
        "REFRESH_TOKEN_EXPIRES_IN",
        "GF_SECURITY_ADMIN_PASSWORD__FILE",
        "CACHE_KEY_PREFIX",
        "MONGO_URL",
        "auth-local",  # initdb's flag: a method (peer), not a secret
    ],
)
def test_not_secret_names(name: str) -> None:
    assert not is_secret_name(name)


@pytest.mark.parametrize(
    "value",
    [
        "changeme",
        "your-super-secure-jwt-secret-key-here",
        "your_redis_password",
        "re_your_resend_api_key",
        "<generate-64-char-random-string>",
        "${JWT_SECRET}",
        "short",
        "",
        "aaaaaaaaaaaaaaaaaaaaaaaa",
        "password",
        "xxxxxxxxxxxxxxxxxxxxxxxx",
    ],
)
def test_weak_values(value: str) -> None:
    assert weakness(value, min_length=16) is not None


@pytest.mark.parametrize("value", [STRONG, "52f4a3f2a28b956396ce8650b5b1a08c6e09e0c3bf23ebeb"])
def test_strong_values(value: str) -> None:
    assert weakness(value, min_length=16) is None


def test_env_values() -> None:
    assert not weak({"envs": [f"JWT_SECRET={STRONG}", "LOG_LEVEL=info", "GF_AUTH_ANONYMOUS_ENABLED=false"]})
    reports = weak({"envs": ["JWT_SECRET=changeme"]})
    assert "env JWT_SECRET is a well-known default" in reports.text()
    assert "changeme" not in reports.text(), "a violation never echoes the secret"
    assert "example value from the seeds" in weak({"envs": ["SENTRY_DSN=your_sentry_dsn"]}).text()
    assert not weak({"envs": [UNKNOWN_STRING_VALUE, f"JWT_SECRET={STRONG}"]})


def test_url_credentials() -> None:
    seeds = "MONGO_URL=mongodb+srv://username:password@cluster.mongodb.net/codementee?retryWrites=true"
    assert "the password in the URL of env MONGO_URL" in weak({"envs": [seeds]}).text()
    assert not weak({"envs": [f"REDIS_URL=redis://:{STRONG}@redis:6379/0", "API=https://api.example.com/x"]})


def test_labels_and_command_arguments() -> None:
    assert "label webstack.api-token" in weak({"labels": [{"label": "webstack.api-token", "value": "changeme"}]}).text()
    assert "command argument redis.password" in weak({"command": ["--redis.password=secret"]}).text()
    assert "command argument password" in weak({"command": ["--password", "hunter2"]}).text()
    assert (
        "command argument requirepass"
        in weak({"command": ["sh", "-c", "exec redis-server --requirepass foobared"]}).text()
    )
    references = ["sh", "-c", 'printf "requirepass %s\\n" "$REDIS_PASSWORD" && exec redis-server --include /tmp/a.conf']
    assert not weak({"command": references})
    # A flag named like a secret with no value of its own: the next token is another flag.
    assert not weak({"command": ["sh", "-c", 'redis-cli --no-auth-warning -a "$REDIS_PASSWORD" ping']})
    assert "command argument token" in weak({"command": ["sh", "-c", "cli --token s3cr3t ping"]}).text()
    # A `--no-...` switch takes no value (pg_basebackup's --no-password), nor is a redirection one.
    assert not weak({"command": ["bash", "-c", 'pg_basebackup -D "$DIR" --no-password >&2 || exit 1']})
    assert "command argument password" in weak({"command": ["bash", "-c", "cli --password s3cr3t >&2"]}).text()
    assert not weak({"command": ["--web.enable-lifecycle", "--storage.tsdb.retention.time=30d"]})


def test_generated_passwords_and_command_environment() -> None:
    assert (
        "generates a 8-character secret"
        in weak({"length": 8.0}, kind="random:index/randomPassword:RandomPassword").text()
    )
    assert not weak({"length": 48.0}, kind="random:index/randomPassword:RandomPassword")
    assert weak({"environment": {"API_TOKEN": "todo"}}, kind="command:remote:Command")
    encoded = base64.b64encode(b"changeme").decode()
    assert "data.password" in weak({"data": {"password": encoded}}, kind="kubernetes:core/v1:Secret").text()


def test_min_length_and_extra_values_are_configurable() -> None:
    value = "Zq8Lm2Xv5Tn9Rb4W"  # 16 characters
    assert not weak({"envs": [f"JWT_SECRET={value}"]})
    assert weak({"envs": [f"JWT_SECRET={value}"]}, config={"minLength": 32})
    assert weak({"envs": [f"JWT_SECRET={STRONG}"]}, config={"extraWeakValues": [STRONG]})


REDIS_START = (
    'umask 077 && printf "requirepass %s\\nmasterauth %s\\n" "$REDIS_PASSWORD" "$REDIS_PASSWORD" > /tmp/auth.conf'
    " && exec redis-server /etc/redis/redis.conf --include /tmp/auth.conf"
)


def redis(props: dict[str, Any], name: str = "redis-redis") -> Reports:
    reports = Reports()
    redis_requires_password(resource_args(CONTAINER, props, name=name), reports)
    return reports


def test_redis_requires_a_password() -> None:
    good = {
        "name": "webstack-production-redis",
        "command": ["sh", "-c", REDIS_START],
        "envs": [f"REDIS_PASSWORD={STRONG}"],
    }
    assert not redis(good)
    assert "does not set" in redis({**good, "envs": []}).text()
    assert "without requirepass" in redis({**good, "command": ["redis-server", "/etc/redis/redis.conf"]}).text()
    assert not redis({**good, "command": ["redis-server", "--requirepass", "x"]})  # weak: no-weak-secrets' business
    assert "empty requirepass" in redis({**good, "command": ["sh", "-c", 'exec redis-server --requirepass ""']}).text()
    conf = {
        "name": "r",
        "command": ["redis-server", "/etc/redis/redis.conf"],
        "uploads": [{"file": "/etc/redis/redis.conf", "content": f"requirepass {STRONG}\n"}],
    }
    assert not redis(conf)
    assert not redis({**good, "envs": [UNKNOWN_STRING_VALUE]})
    assert not redis({**good, "envs": UNKNOWN_STRING_VALUE})
    sentinel = {"command": ["sh", "-c", "exec redis-server /data/sentinel.conf --sentinel"], "envs": []}
    assert "without requirepass" in redis(sentinel, name="redis-sentinel-data-1").text()
    assert not redis({"name": "webstack-production-grafana", "envs": ["GF_X=1"]})


def grafana(envs: list[str]) -> Reports:
    reports = Reports()
    grafana_admin_password(
        resource_args(
            CONTAINER,
            {"name": "webstack-production-grafana", "envs": ["GF_USERS_ALLOW_SIGN_UP=false", *envs]},
            name="monitoring-grafana",
        ),
        reports,
    )
    return reports


def test_grafana_admin_password() -> None:
    assert not grafana([f"GF_SECURITY_ADMIN_PASSWORD={STRONG}"])
    assert not grafana(["GF_SECURITY_ADMIN_PASSWORD__FILE=/run/secrets/admin"])
    assert "admin/admin" in grafana([]).text()
    assert "default or weak" in grafana(["GF_SECURITY_ADMIN_PASSWORD=admin"]).text()
    assert grafana(["GF_SECURITY_ADMIN_PASSWORD=short"])
    assert not grafana([UNKNOWN_STRING_VALUE])  # the generated password is not known during a preview
    unknown_env = Reports()
    props = {"name": "webstack-production-grafana", "envs": UNKNOWN_STRING_VALUE}
    grafana_admin_password(resource_args(CONTAINER, props, name="monitoring-grafana"), unknown_env)
    assert not unknown_env
