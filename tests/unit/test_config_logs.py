"""webstack:logs: each bad value refused with one message naming the stack, the key and what is
allowed (before any resource exists: the loader raises); the defaults; the pure renderers."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from components.config import ConfigError, StackConfig
from components.config.logs import LOG_STORE_PORT, VMALERT_PORT, LogAlerts, LogsConfig, retention_hours
from components.config.stackfile import read_stack_file
from components.load import load_stack_config
from components.render.logs import (
    DOCKER_LOG_OPTS,
    STREAM_FIELDS,
    ShipperSpec,
    errors_query,
    insert_url,
    log_alert_rules,
    log_store_spec,
    render_log_alert_rules,
    render_shipper_conf,
    request_query,
    shipper_spec,
    victorialogs_args,
)


def _load(stack: str, logs: Any) -> StackConfig:
    raw, secrets = read_stack_file(stack)
    raw = copy.deepcopy(raw)
    if logs is not None:
        raw["webstack:logs"] = logs
    return load_stack_config(stack, raw, secrets, placeholder_secrets=True)


def test_defaults_on_every_docker_stack() -> None:
    for stack in ("local", "staging", "production"):
        config = _load(stack, None)
        logs = config.logs
        assert logs.effective(config.platform), stack
        assert logs.store_host(config.monitoring.host) == config.monitoring.host
    defaults = _load("staging", None).logs  # staging's file sets nothing under webstack:logs
    assert (defaults.retention, defaults.port, defaults.vmalert_port, defaults.buffer_mb) == ("14d", 9428, 8880, 1024)
    assert defaults.max_disk_gb is None
    local = _load("local", None).logs  # the local stack's own, beside Prometheus' 19090
    assert (local.retention, local.port, local.buffer_mb) == ("2d", 19428, 256)
    production = _load("production", None).logs
    assert (production.retention, production.max_disk_gb) == ("30d", 20)
    assert _load("production", None).logs.store_host("monitor-1") == "monitor-1"
    k8s = _load("production-k8s", None)
    assert not k8s.logs.effective(k8s.platform)  # a cluster collects its own logs


def test_retention_per_stack_and_host() -> None:
    config = _load("production", {"retention": "8w", "host": "data-2", "maxDiskGb": 40})
    assert config.logs.store_host(config.monitoring.host) == "data-2"
    args = victorialogs_args(log_store_spec(config))
    assert "-retentionPeriod=8w" in args and f"-retention.maxDiskSpaceUsageBytes={40 * 1024**3}" in args
    assert "-httpListenAddr=:9428" in args
    assert _load("staging", {"retention": "30d"}).logs.retention == "30d"


@pytest.mark.parametrize(
    ("value", "hours"), [("24h", 24), ("1d", 24), ("14d", 336), ("8w", 1344), ("1y", 8760), ("100y", 876000)]
)
def test_retention_hours(value: str, hours: int) -> None:
    assert retention_hours(value) == hours


BAD: list[tuple[str, Any, str, str]] = [
    # stack, webstack:logs, key, words the message must hold
    ("production", {"retention": "12h"}, "webstack:logs.retention", "from a day (24h, 1d) to 100y"),
    ("production", {"retention": "0d"}, "webstack:logs.retention", "a whole number and a unit"),
    ("staging", {"retention": "14"}, "webstack:logs.retention", "a bare number would be months"),
    ("production", {"retention": "3m"}, "webstack:logs.retention", "h (hours, at least 24), d (days), w"),
    ("production", {"retention": "101y"}, "webstack:logs.retention", "to 100y"),
    ("production", {"retention": "1.5d"}, "webstack:logs.retention", "a whole number"),
    ("local", {"retention": 14}, "webstack:logs.retention", "allowed"),
    ("production", {"retention": "14D"}, "webstack:logs.retention", "such as 14d"),
    ("production", {"port": 80}, "webstack:logs.port", "1024"),
    ("production", {"port": 70000}, "webstack:logs.port", "65535"),
    ("production", {"port": 9090}, "webstack:logs.port", "Prometheus publishes on host 'monitor-1'"),
    ("production", {"vmalertPort": 9093}, "webstack:logs.vmalertPort", "Alertmanager"),
    ("production", {"vmalertPort": 9428}, "webstack:logs.vmalertPort", "the store's port too"),
    ("production", {"host": "nope"}, "webstack:logs.host", "allowed: app-1, app-2, data-1, data-2, edge-1, monitor-1"),
    ("production", {"host": "Monitor"}, "webstack:logs.host", "allowed"),
    ("production", {"enabled": "sometimes"}, "webstack:logs.enabled", "allowed"),
    ("production-k8s", {"enabled": True}, "webstack:logs.enabled", "platform docker only"),
    ("production", {"bufferMb": 1}, "webstack:logs.bufferMb", "16"),
    ("production", {"maxDiskGb": 0}, "webstack:logs.maxDiskGb", "1"),
    ("production", {"alerts": {"upstreamErrors": 0}}, "webstack:logs.alerts.upstreamErrors", "1"),
    ("production", {"alerts": {"windowMinutes": 0}}, "webstack:logs.alerts.windowMinutes", "1"),
    ("production", {"colour": "red"}, "webstack:logs.colour", "allowed keys: enabled, host, retention"),
    ("production", "yes", "webstack:logs", "allowed"),
]


@pytest.mark.parametrize(
    ("stack", "logs", "key", "words"), BAD, ids=[f"{s}:{k}:{i}" for i, (s, _, k, _) in enumerate(BAD)]
)
def test_a_bad_value_is_refused_naming_the_stack_the_key_and_what_is_allowed(
    stack: str, logs: Any, key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as error:
        _load(stack, logs)
    assert error.value.keys == [key], str(error.value)  # one problem, this key
    assert f"stack '{stack}'" in str(error.value)
    (problem,) = error.value.problems
    assert "allowed" in problem.detail, problem.detail
    assert words in problem.detail, problem.detail


def test_disabled_logs_are_not_checked_further() -> None:
    config = _load("production", {"enabled": False, "port": 9090})
    assert not config.logs.effective(config.platform)
    _load("production-k8s", {"enabled": False})


# --- the pure renderers ------------------------------------------------------------------------


def test_the_shipper_of_a_host() -> None:
    config = _load("production", None)
    spec = shipper_spec(config, "production", "app-1", "10.210.0.16", journal=True)
    assert spec.store_url == f"http://10.210.0.16:{LOG_STORE_PORT}" and spec.buffer_mb == 1024 and spec.journal
    text = render_shipper_conf(spec)
    assert 'set("app-1" value("host"));' in text and 'set("production" value("stack")' in text
    assert f'url("{insert_url(spec.store_url)}")' in text
    assert 'base-dir("/var/lib/docker/containers")' in text and 'dir("/var/lib/syslog-ng")' in text
    assert render_shipper_conf(spec) == text  # deterministic
    assert text.splitlines()[0] == "@version: 3.38"  # syslog-ng wants it alone on the first line
    assert "flags(flow-control);" in text  # a full buffer pauses reading, never drops
    # Docker's folders polled, not watched: inotify instances run out on a host with many
    # containers (the fleet's hosts share one kernel's 128 and ran out).
    assert 'monitor-method("poll")' in text
    local = render_shipper_conf(ShipperSpec(host="local", stack="local", store_url="http://log-store:9428"))
    assert "systemd-journal" not in local  # no journal in a container on the local engine


def test_insert_url_names_the_stream_fields() -> None:
    assert STREAM_FIELDS == ("host", "stack", "service", "replica")
    assert insert_url("http://10.0.0.5:9428/") == (
        "http://10.0.0.5:9428/insert/jsonline?_stream_fields=host%2Cstack%2Cservice%2Creplica"
        "&_msg_field=_msg&_time_field=_time"
    )
    assert DOCKER_LOG_OPTS["labels"] == "webstack.stack,webstack.service,webstack.replica"


@pytest.mark.parametrize("name", ['a"b', "a b", "", "x\ny"])
def test_names_that_would_break_the_shipper_config_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        render_shipper_conf(ShipperSpec(host=name, stack="production", store_url="http://x:9428"))


@pytest.mark.parametrize("url", ['http://x:9428\n}; destination d { file("/etc/passwd"); };', "x:9428", "http://x"])
def test_a_store_url_that_would_break_the_shipper_config_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="store URL"):
        render_shipper_conf(ShipperSpec(host="app-1", stack="production", store_url=url))


def test_queries() -> None:
    assert errors_query("backend").startswith('_time:1h {service="backend"} (i(error) or ')
    assert '{service="backend",stack="staging"}' in errors_query("backend", stack="staging", since="24h")
    assert (
        request_query("7fe020cd5d4b54b4a48a0382a2bb511c")
        == '_time:1d "7fe020cd5d4b54b4a48a0382a2bb511c" | sort by (_time)'
    )
    with pytest.raises(ValueError):
        request_query('x" or *')


def test_alert_rules_follow_the_config() -> None:
    rules = log_alert_rules(LogAlerts(upstream_errors=7, ssh_auth_failures=11, window_minutes=10))
    assert [r.name for r in rules] == ["UpstreamErrorsInLogs", "SshAuthFailures"]
    assert rules[0].expr.startswith("_time:10m ") and rules[0].expr.endswith("| filter errors:>=7")
    assert rules[1].expr.endswith("| filter failures:>=11")
    document = yaml.safe_load(render_log_alert_rules(rules, interval_s=30))
    (group,) = document["groups"]
    assert (group["type"], group["interval"]) == ("vlogs", "30s")
    assert all(rule["labels"] == {"severity": "warning", "source": "logs"} for rule in group["rules"])
    assert log_alert_rules(LogAlerts(enabled=False)) == []
    assert LogsConfig().vmalert_port == VMALERT_PORT
