"""Exposure policies on hand-built resources."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.exposure_rules import (
    firewall_problems,
    host_firewall_enabled,
    internal_services_not_public,
    production_images_pinned,
)
from tests.policy.helpers import Reports, resource_args, stack_args

CONTAINER = "docker:index/container:Container"


def exposed(props: dict[str, Any], name: str) -> Reports:
    reports = Reports()
    internal_services_not_public(resource_args(CONTAINER, props, name=name), reports)
    return reports


REDIS = {"name": "webstack-production-redis", "command": ["sh", "-c", "exec redis-server /etc/redis/redis.conf"]}


@pytest.mark.parametrize("ip", ["10.0.0.13", "127.0.0.1", "192.168.1.5", "fd00::1"])
def test_private_and_loopback_binds_pass(ip: str) -> None:
    assert not exposed({**REDIS, "ports": [{"internal": 6379.0, "external": 6379.0, "ip": ip}]}, "redis-redis")


@pytest.mark.parametrize("ip", ["0.0.0.0", "::", "", None, "203.0.113.13", "not-an-ip"])
def test_public_binds_fail(ip: str | None) -> None:
    port: dict[str, Any] = {"internal": 6379.0, "external": 6379.0}
    if ip is not None:
        port["ip"] = ip
    reports = exposed({**REDIS, "ports": [port]}, "redis-redis")
    assert "redis publishes container port 6379" in reports.text(), reports.text()
    assert "redis-redis" in reports.text() and "fix:" in reports.text()


@pytest.mark.parametrize(
    ("props", "name"),
    [
        (
            {
                "name": "webstack-p-prometheus",
                "command": ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"],
            },
            "monitoring-prometheus",
        ),
        (
            {"name": "webstack-p-alertmanager", "command": ["--config.file=/etc/alertmanager/alertmanager.yml"]},
            "monitoring-alertmanager",
        ),
        ({"name": "webstack-p-grafana", "envs": ["GF_USERS_ALLOW_SIGN_UP=false"]}, "monitoring-grafana"),
        ({"name": "webstack-p-node-exporter", "command": ["--path.rootfs=/host"]}, "monitoring-node-exporter-app-1"),
        ({"name": "webstack-p-redis-exporter", "envs": ["REDIS_ADDR=redis://redis:6379"]}, "redis-exporter"),
        ({"command": ["sh", "-c", "exec redis-server /data/sentinel.conf --sentinel"]}, "redis-sentinel-data-1"),
    ],
)
def test_every_internal_service_is_covered(props: dict[str, Any], name: str) -> None:
    assert exposed({**props, "ports": [{"internal": 9000.0, "external": 9000.0, "ip": "0.0.0.0"}]}, name)
    assert not exposed({**props, "ports": [{"internal": 9000.0, "external": 9000.0, "ip": "127.0.0.1"}]}, name)


def test_edge_and_apps_may_be_public_but_not_on_internal_ports() -> None:
    edge = {"name": "webstack-production-edge", "command": ["nginx", "-c", "/etc/nginx/webstack/nginx.conf"]}
    assert not exposed({**edge, "ports": [{"internal": 443.0, "external": 443.0, "ip": "0.0.0.0"}]}, "edge-nginx")
    other = {"name": "something"}
    assert exposed({**other, "ports": [{"internal": 6379.0, "external": 6379.0, "ip": "0.0.0.0"}]}, "something")


def test_host_networking_and_unknown_ips() -> None:
    assert "host networking" in exposed({**REDIS, "networkMode": "host"}, "redis-redis").text()
    assert not exposed({**REDIS, "ports": [{"internal": 6379.0, "ip": UNKNOWN_STRING_VALUE}]}, "redis-redis")


# --- firewall -----------------------------------------------------------------------------------------

BOOTSTRAP = """#!/usr/bin/env bash
# Firewall
ufw --force reset >/dev/null
ufw default deny incoming
ufw default allow outgoing
ufw allow 22/tcp
ufw allow 80/tcp
ufw allow 443/tcp
ufw allow from 10.0.0.11
ufw --force enable
iptables -w -F DOCKER-USER
iptables -w -A DOCKER-USER -s 10.0.0.11 -j RETURN
iptables -w -A DOCKER-USER -j DROP
"""


def test_firewall_script_checks() -> None:
    assert firewall_problems(BOOTSTRAP, {22, 80, 443}) == []
    assert "never enables" in " ".join(firewall_problems(BOOTSTRAP.replace("ufw --force enable", ""), {22, 80, 443}))
    assert "no `ufw default deny incoming`" in " ".join(
        firewall_problems(BOOTSTRAP.replace("ufw default deny incoming", ""), {22, 80, 443})
    )
    assert "opens port 6379" in " ".join(firewall_problems(BOOTSTRAP + "ufw allow 6379/tcp\n", {22, 80, 443}))
    assert "allows everything from 0.0.0.0/0" in " ".join(
        firewall_problems(BOOTSTRAP + "ufw allow from 0.0.0.0/0\n", {22, 80, 443})
    )
    assert "disables" in " ".join(firewall_problems(BOOTSTRAP + "ufw disable\n", {22, 80, 443}))
    assert "allows all incoming" in " ".join(
        firewall_problems(BOOTSTRAP + "ufw default allow incoming\n", {22, 80, 443})
    )
    assert firewall_problems(
        "# ufw --force enable\nufw default deny incoming\n# iptables -A DOCKER-USER -j DROP\n", {22}
    ) == [
        "never enables the firewall (`ufw --force enable`)",
        "leaves Docker's published ports open to the world (no final DROP in the DOCKER-USER chain)",
    ]
    assert "Docker's published ports" in " ".join(
        firewall_problems(BOOTSTRAP.replace("-A DOCKER-USER -j DROP", "-A DOCKER-USER -j RETURN"), {22, 80, 443})
    )


def host(
    stdin: Any, *, address: str = "203.0.113.13", provider_host: str | None = None
) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("pulumi:providers:docker", "data-1-docker", {"host": provider_host or f"ssh://deploy@{address}:22"}),
        (
            "command:remote:Command",
            "data-1-bootstrap",
            {"connection": {"host": address, "user": "root"}, "create": "bash -s", "stdin": stdin},
        ),
    ]


def firewall(resources: list[tuple[str, str, dict[str, Any]]], config: dict[str, Any] | None = None) -> Reports:
    reports = Reports()
    host_firewall_enabled(stack_args(resources, config=config), reports)
    return reports


def test_host_firewall_enabled() -> None:
    assert not firewall(host(BOOTSTRAP))
    reports = firewall(host(BOOTSTRAP.replace("ufw --force enable", "")))
    assert "VPS host 203.0.113.13" in reports.text() and "data-1-bootstrap" in reports.text()
    assert reports.urns[0] and reports.urns[0].endswith("data-1-bootstrap")
    missing = firewall(host(BOOTSTRAP)[:1])
    assert "no command on the host sets up its firewall" in missing.text()
    assert not firewall(host(UNKNOWN_STRING_VALUE))
    assert not firewall([("pulumi:providers:docker", "local-docker", {"host": "unix:///var/run/docker.sock"})])
    opened = host(BOOTSTRAP + "ufw allow 8080/tcp\n")
    assert firewall(opened) and not firewall(opened, {"allowedPublicPorts": [22, 80, 443, 8080]})
    assert not firewall(
        host(
            BOOTSTRAP.replace("ufw allow 22/tcp", "ufw allow 2222/tcp"), provider_host="ssh://deploy@203.0.113.13:2222"
        )
    )


def images(ref: str, config: dict[str, Any] | None = None, env: str = "production") -> Reports:
    reports = Reports()
    resources: list[tuple[str, str, dict[str, Any]]] = [
        ("docker:index/remoteImage:RemoteImage", "app-backend-image-app-1", {"name": ref}),
        (CONTAINER, "app-backend-0", {"image": "sha256:" + "b" * 64, "envs": [f"WEBSTACK_ENVIRONMENT={env}"]}),
    ]
    production_images_pinned(stack_args(resources, config=config), reports)
    return reports


def test_production_images_pinned() -> None:
    assert not images("ghcr.io/example/backend:1.4.2")
    reports = images("ghcr.io/example/backend:latest")
    assert "not pinned in production" in reports.text() and reports.urns[0]
    assert not images("ghcr.io/example/backend:latest", env="local")
    assert images("ghcr.io/example/backend:latest", env="local", config={"environment": "production"})
    assert images("app", env="staging", config={"environments": ["production", "staging"]})
    assert not images(UNKNOWN_STRING_VALUE)


def service(name: str, kind: str, port: float, external_ips: list[str] | None = None) -> Reports:
    spec: dict[str, Any] = {"type": kind, "ports": [{"port": port, "targetPort": port}]}
    if external_ips:
        spec["externalIPs"] = external_ips
    reports = Reports()
    internal_services_not_public(
        resource_args("kubernetes:core/v1:Service", {"metadata": {"name": name}, "spec": spec}, name=name), reports
    )
    return reports


def test_kubernetes_services_of_internal_services_stay_in_the_cluster() -> None:
    assert not service("redis", "ClusterIP", 6379.0)
    assert "type LoadBalancer" in service("redis", "LoadBalancer", 6379.0).text()
    assert service("grafana", "NodePort", 3000.0)
    assert service("metrics", "ClusterIP", 9090.0, ["203.0.113.5"])
    assert not service("frontend", "LoadBalancer", 8080.0)
