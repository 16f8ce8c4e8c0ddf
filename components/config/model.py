"""The typed stack config: read from `webstack:*` keys, validated before any resource exists.

Pure: no Pulumi import, so the renderers, the offline plan and the tests share it.
`load_stack_config` turns the raw key/value map the engine hands the program (plus the
set of keys that were set as secrets) into a frozen `StackConfig`, or raises one
`ConfigError` that names the stack, each bad key and what is allowed there.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components.capacity import capacity_report
from components.config.backup_drill import DrillConfig, drill_problems, longest_gap_minutes
from components.config.capacity import (
    CapacityConfig,
    Cpus,
    DiskGb,
    MemoryMb,
    PlanName,
    Price,
    host_size_problems,
    plan_problem,
)
from components.config.logs import LogsConfig, logs_problems
from components.config.postgres import (
    PGBOUNCER_PORT,
    POSTGRES_EXPORTER_PORT,
    POSTGRES_PORT,
    DatabaseRequest,
    PostgresConfig,
    SqlName,
    postgres_problems,
)
from components.config.registry import RegistryConfig
from components.config.values import decode_config_value, image_is_pinned

NAMESPACE = "webstack"

Environment = Literal["local", "staging", "production"]
Platform = Literal["docker", "kubernetes"]
EvictionPolicy = Literal[
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
]

Port = Annotated[int, Field(ge=1, le=65535)]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")]
UrlPath = Annotated[str, Field(pattern=r"^/[A-Za-z0-9._~/-]*$")]
EnvName = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")]
SecretKeyName = Annotated[str, Field(pattern=r"^[a-z][A-Za-z0-9]*$")]

DNS_LABEL_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
# A last label that resolvers and URL parsers read as a number (decimal, or 0x hex): such a
# name is an IPv4 address in disguise (300.1.2.3, 10.0.0.256, 0x7f000001), not a host name.
NUMERIC_LABEL_RE = re.compile(r"[0-9]+|0x[0-9a-f]*")
DNS_NAME_RULES = (
    "lowercase labels of letters, digits and '-' joined by '.', each 1 to 63 characters not starting or "
    "ending with '-', at most 253 characters in all, the last label not a number"
)
CRON_FIELD_RE = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")

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


def is_dns_host_name(value: str, *, dotted: bool = False) -> bool:
    """A DNS host name (RFC 1123, and not all-numeric at the end); `dotted`: at least two labels."""
    if not 1 <= len(value) <= 253:
        return False
    labels = value.split(".")
    if dotted and len(labels) < 2:
        return False
    if not all(DNS_LABEL_RE.fullmatch(label) for label in labels):
        return False
    return NUMERIC_LABEL_RE.fullmatch(labels[-1]) is None


def ip_or_host_name(value: str, *, dotted: bool = False) -> str:
    """Validate a host's address: an IP address or a DNS host name (`dotted`: with a domain)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not is_dns_host_name(value, dotted=dotted):
            name = "a DNS host name with a domain" if dotted else "a DNS host name"
            raise ValueError(
                f"an IP address (IPv4 with four parts of 0 to 255, or IPv6) or {name} ({DNS_NAME_RULES})"
            ) from None
    return value


# Kubernetes object names: a DNS-1123 label (namespaces, Secrets, ingress classes).
K8sName = Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


class HostConfig(Model):
    """One machine: a VPS reached over SSH, or the local Docker engine."""

    name: Name
    connection: Literal["ssh", "local"] = "ssh"
    address: str
    private_address: str | None = None
    ssh_user: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")] = "root"
    ssh_port: Port = 22
    deploy_user: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")] = "deploy"
    # What the host has and costs (components/config_capacity.py, docs/capacity.md): a plan of
    # the catalogue (components/plans.yaml), its own figures, or both (own figures win).
    plan: PlanName | None = None
    cpus: Cpus | None = None
    memory_mb: MemoryMb | None = None
    disk_gb: DiskGb | None = None
    monthly_price: Price | None = None

    @field_validator("address", "private_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return value if value is None else ip_or_host_name(value)

    @field_validator("plan")
    @classmethod
    def _plan(cls, value: str | None) -> str | None:
        problem = None if value is None else plan_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @property
    def internal_address(self) -> str:
        """Where other hosts reach this one: the private network when there is one."""
        return self.private_address or self.address


class RateLimit(Model):
    rate: Annotated[int, Field(ge=1, le=100_000)]
    burst: Annotated[int, Field(ge=0, le=100_000)]


class EdgeConfig(Model):
    host: Name | None = None  # required on platform docker, not used on kubernetes
    http_port: Port = 80
    https_port: Port = 443
    bind_address: str = "0.0.0.0"
    server_names: list[str] = Field(default_factory=list)
    # provided: the secrets tlsCertificate and tlsPrivateKey (a certificate of your own CA).
    certificate: Literal["self-signed", "cloudflare-origin", "provided"] = "self-signed"
    api_rate: RateLimit = RateLimit(rate=10, burst=20)
    login_rate: RateLimit = RateLimit(rate=1, burst=5)
    frontend_rate: RateLimit = RateLimit(rate=50, burst=100)
    client_max_body_mb: Annotated[int, Field(ge=1, le=1024)] = 20
    trust_cloudflare: bool = True
    worker_connections: Annotated[int, Field(ge=512, le=65535)] = 4096
    hsts_max_age: Annotated[int, Field(ge=0)] = 31_536_000

    @model_validator(mode="before")
    @classmethod
    def _partial_rates(cls, data: Any) -> Any:
        """`pulumi config set --path webstack:edge.apiRate.burst 30` sets one half of a limit:
        the other half keeps its default instead of becoming a missing key."""
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for field_name in ("api_rate", "login_rate", "frontend_rate"):
            default: RateLimit = cls.model_fields[field_name].default
            for key in (to_camel(field_name), field_name):
                if isinstance(merged.get(key), dict):
                    merged[key] = {**default.model_dump(by_alias=True), **merged[key]}
        return merged

    @model_validator(mode="after")
    def _ports(self) -> EdgeConfig:
        if self.http_port == self.https_port:
            raise ValueError(
                f"different ports for edge.httpPort and edge.httpsPort (both are {self.http_port}; "
                "the edge listens on each, plain HTTP redirecting to HTTPS)"
            )
        return self

    @field_validator("bind_address")
    @classmethod
    def _bind(cls, value: str) -> str:
        ipaddress.ip_address(value)
        return value

    @field_validator("server_names")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not is_dns_host_name(name):
                raise ValueError(f"{name!r} is not a DNS host name ({DNS_NAME_RULES})")
        return value


class DnsConfig(Model):
    enabled: bool = False
    zone_id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")] | None = None
    records: list[Annotated[str, Field(pattern=r"^(@|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$")]] = Field(
        default_factory=lambda: ["@", "www"]
    )
    proxied: bool = True
    rate_limit_per_minute: Annotated[int, Field(ge=10, le=100_000)] = 600

    @model_validator(mode="after")
    def _zone(self) -> DnsConfig:
        if self.enabled and self.zone_id is None:
            raise ValueError("zoneId is required when enabled is true")
        return self


class SecretRef(Model):
    """A secret env value: a secret config key of this stack, generated by pulumi_random, or
    a connection URL of webstack:postgres (its primary or its standby, as a database's owner)."""

    config: SecretKeyName | None = None
    generate: Annotated[int, Field(ge=16, le=128)] | None = None
    database: Literal["primary", "replica"] | None = None
    # Which of postgres.databases (default: the first); only with `database`.
    database_name: SqlName | None = None

    @model_validator(mode="after")
    def _one(self) -> SecretRef:
        if sum(v is not None for v in (self.config, self.generate, self.database)) != 1:
            raise ValueError(
                "exactly one of 'config' (a secret config key), 'generate' (a length) or 'database' "
                "(primary or replica: a URL of webstack:postgres)"
            )
        if self.database_name is not None and self.database is None:
            raise ValueError("'databaseName' only with 'database' (primary or replica)")
        return self


class AutoscaleConfig(Model):
    """A HorizontalPodAutoscaler (platform kubernetes); the defaults are the seeds' (002, 003)."""

    min_replicas: Annotated[int, Field(ge=1, le=1000)] = 3
    max_replicas: Annotated[int, Field(ge=1, le=1000)] = 20
    cpu_percent: Annotated[int, Field(ge=1, le=100)] | None = 70
    memory_percent: Annotated[int, Field(ge=1, le=100)] | None = 80
    scale_up_stabilization_s: Annotated[int, Field(ge=0, le=3600)] = 60
    scale_down_stabilization_s: Annotated[int, Field(ge=0, le=3600)] = 300
    scale_up_percent: Annotated[int, Field(ge=1, le=1000)] = 50  # at most this much more per minute
    scale_down_percent: Annotated[int, Field(ge=1, le=100)] = 25  # at most this much less per minute

    @model_validator(mode="after")
    def _bounds(self) -> AutoscaleConfig:
        if self.max_replicas < self.min_replicas:
            raise ValueError("maxReplicas must be at least minReplicas")
        if self.cpu_percent is None and self.memory_percent is None:
            raise ValueError("at least one of cpuPercent or memoryPercent")
        return self


class ServiceConfig(Model):
    image: Annotated[str, Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9._/:@-]*$")]
    replicas: Annotated[int, Field(ge=1, le=100)]
    port: Port
    hosts: list[Name] = Field(default_factory=list)  # at least one on platform docker; not used on kubernetes
    kind: Literal["api", "frontend"] = "api"
    path: UrlPath = "/"
    login_paths: list[UrlPath] = Field(default_factory=list)
    websocket_path: UrlPath | None = None
    health_path: UrlPath = "/health"
    # How long a new replica may take to pass its first health check before a deploy stops.
    startup_timeout_s: Annotated[int, Field(ge=15, le=900)] = 90
    metrics_path: UrlPath | None = "/metrics"
    env: dict[EnvName, str] = Field(default_factory=dict)
    secret_env: dict[EnvName, SecretRef] = Field(default_factory=dict)
    cpus: Annotated[float, Field(gt=0, le=64)] = 0.5
    memory_mb: Annotated[int, Field(ge=32, le=262_144)] = 512
    user: Annotated[str, Field(pattern=r"^[1-9][0-9]*(:[0-9]+)?$")] = "10001:10001"
    uses_redis: bool = True
    # Platform kubernetes only: a HorizontalPodAutoscaler, and a read-only root file system
    # (with an emptyDir on /tmp) for the apps that allow it.
    autoscale: AutoscaleConfig | None = None
    read_only_root_filesystem: bool = False
    # Several hosts: replica i is published on its host's private address at this + i, the
    # same port across restarts and reboots (the edge's upstreams stay right). Default port + 10000.
    published_port_base: Port | None = None

    def published_port(self, index: int) -> int:
        return (self.published_port_base or self.port + 10_000) + index

    def published_ports(self, index: int) -> tuple[int, int]:
        """The two host ports replica `index` alternates between: a deploy starts its successor
        on the one it does not hold, before stopping it (components/app_tier.py)."""
        first = self.published_port(index)
        return first, first + self.replicas

    @property
    def uid_gid(self) -> tuple[int, int]:
        uid, _, gid = self.user.partition(":")
        return int(uid), int(gid or uid)


class RedisConfig(Model):
    host: Name | None = None  # required on platform docker, not used on kubernetes
    replica_host: Name | None = None
    sentinel_hosts: list[Name] = Field(default_factory=list)
    sentinel_quorum: Annotated[int, Field(ge=1)] = 2
    port: Port = 6379
    maxmemory_mb: Annotated[int, Field(ge=16, le=1_048_576)] = 256
    maxmemory_policy: EvictionPolicy = "allkeys-lru"
    appendonly: bool = True
    appendfsync: Literal["always", "everysec", "no"] = "everysec"
    protect_data: bool | None = None

    @model_validator(mode="after")
    def _sentinels(self) -> RedisConfig:
        if self.sentinel_hosts:
            if self.replica_host is None:
                raise ValueError("sentinelHosts needs a replicaHost to fail over to")
            if len(self.sentinel_hosts) < 3:
                raise ValueError("sentinelHosts needs at least 3 hosts")
            if self.sentinel_quorum > len(self.sentinel_hosts):
                raise ValueError("sentinelQuorum cannot exceed the number of sentinelHosts")
        return self


class RetentionConfig(Model):
    daily: Annotated[int, Field(ge=1, le=3650)] = 7
    weekly: Annotated[int, Field(ge=0, le=520)] = 4
    monthly: Annotated[int, Field(ge=0, le=120)] = 6


class BackupConfig(Model):
    enabled: bool = True
    host: Name | None = None  # required on platform docker, not used on kubernetes
    schedule: str = "0 2 * * *"
    repository: Annotated[str, Field(min_length=1)]
    retention: RetentionConfig = RetentionConfig()
    database: Literal["none", "postgres", "mongodb"] = "none"
    redis: bool = True
    volumes: list[Literal["grafana", "prometheus", "alertmanager"]] = Field(default_factory=list)
    verify_subset: Annotated[str, Field(pattern=r"^([1-9][0-9]?|100)%$")] = "5%"
    drill: DrillConfig = DrillConfig()  # restore drills on a schedule (components/config_backup_drill.py)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != 5 or not all(CRON_FIELD_RE.match(f) for f in fields):
            raise ValueError("a five-field cron expression such as '0 2 * * *'")
        return value

    @field_validator("repository")
    @classmethod
    def _repo(cls, value: str) -> str:
        if not (value.startswith(("/", "s3:", "sftp:", "rest:", "b2:", "azure:", "gs:"))):
            raise ValueError("a restic repository: an absolute path, or s3:, sftp:, rest:, b2:, azure:, gs:")
        return value

    @property
    def offsite(self) -> bool:
        return not self.repository.startswith("/")


class Thresholds(Model):
    """Alert thresholds; the defaults are the seeds' (003 and 004)."""

    error_rate_warning: Annotated[float, Field(gt=0, lt=1)] = 0.01
    error_rate_critical: Annotated[float, Field(gt=0, lt=1)] = 0.05
    latency_p95_warning_s: Annotated[float, Field(gt=0)] = 0.5
    latency_p95_critical_s: Annotated[float, Field(gt=0)] = 1.0
    cpu_warning: Annotated[int, Field(ge=1, le=100)] = 80
    cpu_critical: Annotated[int, Field(ge=1, le=100)] = 90
    memory_warning: Annotated[int, Field(ge=1, le=100)] = 85
    memory_critical: Annotated[int, Field(ge=1, le=100)] = 95
    disk_warning: Annotated[int, Field(ge=1, le=100)] = 85
    disk_critical: Annotated[int, Field(ge=1, le=100)] = 95
    backup_max_age_hours: Annotated[int, Field(ge=1)] = 26
    certificate_expiry_days: Annotated[int, Field(ge=1)] = 14
    # Restore drills (backup.drill): the last successful one may be this old (null: the
    # schedule's longest gap plus a day, 192h for the weekly default); a drill should take no
    # longer than this (seed 000: "can be restored within 4 hours").
    drill_max_age_hours: Annotated[int, Field(ge=1, le=87_600)] | None = None
    drill_max_duration_hours: Annotated[float, Field(gt=0, le=168)] = 4
    # PostgreSQL (webstack:postgres): connections in use, in percent of max_connections (seed
    # 004: "Database Connections > 180 / > 195" of its 200); WAL a standby has not replayed
    # yet, in MiB (not in the seeds).
    postgres_connections_warning: Annotated[float, Field(gt=0, le=100)] = 90
    postgres_connections_critical: Annotated[float, Field(gt=0, le=100)] = 97.5
    postgres_replication_lag_warning_mb: Annotated[int, Field(ge=1, le=1_048_576)] = 64
    postgres_replication_lag_critical_mb: Annotated[int, Field(ge=1, le=1_048_576)] = 1024

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        pairs = [
            ("errorRateWarning", self.error_rate_warning, self.error_rate_critical),
            ("latencyP95WarningS", self.latency_p95_warning_s, self.latency_p95_critical_s),
            ("cpuWarning", self.cpu_warning, self.cpu_critical),
            ("memoryWarning", self.memory_warning, self.memory_critical),
            ("diskWarning", self.disk_warning, self.disk_critical),
            ("postgresConnectionsWarning", self.postgres_connections_warning, self.postgres_connections_critical),
            (
                "postgresReplicationLagWarningMb",
                self.postgres_replication_lag_warning_mb,
                self.postgres_replication_lag_critical_mb,
            ),
        ]
        for name, warning, critical in pairs:
            if warning >= critical:
                raise ValueError(f"{name} must be below its critical threshold")
        return self


class MonitoringConfig(Model):
    host: Name | None = None  # required on platform docker, not used on kubernetes
    scrape_interval_s: Annotated[int, Field(ge=5, le=300)] = 15
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 15
    thresholds: Thresholds = Thresholds()
    prometheus_port: Port = 9090
    alertmanager_port: Port = 9093
    grafana_port: Port = 3000
    # Off where no Grafana image can be had (the local image set has none).
    grafana: bool = True


class ImagesConfig(Model):
    """Images of the infrastructure containers, pinned by tag or digest."""

    nginx: str = "nginx:1.27.3-alpine"
    redis: str = "redis:7.4.1-alpine"
    prometheus: str = "prom/prometheus:v2.55.1"
    alertmanager: str = "prom/alertmanager:v0.27.0"
    grafana: str = "grafana/grafana:11.3.1"
    node_exporter: str = "prom/node-exporter:v1.8.2"
    redis_exporter: str = "oliver006/redis_exporter:v1.66.0"
    nginx_exporter: str = "nginx/nginx-prometheus-exporter:1.3.0"
    # restic with redis-cli, pg_dump and a cron: built from images/backup (see README).
    backup: str = "ghcr.io/example/webstack-backup:0.17.3"
    # Platform kubernetes: receives the backup CronJob's freshness metrics.
    pushgateway: str = "prom/pushgateway:v1.10.0"
    # webstack:postgres: PostgreSQL 15, PgBouncer and the postgres exporter in one image,
    # built from images/postgres (see docs/postgres.md).
    postgres: str = "ghcr.io/example/webstack-postgres:15-0.1.0"
    # webstack:logs (docs/logs.md): the store and its LogsQL rule engine, VictoriaMetrics' own
    # pinned images; the shippers' Debian syslog-ng with its HTTP module, built from images/syslog-ng.
    victorialogs: str = "victoriametrics/victoria-logs:v1.52.1"
    vmalert: str = "victoriametrics/vmalert:v1.151.0"
    syslog_ng: str = "ghcr.io/example/webstack-syslog-ng:3.38-0.1.0"


class StorageConfig(Model):
    """Sizes (GiB) of the PersistentVolumeClaims on platform kubernetes."""

    redis: Annotated[int, Field(ge=1, le=16_384)] = 10
    prometheus: Annotated[int, Field(ge=1, le=16_384)] = 50
    alertmanager: Annotated[int, Field(ge=1, le=16_384)] = 1
    grafana: Annotated[int, Field(ge=1, le=16_384)] = 5
    backup: Annotated[int, Field(ge=1, le=16_384)] = 1  # restic's state between runs (the freshness metrics)


class KubernetesConfig(Model):
    """Where and how the stack runs on an existing cluster (platform kubernetes)."""

    namespace: K8sName = "webstack"
    context: Annotated[str, Field(min_length=1)] | None = None  # a context of the kubeconfig secret
    ingress_class: K8sName = "nginx"
    ingress_controller_namespace: K8sName = "ingress-nginx"
    # The ingress controller's load balancer (IP address or DNS name): Cloudflare points here.
    load_balancer_address: str | None = None
    # A kubernetes.io/tls Secret in the namespace, provided by the operator (see README).
    tls_secret: K8sName = "webstack-tls"
    storage_class: K8sName | None = None
    storage_gi: StorageConfig = StorageConfig()
    # Scrape through ServiceMonitor objects of the Prometheus Operator (its CRDs must be
    # installed) instead of Prometheus' own pod discovery by annotations.
    service_monitor: bool = False
    # Write the manifests to this directory instead of applying them (pulumi-kubernetes
    # renderYamlToDirectory; Secrets land there in plaintext).
    render_to_directory: Annotated[str, Field(min_length=1)] | None = None

    @field_validator("load_balancer_address")
    @classmethod
    def _lb(cls, value: str | None) -> str | None:
        return value if value is None else ip_or_host_name(value, dotted=True)


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
    registry: RegistryConfig | None = None  # a private registry the hosts log in to
    kubernetes: KubernetesConfig | None = None  # required on platform kubernetes
    capacity: CapacityConfig = CapacityConfig()  # the capacity check and the monthly budget
    postgres: PostgresConfig | None = None  # a PostgreSQL primary, hot standby, PgBouncer
    logs: LogsConfig = LogsConfig()  # the log store and its shippers (components/config_logs.py)
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


# --- loading ---------------------------------------------------------------------------

TOP_LEVEL_KEYS = tuple((field.alias or name) for name, field in StackConfig.model_fields.items() if name != "secrets")


@dataclass(frozen=True)
class Problem:
    key: str
    detail: str


class ConfigError(Exception):
    """Bad stack config: one message naming the stack, each key and what is allowed."""

    def __init__(self, stack: str, problems: list[Problem]):
        self.stack = stack
        self.problems = problems
        lines = [f"invalid config for stack '{stack}' ({len(problems)} problem(s)):"]
        lines += [f"  - {p.key}: {p.detail}" for p in problems]
        super().__init__("\n".join(lines))

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.problems]


def placeholder_secret(stack: str, key: str) -> str:
    """A stand-in for a secret that cannot be read offline (not set, or encrypted)."""
    digest = hashlib.sha256(f"webstack-offline:{stack}:{key}".encode()).hexdigest()
    return f"offline-placeholder-{digest[:40]}"


def load_stack_config(
    stack: str,
    raw: Mapping[str, Any],
    secret_keys: Collection[str],
    *,
    placeholder_secrets: bool = False,
) -> StackConfig:
    """Validate the `webstack:*` config of one stack.

    `raw` maps full keys ("webstack:hosts") to values as the engine passes them (strings,
    structured values JSON-encoded) or as YAML gives them. Keys of other namespaces
    (provider config such as `docker:host`) are left alone. With `placeholder_secrets`
    (the offline plan), secrets that are required but not readable get a placeholder.
    """
    problems: list[Problem] = []
    plain: dict[str, Any] = {}
    secret_values: dict[str, str] = {}
    for full_key, value in raw.items():
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:
            continue
        if key in TOP_LEVEL_KEYS:
            if full_key in secret_keys:
                problems.append(Problem(full_key, "is set as a secret; allowed: a plain value"))
            plain[key] = decode_config_value(value)
        else:
            secret_values[key] = value if isinstance(value, str) else json.dumps(value)

    try:
        config = StackConfig.model_validate(plain)
    except ValidationError as err:
        problems += [_problem(e) for e in err.errors()]
        raise ConfigError(stack, problems) from None

    problems += _check_references(config)
    if not problems:  # placed on hosts that all exist: does it fit them?
        problems += [Problem(key, detail) for key, detail in capacity_report(config).problems()]
    required = config.required_secrets()
    for key in secret_values:
        full_key = f"{NAMESPACE}:{key}"
        if key not in required and key not in KNOWN_SECRETS:
            allowed = ", ".join(sorted({*TOP_LEVEL_KEYS, *KNOWN_SECRETS, *required}))
            problems.append(Problem(full_key, f"unknown key; allowed keys: {allowed}"))
        elif full_key not in secret_keys:
            problems.append(
                Problem(
                    full_key,
                    "holds a plaintext value; allowed: a secret, set with "
                    f"`pulumi config set --secret {full_key} <value> --stack {stack}`",
                )
            )
    for key, reason in required.items():
        if key not in secret_values:
            if placeholder_secrets:
                secret_values[key] = placeholder_secret(stack, key)
            else:
                problems.append(
                    Problem(
                        f"{NAMESPACE}:{key}",
                        f"missing; required ({reason}); set it with "
                        f"`pulumi config set --secret {NAMESPACE}:{key} <value> --stack {stack}`",
                    )
                )
    problems += _check_pem_secrets(secret_values, placeholder_secrets=placeholder_secrets)
    if problems:
        raise ConfigError(stack, problems)
    return config.model_copy(update={"secrets": {k: SecretStr(v) for k, v in secret_values.items()}})


# Secrets that must hold PEM text, and the block each must contain.
_PEM_SECRETS = {
    "tlsCertificate": ("CERTIFICATE",),
    "tlsPrivateKey": ("PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"),
}


def _check_pem_secrets(values: Mapping[str, str], *, placeholder_secrets: bool) -> list[Problem]:
    problems: list[Problem] = []
    for key, kinds in _PEM_SECRETS.items():
        value = values.get(key)
        if value is None or (placeholder_secrets and value.startswith("offline-placeholder-")):
            continue
        if not any(f"-----BEGIN {kind}-----" in value and f"-----END {kind}-----" in value for kind in kinds):
            wanted = " or ".join(f"'-----BEGIN {kind}-----'" for kind in kinds)
            problems.append(Problem(f"{NAMESPACE}:{key}", f"not PEM text; allowed: a PEM block {wanted} ... END"))
    return problems


def _key(loc: tuple[int | str, ...]) -> str:
    key = NAMESPACE + ":"
    for i, part in enumerate(loc):
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += part if i == 0 else f".{part}"
    return key


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed at a config path, for 'unknown key' messages."""
    model: Any = StackConfig
    for part in loc:
        if isinstance(model, type) and issubclass(model, BaseModel):
            field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
            if field is None:
                return []
            model = _strip(field.annotation)
        elif get_origin(model) in (list, dict):  # `part` is an index or a map key
            model = _strip(get_args(model)[-1])
        else:
            return []
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or n for n, f in model.model_fields.items() if n != "secrets"]
    return []


def _strip(annotation: Any) -> Any:
    """Strip Annotated[...] and Optional[...] from a field's type."""
    while True:
        args = get_args(annotation)
        if get_origin(annotation) is Annotated:
            annotation = args[0]
        elif args and type(None) in args:
            annotation = next(a for a in args if a is not type(None))
        else:
            return annotation


def _problem(error: Any) -> Problem:
    loc = tuple(error["loc"])
    kind = error["type"]
    ctx = error.get("ctx", {})
    got = error.get("input")
    if kind == "extra_forbidden":
        allowed = ", ".join(_fields_at(loc[:-1]))
        return Problem(_key(loc), f"unknown key; allowed keys: {allowed}")
    if kind == "missing":
        return Problem(_key(loc), "missing; this key is required")
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[kind]
        limit = next(iter(ctx.values()))
        return Problem(_key(loc), f"got {got!r}; allowed: a number {bound} {limit}")
    if kind == "literal_error":
        return Problem(_key(loc), f"got {got!r}; allowed: {ctx.get('expected')}")
    if kind == "string_pattern_mismatch":
        return Problem(_key(loc), f"got {got!r}; allowed: text matching {ctx.get('pattern')}")
    if kind in ("too_short", "too_long"):
        return Problem(_key(loc), f"got {_short(got)}; allowed: {error['msg'].lower()}")
    expected = {
        "int_parsing": "an integer",
        "int_type": "an integer",
        "int_from_float": "an integer",
        "float_parsing": "a number",
        "float_type": "a number",
        "bool_parsing": "true or false",
        "bool_type": "true or false",
        "string_type": "text",
        "list_type": "a list",
        "dict_type": "a map of keys to values",
    }.get(kind)
    if kind == "model_type" or kind == "model_attributes_type":
        expected = "an object with keys: " + ", ".join(_fields_at(loc))
    if expected is not None:
        return Problem(_key(loc), f"got {_short(got)}; allowed: {expected}")
    if kind == "value_error":
        reason = str(ctx.get("error", error["msg"]))
        return Problem(_key(loc), f"got {_short(got)}; allowed: {reason}")
    return Problem(_key(loc), f"got {_short(got)}; allowed: {error['msg'].lower()}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# Host ports the infrastructure publishes on a host's private address when there are several
# hosts (Redis, Sentinel, PostgreSQL, PgBouncer, node, nginx, Redis and postgres exporters;
# components/ names each one, a unit test checks they are here), and SSH.
RESERVED_HOST_PORTS: dict[int, str] = {
    22: "SSH",
    6379: "Redis",
    26379: "Redis Sentinel",
    POSTGRES_PORT: "PostgreSQL",
    PGBOUNCER_PORT: "PgBouncer",
    9100: "the node exporter",
    9113: "the nginx exporter",
    9121: "the Redis exporter",
    POSTGRES_EXPORTER_PORT: "the postgres exporter",
}


def _host_ports(config: StackConfig) -> dict[str, dict[int, str]]:
    """Several hosts: per host, the host ports the parts other than PostgreSQL publish there."""
    ports: dict[str, dict[int, str]] = {h.name: {22: "SSH", 9100: "the node exporter"} for h in config.hosts}

    def put(host: str | None, port: int, what: str) -> None:
        if host in ports:
            ports[host].setdefault(port, what)

    put(config.edge.host, config.edge.http_port, "the edge")
    put(config.edge.host, config.edge.https_port, "the edge")
    put(config.edge.host, 9113, "the nginx exporter")
    for host in (config.redis.host, config.redis.replica_host):
        put(host, config.redis.port, "Redis")
    put(config.redis.host, 9121, "the Redis exporter")
    for host in config.redis.sentinel_hosts:
        put(host, 26379, "Redis Sentinel")
    mon = config.monitoring
    for port, what in ((mon.prometheus_port, "Prometheus"), (mon.alertmanager_port, "Alertmanager")):
        put(mon.host, port, what)
    if mon.grafana:
        put(mon.host, mon.grafana_port, "Grafana")
    for name, service in config.services.items():
        for index in range(service.replicas):
            if service.hosts:
                for port in service.published_ports(index):
                    put(service.hosts[index % len(service.hosts)], port, f"service {name}")
    pg = config.postgres
    if pg is not None:
        for host in (pg.host, pg.standby_host):
            put(host, POSTGRES_EXPORTER_PORT, "the postgres exporter")
    return ports


def _check_published_ports(config: StackConfig) -> list[Problem]:
    """Several hosts: each replica's published port is in range and clashes with nothing."""
    if config.platform != "docker" or len(config.hosts) < 2:
        return []
    problems: list[Problem] = []
    taken: dict[int, str] = dict(RESERVED_HOST_PORTS)
    taken[config.edge.http_port] = taken[config.edge.https_port] = "the edge"
    if config.postgres is not None:
        taken[config.postgres.port] = "PostgreSQL"
        if config.postgres.pgbouncer_enabled and config.postgres.pgbouncer is not None:
            taken[config.postgres.pgbouncer.port] = "PgBouncer"
    for name, service in sorted(config.services.items()):
        key = f"{NAMESPACE}:services.{name}.publishedPortBase"
        # Each replica holds one of two ports (a roll starts its successor on the other).
        first, last = service.published_ports(0)[0], service.published_ports(service.replicas - 1)[1]
        if last > 65535:
            problems.append(
                Problem(
                    key,
                    f"replicas {name}-0..{service.replicas - 1} would use ports {first}-{last}; allowed: up to 65535",
                )
            )
            continue
        clashes = sorted({taken[p] for p in range(first, last + 1) if p in taken})
        if clashes:
            problems.append(
                Problem(
                    key,
                    f"replicas {name}-0..{service.replicas - 1} use ports {first}-{last}, which {', '.join(clashes)} "
                    "uses too; allowed: a base whose range clashes with nothing",
                )
            )
        taken |= dict.fromkeys(range(first, last + 1), f"service {name}")
    return problems


def _check_references(config: StackConfig) -> list[Problem]:
    """Checks across keys: names that must exist, addresses that must be unique."""
    problems: list[Problem] = _check_published_ports(config)
    names = [h.name for h in config.hosts]
    allowed_hosts = ", ".join(names)

    def host_ref(key: str, name: str | None) -> None:
        if name is not None and name not in names:
            problems.append(Problem(f"{NAMESPACE}:{key}", f"names no host: {name!r}; allowed: {allowed_hosts}"))

    seen_names: set[str] = set()
    seen_addresses: dict[str, str] = {}
    for i, host in enumerate(config.hosts):
        if host.name in seen_names:
            problems.append(
                Problem(f"{NAMESPACE}:hosts[{i}].name", f"{host.name!r} is used twice; allowed: unique names")
            )
        seen_names.add(host.name)
        for field, address in (("address", host.address), ("privateAddress", host.private_address)):
            if address is None:
                continue
            other = seen_addresses.get(address)
            if other is not None and other != host.name:
                problems.append(
                    Problem(
                        f"{NAMESPACE}:hosts[{i}].{field}",
                        f"{address!r} is also the address of host {other!r}; allowed: one host per address",
                    )
                )
            seen_addresses[address] = host.name
        if host.connection == "local" and config.environment != "local":
            problems.append(
                Problem(f"{NAMESPACE}:hosts[{i}].connection", "got 'local'; allowed: 'ssh' outside the local stack")
            )

    host_ref("edge.host", config.edge.host)
    host_ref("redis.host", config.redis.host)
    host_ref("redis.replicaHost", config.redis.replica_host)
    for i, name in enumerate(config.redis.sentinel_hosts):
        host_ref(f"redis.sentinelHosts[{i}]", name)
    if config.redis.replica_host is not None and config.redis.replica_host == config.redis.host:
        problems.append(Problem(f"{NAMESPACE}:redis.replicaHost", "is the primary's host; allowed: another host"))
    host_ref("monitoring.host", config.monitoring.host)
    host_ref("backup.host", config.backup.host)
    backup = config.backup
    problems += [
        Problem(f"{NAMESPACE}:{key}", detail)
        for key, detail in drill_problems(
            backup.drill,
            backups=backup.enabled,
            redis=backup.redis,
            volumes=bool(backup.volumes),
            database=backup.database,
            max_age_hours=config.monitoring.thresholds.drill_max_age_hours,
        )
    ]
    problems += _check_postgres(config, host_ref)
    problems += _check_logs(config)
    for i, volume in enumerate(config.backup.volumes):
        if config.monitoring.host != config.backup.host:
            problems.append(
                Problem(
                    f"{NAMESPACE}:backup.volumes[{i}]",
                    f"volume {volume!r} lives on host {config.monitoring.host!r}; allowed: volumes of the backup host "
                    f"{config.backup.host!r} (Docker volumes are per host)",
                )
            )
    problems += _check_platform(config)
    problems += [Problem(f"{NAMESPACE}:{key}", detail) for key, detail in host_size_problems(config.hosts)]
    for i, host in enumerate(config.hosts):
        if len(config.hosts) > 1 and host.connection == "ssh" and host.private_address is None:
            problems.append(
                Problem(
                    f"{NAMESPACE}:hosts[{i}].privateAddress",
                    "missing; required when a stack has several hosts (internal ports are published only on it)",
                )
            )

    paths: dict[str, str] = {}
    for service_name, service in config.services.items():
        base = f"services.{service_name}"
        for i, name in enumerate(service.hosts):
            host_ref(f"{base}.hosts[{i}]", name)
        if service.path in paths:
            problems.append(
                Problem(
                    f"{NAMESPACE}:{base}.path",
                    f"{service.path!r} is also the path of service {paths[service.path]!r}; allowed: a path no other service uses",
                )
            )
        paths[service.path] = service_name
        for i, login in enumerate(service.login_paths):
            if not login.startswith(service.path):
                problems.append(
                    Problem(
                        f"{NAMESPACE}:{base}.loginPaths[{i}]",
                        f"got {login!r}; allowed: a path under the service's path {service.path!r}",
                    )
                )
        if config.environment != "local" and not image_is_pinned(service.image):
            problems.append(
                Problem(
                    f"{NAMESPACE}:{base}.image",
                    f"got {service.image!r}; allowed: an image pinned by tag (not :latest) or digest in {config.environment}",
                )
            )
    if "/" not in paths:
        problems.append(
            Problem(
                f"{NAMESPACE}:services",
                "no service serves path '/'; allowed: exactly one service with path '/' (the front end)",
            )
        )

    if config.environment != "local":
        for field_name in ImagesConfig.model_fields:
            image = getattr(config.images, field_name)
            if not image_is_pinned(image):
                alias = ImagesConfig.model_fields[field_name].alias or field_name
                problems.append(
                    Problem(
                        f"{NAMESPACE}:images.{alias}",
                        f"got {image!r}; allowed: an image pinned by tag (not :latest) or digest in {config.environment}",
                    )
                )
        if config.edge.certificate == "self-signed" and config.dns.enabled:
            problems.append(
                Problem(
                    f"{NAMESPACE}:edge.certificate",
                    "got 'self-signed'; allowed: 'cloudflare-origin' or 'provided' when DNS is on (Cloudflare SSL strict needs a trusted origin certificate)",
                )
            )
    if config.platform == "docker" and config.edge.certificate == "cloudflare-origin" and not config.dns.enabled:
        problems.append(
            Problem(
                f"{NAMESPACE}:edge.certificate",
                "got 'cloudflare-origin'; allowed: 'self-signed' or 'provided' unless dns.enabled is true",
            )
        )
    return problems


def _check_postgres(config: StackConfig, host_ref: Callable[[str, str | None], None]) -> list[Problem]:
    """webstack:postgres against the rest of the stack; services asking for one need it."""
    pg = config.postgres
    requests = config.database_requests()
    if pg is None:
        return [
            Problem(
                f"{NAMESPACE}:{request.key}.database",
                f"got {request.target!r} but the stack has no webstack:postgres; allowed: a database URL once "
                "webstack:postgres is set (or {config: <secret key>} for a database elsewhere)",
            )
            for request in requests
        ]
    if config.platform == "docker":
        host_ref("postgres.host", pg.host)
        host_ref("postgres.standbyHost", pg.standby_host)
    names = {h.name for h in config.hosts}
    taken = _host_ports(config) if config.platform == "docker" and len(config.hosts) > 1 else {}
    found = postgres_problems(
        pg,
        platform=config.platform,
        taken_ports={host: ports for host, ports in taken.items() if host in names},
        requests=requests,
    )
    return [Problem(f"{NAMESPACE}:{key}", detail) for key, detail in found]


def _check_logs(config: StackConfig) -> list[Problem]:
    """webstack:logs against the rest of the stack (components/config_logs.py)."""
    several = config.platform == "docker" and len(config.hosts) > 1
    found = logs_problems(
        config.logs,
        platform=config.platform,
        hosts=[h.name for h in config.hosts],
        monitoring_host=config.monitoring.host,
        taken_ports=_host_ports(config) if several else {},
    )
    return [Problem(f"{NAMESPACE}:{key}", detail) for key, detail in found]


# Placement keys: where a part runs on platform docker; the cluster schedules it on kubernetes.
_EDGE_DOCKER_ONLY = (
    "host",
    "http_port",
    "https_port",
    "bind_address",
    "worker_connections",
    "hsts_max_age",
    "trust_cloudflare",
)


def _alias(model: type[BaseModel], field: str) -> str:
    return model.model_fields[field].alias or field


def _check_platform(config: StackConfig) -> list[Problem]:
    """What each platform requires, and the keys the other platform's layout does not use."""
    problems: list[Problem] = []

    def problem(key: str, detail: str) -> None:
        problems.append(Problem(f"{NAMESPACE}:{key}", detail))

    if config.platform == "docker":
        required = "missing; required on platform docker (the host it runs on)"
        if not config.hosts:
            problem("hosts", "missing; required on platform docker: at least 1 host")
        for key, value in (
            ("edge.host", config.edge.host),
            ("redis.host", config.redis.host),
            ("monitoring.host", config.monitoring.host),
            ("backup.host", config.backup.host),
        ):
            if value is None:
                problem(key, required)
        for name, service in config.services.items():
            if not service.hosts:
                problem(f"services.{name}.hosts", "missing; required on platform docker: at least 1 host name")
            if service.autoscale is not None:
                problem(
                    f"services.{name}.autoscale",
                    "not used on platform docker (replicas are fixed there); allowed: platform kubernetes",
                )
            if "read_only_root_filesystem" in service.model_fields_set:
                problem(
                    f"services.{name}.readOnlyRootFilesystem",
                    "not used on platform docker; allowed: platform kubernetes",
                )
        if config.kubernetes is not None:
            problem("kubernetes", "not used on platform docker; allowed: no kubernetes key, or platform kubernetes")
        return problems

    # kubernetes
    unused = "not used on platform kubernetes (the cluster schedules every part); allowed: no such key"
    if config.kubernetes is None:
        problem(
            "platform",
            "got 'kubernetes' without a webstack:kubernetes key; required: webstack:kubernetes "
            "{namespace, loadBalancerAddress, ingressClass, ...} (see README, Kubernetes)",
        )
    if config.hosts:
        problem("hosts", f"{unused} (the cluster's nodes are not the program's)")
    for field in _EDGE_DOCKER_ONLY:
        if field in config.edge.model_fields_set:
            problem(
                f"edge.{_alias(EdgeConfig, field)}",
                "not used on platform kubernetes (the cluster's ingress controller is the edge: it listens on "
                "80/443 and its own settings hold TLS and client-IP options); allowed: no such key",
            )
    for name, service in config.services.items():
        if service.hosts:
            problem(f"services.{name}.hosts", unused)
        scale = service.autoscale
        if scale is not None and not scale.min_replicas <= service.replicas <= scale.max_replicas:
            problem(
                f"services.{name}.replicas",
                f"got {service.replicas}; allowed: between autoscale.minReplicas ({scale.min_replicas}) and "
                f"autoscale.maxReplicas ({scale.max_replicas})",
            )
    for field in ("host", "replica_host", "sentinel_hosts", "sentinel_quorum"):
        if field in config.redis.model_fields_set:
            problem(
                f"redis.{_alias(RedisConfig, field)}",
                "not used on platform kubernetes (one StatefulSet pod on its own volume; no replica or Sentinel); "
                "allowed: no such key",
            )
    if config.monitoring.host is not None:
        problem("monitoring.host", unused)
    if config.registry is not None:
        problem(
            "registry",
            "not used on platform kubernetes (the cluster's nodes pull images: give the namespace an "
            "imagePullSecret); allowed: no such key",
        )
    if config.edge.certificate == "provided":
        problem("edge.certificate", "got 'provided'; on platform kubernetes the certificate is kubernetes.tlsSecret")
    if config.backup.host is not None:
        problem("backup.host", unused)
    for i, volume in enumerate(config.backup.volumes):
        problem(
            f"backup.volumes[{i}]",
            f"got {volume!r}; allowed: no volumes on platform kubernetes (PersistentVolumes are snapshotted by "
            "the cluster's storage, not by restic)",
        )
    k8s = config.kubernetes
    if k8s is not None and config.dns.enabled and k8s.load_balancer_address is None:
        problem(
            "kubernetes.loadBalancerAddress",
            "missing; required when dns.enabled is true (Cloudflare's records point at the ingress controller's "
            "load balancer)",
        )
    return problems
