"""The stack outputs' values: the contract of `components/outputs.py` (docs/outputs.md),
filled from the config and the components on either platform, the same keys on both."""

from __future__ import annotations

from typing import Any

import pulumi

from components.app_tier import AppTier
from components.backup_job import BackupJob
from components.capacity import capacity_report
from components.config import StackConfig
from components.log_store import LogStore
from components.monitoring import MonitoringStack
from components.nginx_edge import NginxEdge
from components.postgres_cluster import PostgresCluster
from components.redis_cache import RedisCache
from components.targets import Hosts


def docker_outputs(
    config: StackConfig,
    stack: str,
    *,
    hosts: Hosts,
    edge: NginxEdge,
    app: AppTier,
    redis: RedisCache,
    monitoring: MonitoringStack,
    backup: BackupJob | None,
    postgres: PostgresCluster | None = None,
    logs: LogStore | None = None,
) -> dict[str, Any]:
    """The outputs contract (documented in docs/outputs.md, pinned by a test)."""
    roles = config.roles()
    base = edge.url
    api_paths = [s.path for s in config.services.values() if s.kind == "api"]
    return {
        "environment": config.environment,
        "endpoints": {
            "url": base,
            "health": f"{base}/health",
            "api": f"{base}{api_paths[0]}" if api_paths else None,
            "http": f"http://{config.server_names[0]}"
            + ("" if config.edge.http_port == 80 else f":{config.edge.http_port}"),
        },
        "edge": {
            "host": config.edge.host,
            "publicAddress": edge.public_address,
            "bindAddress": config.edge.bind_address,
            "httpPort": config.edge.http_port,
            "httpsPort": config.edge.https_port,
            "serverNames": config.server_names,
            "certificate": config.edge.certificate,
        },
        "dns": dns_outputs(config, edge),
        "hosts": [
            {
                "name": h.name,
                "address": h.address,
                "internalAddress": h.internal_address,
                "connection": h.connection,
                "roles": roles[h.name],
                "network": hosts[h.name].network_name,
            }
            for h in config.hosts
        ],
        "services": {
            name: {
                "image": s.image,
                "replicas": s.replicas,
                "path": s.path,
                "hosts": s.hosts,
                "upstreams": pulumi.Output.all(*[e.from_host(config.edge.host or "") for e in app.replicas[name]]),
            }
            for name, s in sorted(config.services.items())
        },
        "redis": {
            "host": config.redis.host,
            "port": config.redis.port,
            "replicaHost": config.redis.replica_host,
            "sentinels": redis.sentinels,
            "sentinelMaster": redis.sentinel_master,
            "dataProtected": config.redis_protected,
        },
        "redisUrl": redis.url,
        "postgres": postgres_outputs(config, postgres),
        "monitoring": {
            "host": config.monitoring.host,
            "prometheusUrl": monitoring.prometheus_url,
            "alertmanagerUrl": monitoring.alertmanager_url,
            "grafanaUrl": monitoring.grafana_url,
            "tunnelCommand": monitoring.tunnel_command,
        },
        "grafanaAdminPassword": monitoring.grafana_admin_password,
        "logs": logs_outputs(config, logs),
        "backup": backup_outputs(config, backup, host=config.backup.host),
        **capacity_outputs(config),
    }


def postgres_outputs(config: StackConfig, postgres: PostgresCluster | None) -> dict[str, Any]:
    """Where the database is; no credentials (services get their URLs as secret env)."""
    pg = config.postgres
    if pg is None or postgres is None:
        return {
            "enabled": False,
            "host": None,
            "standbyHost": None,
            "port": None,
            "pgbouncerPort": None,
            "databases": [],
            "dataProtected": False,
            "psqlCommand": None,
        }
    return {
        "enabled": True,
        "host": pg.host,
        "standbyHost": pg.standby_host,
        "port": pg.port,
        "pgbouncerPort": pg.pgbouncer.port if pg.pgbouncer_enabled and pg.pgbouncer else None,
        "databases": [{"name": d.name, "owner": d.owner} for d in pg.databases],
        "dataProtected": config.postgres_protected,
        "psqlCommand": postgres.psql_command,
    }


def logs_outputs(config: StackConfig, logs: LogStore | None) -> dict[str, Any]:
    """Where the logs are searched (docs/logs.md): the store's web UI through the tunnel."""
    if logs is None:
        return {"enabled": False, "host": None, "uiUrl": None, "tunnelCommand": None, "retention": None}
    return {
        "enabled": True,
        "host": config.logs.store_host(config.monitoring.host),
        "uiUrl": logs.ui_url,
        "tunnelCommand": logs.tunnel_command,
        "retention": config.logs.retention,
    }



def kubernetes_outputs(
    config: StackConfig,
    stack: str,
    *,
    edge: NginxEdge,
    app: AppTier,
    redis: RedisCache,
    monitoring: MonitoringStack,
    backup: BackupJob | None,
) -> dict[str, Any]:
    """The outputs contract on platform kubernetes: the same keys as on docker (docs/outputs.md).

    No hosts (the cluster's nodes are not the program's); the edge's host is the ingress
    class; upstreams and Redis' host are Service DNS names; monitoring and backup name
    the namespace as their host, and their commands are kubectl's.
    """
    assert config.kubernetes is not None
    k8s_cfg = config.kubernetes
    base = edge.url
    api_paths = [s.path for s in config.services.values() if s.kind == "api"]
    return {
        "environment": config.environment,
        "endpoints": {
            "url": base,
            "health": f"{base}/health",
            "api": f"{base}{api_paths[0]}" if api_paths else None,
            "http": f"http://{config.server_names[0]}",
        },
        "edge": {
            "host": k8s_cfg.ingress_class,
            "publicAddress": edge.public_address,
            "bindAddress": None,
            "httpPort": 80,
            "httpsPort": 443,
            "serverNames": config.server_names,
            "certificate": config.edge.certificate,
        },
        "dns": dns_outputs(config, edge),
        "hosts": [],
        "services": {
            name: {
                "image": s.image,
                "replicas": s.autoscale.min_replicas if s.autoscale else s.replicas,
                "path": s.path,
                "hosts": [],
                "upstreams": [app.service_addresses[name]],
            }
            for name, s in sorted(config.services.items())
        },
        "redis": {
            "host": redis.host,
            "port": config.redis.port,
            "replicaHost": None,
            "sentinels": [],
            "sentinelMaster": None,
            "dataProtected": config.redis_protected,
        },
        "redisUrl": redis.url,
        "postgres": postgres_outputs(config, None),  # refused on platform kubernetes for now
        "monitoring": {
            "host": k8s_cfg.namespace,
            "prometheusUrl": monitoring.prometheus_url,
            "alertmanagerUrl": monitoring.alertmanager_url,
            "grafanaUrl": monitoring.grafana_url,
            "tunnelCommand": monitoring.tunnel_command,
        },
        "grafanaAdminPassword": monitoring.grafana_admin_password,
        "logs": logs_outputs(config, None),  # refused on platform kubernetes: the cluster collects its own
        "backup": backup_outputs(config, backup, host=k8s_cfg.namespace),
        **capacity_outputs(config),
    }


def capacity_outputs(config: StackConfig) -> dict[str, Any]:
    """`capacity` (per host: placed and available) and `monthlyCost` (per host, total, budget):
    the same figures the config loader checked (components/capacity/)."""
    report = capacity_report(config)
    return {"capacity": report.capacity_output(), "monthlyCost": report.cost_output()}


def dns_outputs(config: StackConfig, edge: NginxEdge) -> dict[str, Any]:
    """The Cloudflare records in front of the edge (the same on both platforms)."""
    return {
        "enabled": config.dns.enabled,
        "records": [r.name for r in edge.dns_records],
        "proxied": config.dns.proxied if config.dns.enabled else False,
    }


def backup_outputs(config: StackConfig, backup: BackupJob | None, *, host: str | None) -> dict[str, Any]:
    """Where the backups go and the operator's commands; `host` is the backup host (docker)
    or the namespace (kubernetes)."""
    return {
        "enabled": backup is not None,
        "host": host,
        "repository": config.backup.repository,
        "offsite": config.backup.offsite,
        "schedule": config.backup.schedule,
        "retention": config.backup.retention.model_dump(by_alias=True),
        "restoreCommand": backup.restore_command if backup else None,
        "runNowCommand": backup.run_now_command if backup else None,
        "drillCommand": backup.drill_command if backup else None,
        "drillRecordsCommand": backup.drill_records_command if backup else None,
    }
