"""The host ports of a docker stack with several hosts: those the infrastructure reserves, and
what each host publishes on its private address.

Pure: no Pulumi import. The checks that no two parts publish one port on one host are in
components/config/checks.py (and `postgres_problems`, `logs_problems`, which take these ports).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from components.config.postgres import PGBOUNCER_PORT, POSTGRES_EXPORTER_PORT, POSTGRES_PORT

if TYPE_CHECKING:
    from components.config.stack import StackConfig


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


def host_ports(config: StackConfig) -> dict[str, dict[int, str]]:
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
