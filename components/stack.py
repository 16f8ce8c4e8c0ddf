"""The whole stack: hosts (or the cluster), then Redis, the app tier, the edge, monitoring
and backups.

`build_stack` declares every resource of a validated config and returns the stack
outputs (the contract in `components/outputs.py`, the same keys on both platforms);
`__main__.py` only exports them.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.app_tier import AppTier, AppTierArgs
from components.backup_job import BackupJob, BackupJobArgs
from components.capacity import capacity_report
from components.config import StackConfig
from components.log_store import LogStore, LogStoreArgs
from components.monitoring_stack import MonitoringStack, MonitoringStackArgs
from components.nginx_edge import NginxEdge, NginxEdgeArgs
from components.postgres_cluster import PostgresCluster, PostgresClusterArgs
from components.redis_cache import RedisCache, RedisCacheArgs
from components.render import kubernetes as manifests
from components.render.logs import LOG_STORE_JOB, VMALERT_JOB, render_log_pipeline_rules
from components.render.postgres import SCRAPE_JOB as POSTGRES_SCRAPE_JOB
from components.targets.cluster import KubernetesCluster, KubernetesClusterArgs
from components.targets.containers import Endpoint
from components.targets.ssh_identity import write_ssh_identity
from components.targets.vps_host import VpsHost, VpsHostArgs


def build_stack(config: StackConfig, stack: str) -> dict[str, Any]:
    if config.platform == "kubernetes":
        return build_kubernetes_stack(config, stack)
    hosts = declare_hosts(config, stack)
    postgres = declare_postgres(config, stack, hosts)
    redis, app = declare_services(config, stack, hosts, postgres)
    token = config.secret("cloudflareApiToken")
    assert config.edge.host is not None  # validated: required on platform docker
    edge = NginxEdge(
        "edge",
        NginxEdgeArgs(
            config=config,
            stack=stack,
            host=hosts[config.edge.host],
            upstreams=app.upstreams_from(config.edge.host),
            upstream_addresses=app.replica_addresses(),
            cloudflare_api_token=pulumi.Output.secret(token) if token is not None else None,
        ),
    )
    logs = declare_logs(config, stack, hosts)
    monitoring = declare_monitoring(
        config, stack, hosts, redis, app, edge_exporters=[edge.exporter], postgres=postgres, logs=logs
    )
    backup = declare_backup(config, stack, hosts, redis, monitoring, postgres)
    return stack_outputs(
        config,
        stack,
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
    redis = RedisCache("redis", RedisCacheArgs(config=config, stack=stack, hosts=hosts, platform=config.platform))
    app = AppTier(
        "app",
        AppTierArgs(
            config=config,
            stack=stack,
            hosts=hosts,
            platform=config.platform,
            redis_url_for=redis.url_for,
            redis_sentinels=redis.sentinels,
            redis_sentinel_master=redis.sentinel_master,
            database_url_for=postgres.url_for if postgres else None,
        ),
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
        MonitoringStackArgs(
            config=config,
            stack=stack,
            hosts=hosts,
            platform=config.platform,
            targets=targets,
            target_labels=labels,
            metrics_paths=paths,
            rule_files=rule_files,
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
    database_url = None
    if postgres is not None and config.backup.database == "postgres":
        # The first database, straight to the primary: pg_dump wants a session, not a pool.
        database_url = postgres.url_for(config.backup.host or "", "primary", pooled=False)
    return BackupJob(
        "backup",
        BackupJobArgs(
            config=config,
            stack=stack,
            hosts=hosts,
            platform=config.platform,
            redis_address=redis.address_for(config.backup.host or "") if config.backup.redis else None,
            redis_password=redis.password,
            redis_sentinels=redis.sentinels,
            redis_sentinel_master=redis.sentinel_master,
            volumes={v: monitoring.volumes[v].name for v in config.backup.volumes},
            database_url=database_url,
        ),
    )


def stack_outputs(
    config: StackConfig,
    stack: str,
    *,
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
        "dns": {
            "enabled": config.dns.enabled,
            "records": [r.name for r in edge.dns_records],
            "proxied": config.dns.proxied if config.dns.enabled else False,
        },
        "hosts": [
            {
                "name": h.name,
                "address": h.address,
                "internalAddress": h.internal_address,
                "connection": h.connection,
                "roles": roles[h.name],
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
        "backup": {
            "enabled": backup is not None,
            "host": config.backup.host,
            "repository": config.backup.repository,
            "offsite": config.backup.offsite,
            "schedule": config.backup.schedule,
            "retention": config.backup.retention.model_dump(by_alias=True),
            "restoreCommand": backup.restore_command if backup else None,
            "runNowCommand": backup.run_now_command if backup else None,
            "drillCommand": backup.drill_command if backup else None,
            "drillRecordsCommand": backup.drill_records_command if backup else None,
        },
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


def _secret(config: StackConfig, key: str) -> pulumi.Output[str] | None:
    value = config.secret(key)
    return pulumi.Output.secret(value) if value is not None else None


def build_kubernetes_stack(config: StackConfig, stack: str) -> dict[str, Any]:
    """The same components on an existing cluster: the KubernetesCluster (provider,
    namespace) in place of the VpsHosts, the ingress controller in place of nginx."""
    assert config.kubernetes is not None  # validated: required on platform kubernetes
    cluster = KubernetesCluster(
        "cluster",
        KubernetesClusterArgs(kubernetes=config.kubernetes, stack=stack, kubeconfig=_secret(config, "kubeconfig")),
    )
    platform = config.platform
    redis = RedisCache(
        "redis", RedisCacheArgs(config=config, stack=stack, hosts={}, platform=platform, cluster=cluster)
    )
    app = AppTier(
        "app",
        AppTierArgs(
            config=config, stack=stack, hosts={}, platform=platform, redis_url_for=redis.url_for, cluster=cluster
        ),
    )
    edge = NginxEdge(
        "edge",
        NginxEdgeArgs(
            config=config,
            stack=stack,
            host=None,
            upstreams=None,
            cloudflare_api_token=_secret(config, "cloudflareApiToken"),
            platform=platform,
        ),
    )
    scraped = [
        manifests.ScrapeService(
            job=f"app-{name}",
            service=name,
            port="http",
            path=service.metrics_path,
            labels={"service": name},
        )
        for name, service in sorted(config.services.items())
        if service.metrics_path
    ]
    scraped.append(manifests.ScrapeService(job="redis", service="redis", port="metrics"))
    monitoring = MonitoringStack(
        "monitoring",
        MonitoringStackArgs(
            config=config, stack=stack, hosts={}, platform=platform, cluster=cluster, scrape_services=scraped
        ),
    )
    backup: BackupJob | None = None
    if config.backup.enabled:
        backup = BackupJob(
            "backup",
            BackupJobArgs(
                config=config,
                stack=stack,
                hosts={},
                platform=platform,
                redis_address=redis.address_for("") if config.backup.redis else None,
                redis_password=redis.password,
                cluster=cluster,
                pushgateway=monitoring.pushgateway,
            ),
        )
    return kubernetes_outputs(config, stack, edge=edge, app=app, redis=redis, monitoring=monitoring, backup=backup)


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
        "dns": {
            "enabled": config.dns.enabled,
            "records": [r.name for r in edge.dns_records],
            "proxied": config.dns.proxied if config.dns.enabled else False,
        },
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
        "backup": {
            "enabled": backup is not None,
            "host": k8s_cfg.namespace,
            "repository": config.backup.repository,
            "offsite": config.backup.offsite,
            "schedule": config.backup.schedule,
            "retention": config.backup.retention.model_dump(by_alias=True),
            "restoreCommand": backup.restore_command if backup else None,
            "runNowCommand": backup.run_now_command if backup else None,
            "drillCommand": backup.drill_command if backup else None,
            "drillRecordsCommand": backup.drill_records_command if backup else None,
        },
        **capacity_outputs(config),
    }


def capacity_outputs(config: StackConfig) -> dict[str, Any]:
    """`capacity` (per host: placed and available) and `monthlyCost` (per host, total, budget):
    the same figures the config loader checked (components/capacity.py)."""
    report = capacity_report(config)
    return {"capacity": report.capacity_output(), "monthlyCost": report.cost_output()}
