"""The stack on platform docker: the VpsHosts, then PostgreSQL, Redis, the app tier, the
edge, the log store, monitoring and backups, each given its slice of the config
(slices.py), the hosts it deploys to and the outputs of the others it needs."""

from __future__ import annotations

from typing import Any

import pulumi

from components.app_tier import AppTier
from components.backup_job import BackupJob
from components.config import StackConfig
from components.log_store import LogStore, LogStoreArgs
from components.monitoring import MonitoringStack
from components.nginx_edge import NginxEdge, NginxEdgeArgs
from components.postgres_cluster import PostgresCluster, PostgresClusterArgs
from components.redis_cache import RedisCache
from components.render.logs import LOG_STORE_JOB, VMALERT_JOB, render_log_pipeline_rules
from components.render.postgres import SCRAPE_JOB as POSTGRES_SCRAPE_JOB
from components.stack.outputs import docker_outputs
from components.stack.slices import app_args, backup_args, edge_site, monitoring_args, redis_args, secret
from components.targets.containers import Endpoint
from components.targets.ssh_identity import write_ssh_identity
from components.targets.vps_host import VpsHost, VpsHostArgs


def build_hosts_stack(config: StackConfig, stack: str) -> dict[str, Any]:
    """Every component on the VPS hosts, each given its slice (slices.py) and its hosts."""
    hosts = declare_hosts(config, stack)
    postgres = declare_postgres(config, stack, hosts)
    redis, app = declare_services(config, stack, hosts, postgres)
    assert config.edge.host is not None  # validated: required on platform docker
    edge = NginxEdge(
        "edge",
        NginxEdgeArgs(
            site=edge_site(config),
            stack=stack,
            target=hosts[config.edge.host],
            image=config.images.nginx,
            exporter_image=config.images.nginx_exporter,
            upstreams=app.upstreams_from(config.edge.host),
            # One host: nginx reaches replicas by container name, resolved at a reload, so a
            # replica back on another address reloads the edge. Several hosts: the edge reaches
            # published ports on private addresses, which a restart does not move; container
            # addresses there would only be false drift after a host's reboot.
            upstream_addresses=None if hosts[config.edge.host].multi_host else app.replica_addresses(),
            cloudflare_api_token=secret(config, "cloudflareApiToken"),
            tls_certificate=config.secret("tlsCertificate"),
            tls_private_key=config.secret("tlsPrivateKey"),
        ),
    )
    logs = declare_logs(config, stack, hosts)
    monitoring = declare_monitoring(
        config, stack, hosts, redis, app, edge_exporters=[edge.exporter], postgres=postgres, logs=logs
    )
    backup = declare_backup(config, stack, hosts, redis, monitoring, postgres)
    return docker_outputs(
        config,
        stack,
        hosts=hosts,
        edge=edge,
        app=app,
        redis=redis,
        monitoring=monitoring,
        backup=backup,
        postgres=postgres,
        logs=logs,
    )


def declare_hosts(config: StackConfig, stack: str) -> dict[str, VpsHost]:
    multi_host = len(config.hosts) > 1
    key = config.secret("sshPrivateKey")
    ssh_key = pulumi.Output.secret(key) if key is not None else None
    identity = write_ssh_identity(stack, key) if key is not None else None
    password = config.secret("registryPassword")
    peers = [h.internal_address for h in config.hosts]
    edge_ports = (config.edge.http_port, config.edge.https_port)
    return {
        h.name: VpsHost(
            h.name,
            VpsHostArgs(
                host=h,
                stack=stack,
                ssh_private_key=ssh_key,
                ssh_identity=identity,
                private_peers=[p for p in peers if p != h.internal_address] if multi_host else [],
                public_ports=edge_ports if h.name == config.edge.host else (),
                multi_host=multi_host,
                registry=config.registry,
                registry_password=pulumi.Output.secret(password) if password is not None else None,
            ),
        )
        for h in config.hosts
    }


def declare_postgres(config: StackConfig, stack: str, hosts: dict[str, VpsHost]) -> PostgresCluster | None:
    pg = config.postgres
    if pg is None:
        return None
    return PostgresCluster(
        "postgres",
        PostgresClusterArgs(
            postgres=pg,
            stack=stack,
            image=config.images.postgres,
            hosts={name: hosts[name] for name in (pg.host, pg.standby_host) if name is not None},
            client_hosts=list(hosts.values()),
            protect=config.postgres_protected,
            pooled_hosts=[hosts[name] for name in config.pooled_hosts()],
        ),
    )


def declare_logs(config: StackConfig, stack: str, hosts: dict[str, VpsHost]) -> LogStore | None:
    """The log store, vmalert and a shipper on every host, when webstack:logs is on."""
    logs = config.logs
    if not logs.effective(config.platform):
        return None
    monitoring_host = config.monitoring.host
    store_host = logs.store_host(monitoring_host)
    assert monitoring_host is not None and store_host is not None  # validated: required on platform docker
    return LogStore(
        "logs",
        LogStoreArgs(
            logs=logs,
            stack=stack,
            store_image=config.images.victorialogs,
            vmalert_image=config.images.vmalert,
            shipper_image=config.images.syslog_ng,
            store_host=hosts[store_host],
            monitoring_host=hosts[monitoring_host],
            hosts=list(hosts.values()),
        ),
    )


def declare_services(
    config: StackConfig, stack: str, hosts: dict[str, VpsHost], postgres: PostgresCluster | None = None
) -> tuple[RedisCache, AppTier]:
    redis = RedisCache("redis", redis_args(config, stack, hosts))
    app = AppTier(
        "app", app_args(config, stack, hosts, redis, database_url_for=postgres.url_for if postgres else None)
    )
    return redis, app


def declare_monitoring(
    config: StackConfig,
    stack: str,
    hosts: dict[str, VpsHost],
    redis: RedisCache,
    app: AppTier,
    *,
    edge_exporters: list[Endpoint],
    postgres: PostgresCluster | None = None,
    logs: LogStore | None = None,
) -> MonitoringStack:
    """Prometheus and friends, scraping the edge's exporters, Redis's, PostgreSQL's, the log
    pipeline's and every app replica."""
    targets = {"nginx": edge_exporters} if edge_exporters else {}
    targets["redis"] = [redis.exporter]
    if postgres is not None:
        targets[POSTGRES_SCRAPE_JOB] = postgres.exporters
    rule_files: dict[str, str] = {}
    if logs is not None:
        targets[LOG_STORE_JOB] = [logs.store]
        targets[VMALERT_JOB] = [logs.vmalert]
        rule_files["logs.rules.yml"] = render_log_pipeline_rules()
    labels: dict[str, dict[str, str]] = {}
    paths: dict[str, str] = {}
    for service_name, endpoints in app.metrics.items():
        if endpoints:
            job = f"app-{service_name}"
            targets[job] = endpoints
            labels[job] = {"service": service_name}
            paths[job] = config.services[service_name].metrics_path or "/metrics"
    return MonitoringStack(
        "monitoring",
        monitoring_args(
            config, stack, hosts, targets=targets, target_labels=labels, metrics_paths=paths, rule_files=rule_files
        ),
    )


def declare_backup(
    config: StackConfig,
    stack: str,
    hosts: dict[str, VpsHost],
    redis: RedisCache,
    monitoring: MonitoringStack,
    postgres: PostgresCluster | None = None,
) -> BackupJob | None:
    if not config.backup.enabled:
        return None
    assert config.backup.host is not None  # validated: required on platform docker
    database_url = None
    if postgres is not None and config.backup.database == "postgres":
        # The first database, straight to the primary: pg_dump wants a session, not a pool.
        database_url = postgres.url_for(config.backup.host or "", "primary", pooled=False)
    return BackupJob(
        "backup",
        backup_args(
            config,
            stack,
            hosts[config.backup.host],
            redis_address=redis.address_for(config.backup.host) if config.backup.redis else None,
            redis_password=redis.password,
            redis_sentinels=redis.sentinels,
            redis_sentinel_master=redis.sentinel_master,
            volumes={v: monitoring.volumes[v].name for v in config.backup.volumes},
            database_url=database_url,
        ),
    )


