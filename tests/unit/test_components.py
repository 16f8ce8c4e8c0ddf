"""Each component alone under mocks: its children, their key inputs, parenting, secrets, outputs."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pulumi

from components.app_tier import AppTier, AppTierArgs
from components.backup_job import BackupJob, BackupJobArgs, BackupSecrets
from components.config import StackConfig
from components.config.registry import RegistryConfig
from components.config.stackfile import read_stack_file
from components.load import load_stack_config
from components.monitoring import MonitoringStack, MonitoringStackArgs
from components.nginx_edge import NginxEdge, NginxEdgeArgs, Site
from components.redis_cache import RedisCache, RedisCacheArgs
from components.targets.ssh_identity import SshIdentity
from components.targets.vps_host import VpsHost, VpsHostArgs
from tools.offline import Declared, Secret, reveal, run_program

CONTAINER = "docker:index/container:Container"


def _config(stack: str) -> StackConfig:
    raw, secrets = read_stack_file(stack)
    # The pinned images, whatever scripts/up.sh wrote into a stack file (webstack:imageSource).
    raw = {**raw, "webstack:imageSource": "registry"}
    return load_stack_config(stack, raw, secrets, placeholder_secrets=True)


def _hosts(config: StackConfig, stack: str) -> dict[str, VpsHost]:
    return {
        h.name: VpsHost(h.name, VpsHostArgs(host=h, stack=stack, multi_host=len(config.hosts) > 1))
        for h in config.hosts
    }


def _under(resources: list[Declared], component_type: str) -> list[Declared]:
    return [r for r in resources if r.urn.split("::")[2].split("$")[0] == component_type and r.type != component_type]


def _backup_job(
    config: StackConfig, stack: str, hosts: dict[str, VpsHost], volumes: dict[str, pulumi.Input[str]] | None = None
) -> BackupJob:
    return BackupJob(
        "backup",
        BackupJobArgs(
            backup=config.backup,
            stack=stack,
            target=hosts[config.backup.host or ""],
            image=config.images.backup,
            secrets=BackupSecrets(),
            redis_address="redis:6379",
            redis_password=pulumi.Output.secret("pw-0123456789abcdef"),
            volumes=volumes,
        ),
    )


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
        "iptables -w -A DOCKER-USER -p tcp -m conntrack --ctorigdstport 22 --ctdir ORIGINAL -j RETURN",
        "iptables -w -A DOCKER-USER -j DROP",
        "fail2ban",
        "net.core.somaxconn = 65535",
        "nofile 65536",
        "unattended-upgrades",
        "usermod -aG docker deploy",
    ):
        assert needle in script, needle
    # Not the edge: HTTP and HTTPS stay closed, in ufw and for Docker's published ports.
    assert "ufw allow 80/tcp" not in script and "--ctorigdstport 443" not in script
    assert "certs.d" not in script
    assert by_type["pulumi:providers:docker"].plain_inputs["host"] == "ssh://deploy@203.0.113.20:22"
    assert bootstrap.urn in by_type["pulumi:providers:docker"].dependencies
    assert outputs == {"network": "webstack-staging"}


def test_vps_host_edge_with_private_registry(tmp_path: Path) -> None:
    config = _config("staging")
    ca = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n"
    registry = RegistryConfig(server="10.0.0.5:5000", username="deployer", ca_certificate=ca)
    identity = SshIdentity(key_file=tmp_path / "id", known_hosts=tmp_path / "known_hosts")

    def program() -> Any:
        host = VpsHost(
            "edge-1",
            VpsHostArgs(
                host=config.hosts[0],
                stack="staging",
                ssh_private_key=pulumi.Output.secret("key"),
                ssh_identity=identity,
                public_ports=(80, 443),
                registry=registry,
                registry_password=pulumi.Output.secret("hunter2"),
            ),
        )
        return {"network": host.network_name}

    declared, _ = run_program("staging", program)
    by_type = {r.type: r for r in _under(declared, "webstack:host:VpsHost")}
    script = by_type["command:remote:Command"].plain_inputs["stdin"]
    for port in (80, 443):
        assert f"ufw allow {port}/tcp" in script
        assert f"--ctorigdstport {port} --ctdir ORIGINAL -j RETURN" in script
    assert "/etc/docker/certs.d/10.0.0.5:5000/ca.crt" in script and "MIIBtest" in script
    provider = by_type["pulumi:providers:docker"]
    # A provider's inputs reach the engine JSON-encoded.
    opts = json.loads(provider.plain_inputs["sshOpts"])
    assert opts[:2] == ["-i", str(tmp_path / "id")] and f"UserKnownHostsFile={tmp_path / 'known_hosts'}" in opts
    auth = json.loads(provider.plain_inputs["registryAuth"])
    assert [(a["address"], a["username"], a["password"]) for a in auth] == [("10.0.0.5:5000", "deployer", "hunter2")]
    assert isinstance(provider.inputs["registryAuth"], Secret)


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
                site=Site(
                    edge=config.edge,
                    services=config.services,
                    server_names=config.server_names,
                    domain=config.domain,
                    dns=config.dns,
                ),
                stack="local",
                target=hosts["local"],
                image=config.images.nginx,
                exporter_image=config.images.nginx_exporter,
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
            RedisCacheArgs(
                redis=config.redis,
                stack="production",
                target=_hosts(config, "production"),
                image=config.images.redis,
                exporter_image=config.images.redis_exporter,
                protect_data=True,
                url_host="monitor-1",
            ),
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
                services=config.services,
                environment=config.environment,
                stack="production",
                target=_hosts(config, "production"),
                config_secrets={"razorpayKeySecret": "rzp-secret", "resendApiKey": "re-key"},
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
            "monitoring",
            MonitoringStackArgs(
                monitoring=config.monitoring,
                environment=config.environment,
                stack="local",
                target=hosts,
                images=config.images,
                backups=True,
            ),
        )
        backup = _backup_job(config, "local", hosts, {v: monitoring.volumes[v].name for v in config.backup.volumes})
        return {
            "grafana": monitoring.grafana_admin_password,
            "prometheus": monitoring.prometheus_config,
            "restore": backup.restore_command,
        }

    declared, outputs = run_program("local", program)
    assert isinstance(outputs["grafana"], Secret)
    assert "job_name: node" in outputs["prometheus"]
    assert outputs["restore"].startswith("docker exec webstack-local-backup")
    containers = {r.name: r for r in declared if r.type == CONTAINER}
    for name in ("monitoring-prometheus", "monitoring-alertmanager", "monitoring-grafana"):
        assert {p["ip"] for p in containers[name].plain_inputs["ports"]} == {"127.0.0.1"}
    runner = containers["backup-runner"].plain_inputs
    files = {u["file"]: u["content"] for u in runner["uploads"]}
    assert "0 2 * * *" in files["/etc/webstack-backup/crontabs/root"]
    assert "restic" in files["/etc/webstack-backup/backup.sh"]
    assert {v["containerPath"] for v in runner["volumes"]} >= {"/volumes/grafana", "/volumes/prometheus", "/textfile"}


def test_backup_commands_over_ssh_pass_the_remote_command_as_one_argument() -> None:
    config = _config("staging")

    def program() -> Any:
        hosts = _hosts(config, "staging")
        backup = _backup_job(config, "staging", hosts)
        return {"run": backup.run_now_command, "restore": backup.restore_command}

    _, outputs = run_program("staging", program)
    host = config.hosts[0]
    # What the operator's shell hands ssh: the login, then the remote command line whole.
    run = shlex.split(outputs["run"])
    assert run[:2] == ["ssh", f"deploy@{host.address}"] and len(run) == 3, run
    assert shlex.split(run[2]) == [
        "docker", "exec", "webstack-staging-backup", "sh", "-c",
        ". /run/webstack-backup.env && /etc/webstack-backup/backup.sh",
    ]  # fmt: skip
    restore = shlex.split(outputs["restore"])
    # No terminal asked for: it runs from a script (a drill) as from a shell.
    assert restore[:2] == ["ssh", f"deploy@{host.address}"] and len(restore) == 3, restore
    assert shlex.split(restore[2])[:4] == [
        "docker", "exec", "webstack-staging-backup", "/etc/webstack-backup/restore.sh"
    ]  # fmt: skip
