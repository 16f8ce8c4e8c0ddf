"""The log store and vmalert under `internal-services-not-public`, the rule Prometheus is under.

The containers' commands are the renderer's own (components/render/logs.py), so the policy
recognizes what the component will really pass.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.render.logs import LogStoreSpec, victorialogs_args, vmalert_args
from policy.containers import INTERNAL_PORTS, INTERNAL_ROLES, role
from policy.exposure_rules import internal_services_not_public
from tests.policy.helpers import Reports, resource_args
from tools.offline import run_offline

CONTAINER = "docker:index/container:Container"
STORE = {"name": "webstack-production-log-store", "command": victorialogs_args(LogStoreSpec(retention="30d"))}
VMALERT = {
    "name": "webstack-production-vmalert",
    "command": vmalert_args(store_url="http://log-store:9428", alertmanager_url="http://alertmanager:9093"),
}


def exposed(props: dict[str, Any], ip: str | None, internal: float, name: str = "logs") -> Reports:
    port: dict[str, Any] = {"internal": internal, "external": internal}
    if ip is not None:
        port["ip"] = ip
    reports = Reports()
    internal_services_not_public(resource_args(CONTAINER, {**props, "ports": [port]}, name=name), reports)
    return reports


def test_the_renderers_commands_are_recognized() -> None:
    assert role(STORE, "monitoring-log-store") == "log-store"
    assert role(VMALERT, "monitoring-vmalert") == "vmalert"
    # Whatever the component names them, and before the app rule (every container gets the
    # webstack.service label so that its lines carry the service).
    labelled = {"labels": [{"label": "webstack.service", "value": "log-store"}]}
    assert role({**STORE, **labelled, "name": "x"}, "x") == "log-store"
    assert {"log-store", "vmalert"} <= INTERNAL_ROLES and {9428, 8880} <= INTERNAL_PORTS


@pytest.mark.parametrize("props", [STORE, VMALERT], ids=["store", "vmalert"])
@pytest.mark.parametrize("ip", ["10.210.0.14", "127.0.0.1", "fd00::14"])
def test_private_and_loopback_binds_pass(props: dict[str, Any], ip: str) -> None:
    assert not exposed(props, ip, 9428.0)


@pytest.mark.parametrize(("props", "what"), [(STORE, "log-store"), (VMALERT, "vmalert")], ids=["store", "vmalert"])
@pytest.mark.parametrize("ip", ["0.0.0.0", "::", None, "203.0.113.14"])
def test_public_binds_fail_like_prometheus(props: dict[str, Any], what: str, ip: str | None) -> None:
    text = exposed(props, ip, 9428.0, name="monitoring-logs").text()
    assert f"{what} publishes container port 9428" in text and "fix:" in text, text


@pytest.mark.parametrize("port", [9428.0, 8880.0])
def test_the_ports_are_internal_whoever_publishes_them(port: float) -> None:
    other = {"name": "something", "command": ["/bin/sleep", "infinity"]}
    assert "internal service publishes container port" in exposed(other, "0.0.0.0", port).text()


def test_host_networking_is_refused() -> None:
    reports = Reports()
    internal_services_not_public(resource_args(CONTAINER, {**STORE, "networkMode": "host"}, name="logs"), reports)
    assert "log-store uses host networking" in reports.text()


def test_kubernetes_services_of_the_store_stay_in_the_cluster() -> None:
    for name in ("victoria-logs", "vmalert"):
        spec = {"type": "LoadBalancer", "ports": [{"port": 9428.0, "targetPort": 9428.0}]}
        reports = Reports()
        internal_services_not_public(
            resource_args("kubernetes:core/v1:Service", {"metadata": {"name": name}, "spec": spec}, name=name), reports
        )
        assert "type LoadBalancer" in reports.text(), name


@pytest.mark.parametrize("stack", ["local", "production"])
def test_every_container_of_a_stack_keeps_its_role_now_that_all_carry_the_service_label(stack: str) -> None:
    """Every container is labelled with its service (its log lines are found by it); only the
    app tier's replicas may be read as apps, and the shipper is recognized as what it is."""
    containers = run_offline(stack).of_type(CONTAINER)
    roles = {c.name: role(c.plain_inputs, c.name) for c in containers}
    services = {c.name: label_value(c.plain_inputs, "webstack.service") for c in containers}
    assert all(services.values()), services
    apps = {name for name, what in roles.items() if what == "app"}
    assert apps == {name for name in roles if name.startswith("app-")}, roles
    assert "other" not in roles.values(), roles
    shippers = {name for name, what in roles.items() if what == "log-shipper"}
    assert shippers and all(services[name] == "log-shipper" for name in shippers)
    assert {"log-store", "vmalert"} <= set(roles.values())


def label_value(props: dict[str, Any], label: str) -> str | None:
    return next((str(item["value"]) for item in props.get("labels") or [] if item["label"] == label), None)
