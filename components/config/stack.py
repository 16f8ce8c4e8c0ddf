"""The whole stack config (`StackConfig`): every concern's key, and what is derived from them.

Pure: no Pulumi import. Each concern validates its own keys in its own module; the checks
across concerns are in components/config/checks.py, the loader in components/config/load.py.
Derived here: the server names, each host's roles, the hosts PgBouncer runs on, the services'
database requests, the secret config keys the config needs (`required_secrets`, from
`KNOWN_SECRETS` and the services' secret env) and the secrets' values (`secret`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator

from components.config.backup import BackupConfig
from components.config.backup_drill import longest_gap_minutes
from components.config.base import Environment, Model, Name, Platform, is_dns_host_name
from components.config.capacity import CapacityConfig
from components.config.dns import DnsConfig
from components.config.edge import EdgeConfig
from components.config.hosts import HostConfig
from components.config.images import ImagesConfig, ImageSource
from components.config.kubernetes import KubernetesConfig
from components.config.logs import LogsConfig
from components.config.monitoring import MonitoringConfig
from components.config.postgres import DatabaseRequest, PostgresConfig
from components.config.redis import RedisConfig
from components.config.registry import RegistryConfig
from components.config.services import ServiceConfig

# Secrets that the program itself knows; services may reference further ones by name.
KNOWN_SECRETS: dict[str, str] = {
    "sshPrivateKey": "private key of the deploy user, for SSH to every VPS host",
    "cloudflareApiToken": "Cloudflare API token with DNS, zone settings and rulesets edit on the zone",
    "databaseUrl": "connection URL of the external database (MongoDB Atlas or PostgreSQL)",
    "alertWebhookUrl": "webhook URL that Alertmanager posts alerts to (Slack or similar)",
    "backupPassword": "restic repository password (keep a copy outside Pulumi: without it no restore)",
    "backupAccessKeyId": "access key id for an S3-compatible offsite backup repository",
    "backupSecretAccessKey": "secret access key for an S3-compatible offsite backup repository",
    "backupSshKey": "SSH private key that logs in to the server of an sftp: backup repository",
    "kubeconfig": "kubeconfig of the Kubernetes cluster (platform kubernetes, unless kubernetes.renderToDirectory is set)",
    "registryPassword": "password (or token) of registry.username on the private registry",
    "tlsCertificate": "the edge's certificate chain, PEM (edge.certificate: provided)",
    "tlsPrivateKey": "the private key of tlsCertificate, PEM (edge.certificate: provided)",
}


class StackConfig(Model):
    environment: Environment
    platform: Platform = "docker"
    domain: str
    hosts: list[HostConfig] = Field(default_factory=list)  # at least one on platform docker
    edge: EdgeConfig
    dns: DnsConfig = DnsConfig()
    services: Annotated[dict[Name, ServiceConfig], Field(min_length=1)]
    redis: RedisConfig
    backup: BackupConfig
    monitoring: MonitoringConfig
    images: ImagesConfig = ImagesConfig()
    image_source: ImageSource = "registry"
    registry: RegistryConfig | None = None  # a private registry the hosts log in to
    kubernetes: KubernetesConfig | None = None  # required on platform kubernetes
    capacity: CapacityConfig = CapacityConfig()  # the capacity check and the monthly budget
    postgres: PostgresConfig | None = None  # a PostgreSQL primary, hot standby, PgBouncer
    logs: LogsConfig = LogsConfig()  # the log store and its shippers (components/config/logs.py)
    # Filled by the loader from secret config keys, never from plain values.
    secrets: dict[str, SecretStr] = Field(default_factory=dict, exclude=True)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not is_dns_host_name(value, dotted=True):
            raise ValueError("a DNS domain such as example.com")
        return value

    def host(self, name: str) -> HostConfig:
        return next(h for h in self.hosts if h.name == name)

    @property
    def server_names(self) -> list[str]:
        if self.edge.server_names:
            return self.edge.server_names
        return [self.domain if r == "@" else f"{r}.{self.domain}" for r in self.dns.records]

    @property
    def redis_protected(self) -> bool:
        if self.redis.protect_data is not None:
            return self.redis.protect_data
        return self.environment == "production"

    @property
    def postgres_protected(self) -> bool:
        if self.postgres is not None and self.postgres.protect_data is not None:
            return self.postgres.protect_data
        return self.environment == "production"

    def pooled_hosts(self) -> list[str]:
        """Hosts whose services ask for the primary's URL, in the hosts' order: with
        `postgres.pgbouncer`, a PgBouncer runs on each (their URLs name it)."""
        if self.postgres is None or not self.postgres.pgbouncer_enabled:
            return []
        wanted = {
            host
            for service in self.services.values()
            if any(ref.database == "primary" for ref in service.secret_env.values())
            for host in service.hosts[: service.replicas]
        }
        return [h.name for h in self.hosts if h.name in wanted]

    def database_requests(self) -> list[DatabaseRequest]:
        """Every service's secret env that asks for a URL of webstack:postgres."""
        return [
            DatabaseRequest(f"services.{name}.secretEnv.{env}", ref.database, ref.database_name)
            for name, service in sorted(self.services.items())
            for env, ref in sorted(service.secret_env.items())
            if ref.database is not None
        ]

    def roles(self) -> dict[str, list[str]]:
        """Each host's roles, derived from where the config places each part."""
        roles: dict[str, list[str]] = {h.name: [] for h in self.hosts}

        def add(host: str | None, role: str) -> None:
            if host is not None and role not in roles[host]:
                roles[host].append(role)

        add(self.edge.host, "edge")
        for service in self.services.values():
            for host in service.hosts:
                add(host, "app")
        add(self.redis.host, "redis")
        if self.redis.replica_host:
            add(self.redis.replica_host, "redis-replica")
        for host in self.redis.sentinel_hosts:
            add(host, "redis-sentinel")
        if self.postgres is not None:
            add(self.postgres.host, "postgres")
            if self.postgres.standby_host:
                add(self.postgres.standby_host, "postgres-standby")
        add(self.monitoring.host, "monitoring")
        if self.logs.effective(self.platform):
            add(self.logs.store_host(self.monitoring.host), "logs")
        if self.backup.enabled:
            add(self.backup.host, "backup")
        return roles

    def required_secrets(self) -> dict[str, str]:
        """The secret config keys this config needs, with the reason for each."""
        need: dict[str, str] = {}
        if any(h.connection == "ssh" for h in self.hosts):
            need["sshPrivateKey"] = KNOWN_SECRETS["sshPrivateKey"]
        if self.platform == "kubernetes" and not (self.kubernetes and self.kubernetes.render_to_directory):
            need["kubeconfig"] = KNOWN_SECRETS["kubeconfig"]
        if self.registry is not None:
            need["registryPassword"] = KNOWN_SECRETS["registryPassword"]
        if self.edge.certificate == "provided":
            need["tlsCertificate"] = KNOWN_SECRETS["tlsCertificate"]
            need["tlsPrivateKey"] = KNOWN_SECRETS["tlsPrivateKey"]
        if self.dns.enabled:
            need["cloudflareApiToken"] = KNOWN_SECRETS["cloudflareApiToken"]
        # A database the stack runs itself (webstack:postgres) gives the backup its URL.
        runs_it = self.backup.database == "postgres" and self.postgres is not None
        if self.backup.enabled and self.backup.database != "none" and not runs_it:
            need["databaseUrl"] = KNOWN_SECRETS["databaseUrl"]
        if self.environment != "local":
            need["alertWebhookUrl"] = KNOWN_SECRETS["alertWebhookUrl"]
            if self.backup.enabled:
                need["backupPassword"] = KNOWN_SECRETS["backupPassword"]
        if self.backup.enabled and self.backup.repository.startswith("s3:"):
            need["backupAccessKeyId"] = KNOWN_SECRETS["backupAccessKeyId"]
            need["backupSecretAccessKey"] = KNOWN_SECRETS["backupSecretAccessKey"]
        if self.backup.enabled and self.backup.repository.startswith("sftp:"):
            need["backupSshKey"] = KNOWN_SECRETS["backupSshKey"]
        for name, service in self.services.items():
            for env, ref in service.secret_env.items():
                if ref.config is not None:
                    need.setdefault(ref.config, f"secret env {env} of service {name}")
        return need

    @property
    def drills(self) -> bool:
        """Whether restore drills run (backup.drill.enabled, by default whenever backups do)."""
        return self.backup.drill.effective(self.backup.enabled)

    def drill_max_age_hours(self) -> int:
        """The age past which the last successful drill alerts: the threshold, or the drill
        schedule's longest gap plus a day."""
        configured = self.monitoring.thresholds.drill_max_age_hours
        if configured is not None:
            return configured
        gap = longest_gap_minutes(self.backup.drill.schedule) or 0
        return -(-gap // 60) + 24

    def secret(self, key: str) -> str | None:
        value = self.secrets.get(key)
        return value.get_secret_value() if value is not None else None
