"""Each component alone under mocks: its children, their key inputs, parenting, secrets, outputs."""

from __future__ import annotations

from typing import Any

import pulumi

from components.app_tier import AppTier, AppTierArgs
from components.backup_job import BackupJob, BackupJobArgs
from components.config import StackConfig, load_stack_config
from components.monitoring_stack import MonitoringStack, MonitoringStackArgs
from components.nginx_edge import NginxEdge, NginxEdgeArgs
from components.redis_cache import RedisCache, RedisCacheArgs
from components.stackfile import read_stack_file
from components.vps_host import VpsHost, VpsHostArgs
from tools.offline import Declared, Secret, reveal, run_program

CONTAINER = "docker:index/container:Container"


def _config(stack: str) -> StackConfig:
    raw, secrets = read_stack_file(stack)
    return load_stack_config(stack, raw, secrets, placeholder_secrets=True)


def _hosts(config: StackConfig, stack: str) -> dict[str, VpsHost]:
    return {
        h.name: VpsHost(h.name, VpsHostArgs(host=h, stack=stack, multi_host=len(config.hosts) > 1))
        for h in config.hosts
    }


def _under(resources: list[Declared], component_type: str) -> list[Declared]:
    return [r for r in resources if r.urn.split("::")[2].split("$")[0] == component_type and r.type != component_type]


def test_vps_host_over_ssh_bootstraps_then_binds_docker() -> None:
    config = _config("staging")
    host_cfg = config.hosts[0]

    def program() -> Any:
        key = pulumi.Output.secret("-----BEGIN OPENSSH PRIVATE KEY-----test")
        host = VpsHost("staging-1", VpsHostArgs(host=host_cfg, stack="staging", ssh_private_key=key))
        return {"network": host.network_name}

    declared, outputs = run_program("staging", program)
    children = _under(declared, "webstack:host:VpsHost")
    by_type = {r.type: r for r in children}
    bootstrap = by_type["command:remote:Command"]
    assert bootstrap.plain_inputs["connection"]["user"] == "root"
    assert isinstance(bootstrap.inputs["connection"], Secret)
    script = bootstrap.plain_inputs["stdin"]
    for needle in (
        "ufw default deny incoming",
        "ufw allow 22/tcp",
        "ufw allow 80/tcp",
        "ufw allow 443/tcp",
        "fail2ban",
        "net.core.somaxconn = 65535",
        "nofile 65536",
        "unattended-upgrades",
        "usermod -aG docker deploy",
    ):
        assert needle in script, needle
    assert by_type["pulumi:providers:docker"].plain_inputs["host"] == "ssh://deploy@203.0.113.20:22"
    assert bootstrap.urn in by_type["pulumi:providers:docker"].dependencies
    assert outputs == {"network": "webstack-staging"}


def test_vps_host_local_skips_bootstrap() -> None:
    config = _config("local")
    declared, _ = run_program("local", lambda: _hosts(config, "local") and None)
    types = sorted(r.type for r in _under(declared, "webstack:host:VpsHost"))
    assert types == ["docker:index/network:Network", "pulumi:providers:docker"]


def test_nginx_edge_alone() -> None:
    config = _config("local")

    def program() -> Any:
        hosts = _hosts(config, "local")
        edge = NginxEdge(
            "edge",
            NginxEdgeArgs(
                config=config,
                stack="local",
                host=hosts["local"],
                upstreams={"backend": ["b-0:8000"], "frontend": ["f-0:8000"]},
            ),
        )
        return {"url": edge.url, "conf": edge.nginx_conf}

    declared, outputs = run_program("local", program)
    children = _under(declared, "webstack:edge:NginxEdge")
    nginx = next(r for r in children if r.name == "edge-nginx")
    ports = nginx.plain_inputs["ports"]
    assert {(p["internal"], p["external"], p["ip"]) for p in ports} == {
        (80, 8080, "127.0.0.1"),
        (443, 8443, "127.0.0.1"),
    }
    assert "upstream backend" in outputs["conf"] and "server b-0:8000" in outputs["conf"]
    assert outputs["url"] == "https://localhost:8443"
    reload = next(r for r in children if r.name == "edge-reload")
    assert reload.plain_inputs["create"].endswith("-s reload") and " -t -q && " in reload.plain_inputs["create"]
    assert not any(r.type.startswith("cloudflare") for r in declared)


def test_redis_cache_alone() -> None:
    config = _config("production")

    def program() -> Any:
        redis = RedisCache(
            "redis",
            RedisCacheArgs(config=config, stack="production", hosts=_hosts(config, "production"), platform="docker"),
        )
        return {"url": redis.url, "from-app": redis.url_for("app-1"), "on-host": redis.url_for("data-1")}

    declared, outputs = run_program("production", program)
    assert isinstance(outputs["url"], Secret)
    assert reveal(outputs["from-app"]).endswith("@10.0.0.13:6379/0")
    assert reveal(outputs["on-host"]).endswith("@redis:6379/0")
    containers = [r for r in _under(declared, "webstack:cache:RedisCache") if r.type == CONTAINER]
    primary = next(c for c in containers if c.name == "redis-redis")
    conf = next(u for u in primary.plain_inputs["uploads"] if u["file"] == "/etc/redis/redis.conf")["content"]
    assert "appendonly yes" in conf and "maxmemory 2048mb" in conf and "maxmemory-policy allkeys-lru" in conf
    assert "requirepass" not in conf  # the password comes from the secret env at start
    assert {p["ip"] for p in primary.plain_inputs["ports"]} == {"10.0.0.13"}
    replica = next(c for c in containers if c.name == "redis-redis-replica")
    assert "replicaof 10.0.0.13 6379" in next(u["content"] for u in replica.plain_inputs["uploads"])
    assert len([c for c in containers if "sentinel" in c.name]) == 3


def test_app_tier_alone_spreads_replicas() -> None:
    config = _config("production")

    def program() -> Any:
        app = AppTier(
            "app",
            AppTierArgs(
                config=config,
                stack="production",
                hosts=_hosts(config, "production"),
                platform="docker",
                redis_url_for=lambda host: pulumi.Output.secret(f"redis://:pw-0123456789abcdef@{host}:6379/0"),
            ),
        )
        return {"upstreams": app.upstreams_from("edge-1")}

    declared, outputs = run_program("production", program)
    containers = [r for r in _under(declared, "webstack:app:AppTier") if r.type == CONTAINER]
    backends = [c for c in containers if c.name.startswith("app-backend-")]
    assert len(backends) == 3
    placed = {c.name: p["ip"] for c in backends for p in c.plain_inputs["ports"]}
    assert placed == {"app-backend-0": "10.0.0.11", "app-backend-1": "10.0.0.12", "app-backend-2": "10.0.0.11"}
    for container in backends:
        inputs = container.plain_inputs
        assert inputs["user"] == "10001:10001"
        assert inputs["capabilities"]["drops"] == ["ALL"]
        assert inputs["healthcheck"]["tests"][1].count("/health") >= 1
        assert inputs["wait"] is True
        assert "name" not in container.inputs or not container.inputs.get(
            "name"
        )  # provider-named: create before delete
        env = reveal(container.inputs["envs"])
        assert any(e.startswith("REDIS_URL=redis://:pw-") and "@app-" in e for e in env)
    assert len(outputs["upstreams"]["backend"]) == 3


def test_monitoring_and_backup_alone() -> None:
    config = _config("local")

    def program() -> Any:
        hosts = _hosts(config, "local")
        monitoring = MonitoringStack(
            "monitoring", MonitoringStackArgs(config=config, stack="local", hosts=hosts, platform="docker")
        )
        backup = BackupJob(
            "backup",
            BackupJobArgs(
                config=config,
                stack="local",
                hosts=hosts,
                platform="docker",
                redis_address="redis:6379",
                redis_password=pulumi.Output.secret("pw-0123456789abcdef"),
                volumes={v: monitoring.volumes[v].name for v in config.backup.volumes},
            ),
        )
        return {
            "grafana": monitoring.grafana_admin_password,
            "prometheus": monitoring.prometheus_config,
            "restore": backup.restore_command,
        }

    declared, outputs = run_program("local", program)
    assert isinstance(outputs["grafana"], Secret)
    assert "job_name: node" in outputs["prometheus"]
    assert outputs["restore"].startswith("docker exec -it webstack-local-backup")
    containers = {r.name: r for r in declared if r.type == CONTAINER}
    for name in ("monitoring-prometheus", "monitoring-alertmanager", "monitoring-grafana"):
        assert {p["ip"] for p in containers[name].plain_inputs["ports"]} == {"127.0.0.1"}
    runner = containers["backup-runner"].plain_inputs
    files = {u["file"]: u["content"] for u in runner["uploads"]}
    assert "0 2 * * *" in files["/etc/webstack-backup/crontabs/root"]
    assert "restic" in files["/etc/webstack-backup/backup.sh"]
    assert {v["containerPath"] for v in runner["volumes"]} >= {"/volumes/grafana", "/volumes/prometheus", "/textfile"}
