"""The stack outputs contract: every output's name, shape and secrecy, in one place.

Other teams read these with `pulumi stack output --json` or a StackReference;
docs/outputs.md documents them and a test pins both against what the program exports.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OutputSpec:
    name: str
    secret: bool
    keys: tuple[str, ...]  # keys of an object output; () for a scalar
    description: str


CONTRACT: tuple[OutputSpec, ...] = (
    OutputSpec("environment", False, (), "local, staging or production"),
    OutputSpec(
        "endpoints",
        False,
        ("url", "health", "api", "http"),
        "public URLs: site, health check, API base, plain-HTTP entry (redirects)",
    ),
    OutputSpec(
        "edge",
        False,
        ("host", "publicAddress", "bindAddress", "httpPort", "httpsPort", "serverNames", "certificate"),
        "the load balancer: its host, public address, ports, names and certificate kind",
    ),
    OutputSpec("dns", False, ("enabled", "records", "proxied"), "Cloudflare records fronting the edge"),
    OutputSpec("hosts", False, (), "list of {name, address, internalAddress, connection, roles, network}"),
    OutputSpec("services", False, (), "per service: {image, replicas, path, hosts, upstreams}"),
    OutputSpec(
        "redis",
        False,
        ("host", "port", "replicaHost", "sentinels", "sentinelMaster", "dataProtected"),
        "where Redis runs; no credentials here",
    ),
    OutputSpec("redisUrl", True, (), "redis://:password@host:port/0 as the monitoring host reaches it (secret)"),
    OutputSpec(
        "postgres",
        False,
        ("enabled", "host", "standbyHost", "port", "pgbouncerPort", "databases", "dataProtected", "psqlCommand"),
        "where PostgreSQL runs (webstack:postgres), its databases and the operator's psql; no credentials",
    ),
    OutputSpec(
        "monitoring",
        False,
        ("host", "prometheusUrl", "alertmanagerUrl", "grafanaUrl", "tunnelCommand"),
        "monitoring UIs (loopback of the monitoring host; tunnelCommand reaches them from outside)",
    ),
    OutputSpec("grafanaAdminPassword", True, (), "Grafana's generated admin password (secret)"),
    OutputSpec(
        "logs",
        False,
        ("enabled", "host", "uiUrl", "tunnelCommand", "retention"),
        "the log store (webstack:logs): its host, web UI (loopback of that host; tunnelCommand reaches it), retention",
    ),
    OutputSpec(
        "backup",
        False,
        (
            "enabled",
            "host",
            "repository",
            "offsite",
            "schedule",
            "retention",
            "restoreCommand",
            "runNowCommand",
            "drillCommand",
            "drillRecordsCommand",
        ),
        "restic repository, schedule (cron, UTC), retention, the commands to restore or run now, and to run a "
        "restore drill or print its last records",
    ),
    OutputSpec(
        "capacity",
        False,
        (),
        "per host: {plan, checked, placed, available, containers}: memory, CPU limits and disk placed vs available",
    ),
    OutputSpec(
        "monthlyCost",
        False,
        ("currency", "hosts", "total", "budget", "unpriced"),
        "the hosts' monthly prices, their total and the budget (null total on platform kubernetes)",
    ),
)
CAPACITY_KEYS = ("plan", "checked", "placed", "available", "containers")
CAPACITY_FIGURES = {
    "placed": ("memoryMb", "memoryPeakMb", "cpus", "diskGb"),
    "available": ("memoryMb", "cpus", "diskGb"),
}

HOST_KEYS = ("name", "address", "internalAddress", "connection", "roles", "network")
SERVICE_KEYS = ("image", "replicas", "path", "hosts", "upstreams")
