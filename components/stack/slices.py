"""Each component's slice of the stack config, cut the same way on both platforms.

The stack (this package) is the only code that reads the whole `StackConfig`: these
functions hand a component its own section, the images and secrets it needs, and nothing
else; the platform builders (`on_hosts.py`, `on_cluster.py`) add its target and the
outputs of other components.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.app_tier import AppTierArgs
from components.backup_job import BackupJobArgs, BackupSecrets
from components.config import StackConfig
from components.monitoring import MonitoringStackArgs
from components.nginx_edge import Site
from components.redis_cache import RedisCache, RedisCacheArgs
from components.targets import Hosts, KubernetesCluster, VpsHost


def secret(config: StackConfig, key: str) -> pulumi.Output[str] | None:
    """A secret config value as a secret output (None: not set)."""
    value = config.secret(key)
    return pulumi.Output.secret(value) if value is not None else None


def edge_site(config: StackConfig) -> Site:
    return Site(
        edge=config.edge,
        services=config.services,
        server_names=config.server_names,
        domain=config.domain,
        dns=config.dns,
    )


def service_secrets(config: StackConfig) -> dict[str, str]:
    """The values of the secret config keys the services' `secretEnv` names ({config: KEY})."""
    keys = {ref.config for s in config.services.values() for ref in s.secret_env.values() if ref.config is not None}
    return {key: config.secret(key) or "" for key in sorted(keys)}


def backup_secrets(config: StackConfig) -> BackupSecrets:
    return BackupSecrets(
        password=config.secret("backupPassword"),
        database_url=config.secret("databaseUrl"),
        access_key_id=config.secret("backupAccessKeyId"),
        secret_access_key=config.secret("backupSecretAccessKey"),
        ssh_key=config.secret("backupSshKey"),
    )


def drill_max_age_hours(config: StackConfig) -> int | None:
    """The alert rules' drill age (None: no restore drills run)."""
    return config.drill_max_age_hours() if config.backup.enabled and config.drills else None


def redis_args(config: StackConfig, stack: str, target: Hosts | KubernetesCluster) -> RedisCacheArgs:
    return RedisCacheArgs(
        redis=config.redis,
        stack=stack,
        target=target,
        image=config.images.redis,
        exporter_image=config.images.redis_exporter,
        protect_data=config.redis_protected,
        url_host=config.monitoring.host or "",
    )


def app_args(
    config: StackConfig, stack: str, target: Hosts | KubernetesCluster, redis: RedisCache, **others: Any
) -> AppTierArgs:
    """The services, and what they reach: Redis (URL per host, Sentinels), and `others`
    (e.g. `database_url_for` of webstack:postgres)."""
    return AppTierArgs(
        services=config.services,
        environment=config.environment,
        stack=stack,
        target=target,
        config_secrets=service_secrets(config),
        edge=config.edge,
        server_names=config.server_names,
        redis_url_for=redis.url_for,
        redis_sentinels=redis.sentinels,
        redis_sentinel_master=redis.sentinel_master,
        **others,
    )


def monitoring_args(
    config: StackConfig, stack: str, target: Hosts | KubernetesCluster, **scraped: Any
) -> MonitoringStackArgs:
    """Monitoring's section, images and webhook, what its rules cover, and `scraped` (the
    targets other components expose)."""
    return MonitoringStackArgs(
        monitoring=config.monitoring,
        environment=config.environment,
        stack=stack,
        target=target,
        images=config.images,
        alert_webhook_url=config.secret("alertWebhookUrl"),
        backups=config.backup.enabled,
        postgres=config.postgres is not None,
        drill_max_age_hours=drill_max_age_hours(config),
        **scraped,
    )


def backup_args(config: StackConfig, stack: str, target: VpsHost | KubernetesCluster, **reach: Any) -> BackupJobArgs:
    """The backup's section, image and secrets, a drill's scratch sizes, and `reach` (Redis,
    the volumes, the database, the Pushgateway)."""
    return BackupJobArgs(
        backup=config.backup,
        stack=stack,
        target=target,
        image=config.images.backup,
        secrets=backup_secrets(config),
        protect_repository=config.environment == "production",
        redis_maxmemory_mb=config.redis.maxmemory_mb,
        database_dump_gb=config.capacity.database_dump_gb,
        **reach,
    )
