"""The checks that span concerns: one key against the others, once each concern is valid.

Pure: no Pulumi import. `stack_problems(config)` holds them in the order the loader reports
them: the published ports of several hosts; hosts named twice, sharing an address or local
outside the local stack; keys that name no host; the restore drill against the backup;
webstack:postgres and webstack:logs against the rest of the stack; backup volumes on another
host; what each platform requires and the keys it does not use; hosts without a size or a
private address; service paths; unpinned images outside the local stack; the edge's
certificate against DNS.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from components.config.backup_drill import drill_problems
from components.config.base import NAMESPACE, Problem
from components.config.capacity import host_size_problems
from components.config.edge import EdgeConfig
from components.config.images import ImagesConfig
from components.config.logs import logs_problems
from components.config.ports import RESERVED_HOST_PORTS, host_ports
from components.config.postgres import postgres_problems
from components.config.redis import RedisConfig
from components.config.stack import StackConfig
from components.config.values import image_is_pinned


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


def stack_problems(config: StackConfig) -> list[Problem]:
    """Checks across keys: names that must exist, addresses that must be unique."""
    problems: list[Problem] = _check_published_ports(config)
    if config.image_source == "local" and config.environment != "local":
        problems.append(
            Problem(
                f"{NAMESPACE}:imageSource",
                f"got 'local' for a {config.environment} stack; allowed: 'registry' (the pinned images), "
                "'local' only on a stack with environment local",
            )
        )
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
    taken = host_ports(config) if config.platform == "docker" and len(config.hosts) > 1 else {}
    found = postgres_problems(
        pg,
        platform=config.platform,
        taken_ports={host: ports for host, ports in taken.items() if host in names},
        requests=requests,
    )
    return [Problem(f"{NAMESPACE}:{key}", detail) for key, detail in found]


def _check_logs(config: StackConfig) -> list[Problem]:
    """webstack:logs against the rest of the stack (components/config/logs.py)."""
    several = config.platform == "docker" and len(config.hosts) > 1
    found = logs_problems(
        config.logs,
        platform=config.platform,
        hosts=[h.name for h in config.hosts],
        monitoring_host=config.monitoring.host,
        taken_ports=host_ports(config) if several else {},
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
