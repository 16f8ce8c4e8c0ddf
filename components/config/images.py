"""`webstack:images`: the infrastructure's images, and where the local stack's come from.

Pure: no Pulumi import. `ImagesConfig` pins each infrastructure image by tag or digest (the
pinning outside the local stack is checked in components/config/checks.py). On a machine that
reaches a registry the local stack pulls the same pinned public images as production; where
none can be reached (air-gapped CI), `images/build.sh` builds equivalents from Debian's packages
and `WEBSTACK_IMAGE_SOURCE=local` (set by scripts/up.sh, which tries the registry first) points
the stack at them.
"""

from __future__ import annotations

from typing import Literal

from components.config.base import Model

# webstack:imageSource: where the images come from. `registry`: the pinned images as the
# stack file gives them; `local`: the local image set built from Debian's packages
# (images/build.sh), only on the local stack. scripts/up.sh writes it when it creates the
# local stack on a machine that reaches no registry, so that every later `pulumi` command
# does the same without any environment variable.
ImageSource = Literal["registry", "local"]


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


LOCAL_PREFIX = "webstack-local"

# The images/build.sh tag of each infrastructure image; Grafana has no local build.
LOCAL_IMAGES: dict[str, str] = {
    "nginx": f"{LOCAL_PREFIX}/nginx:bookworm",
    "redis": f"{LOCAL_PREFIX}/redis:bookworm",
    "prometheus": f"{LOCAL_PREFIX}/prometheus:bookworm",
    "alertmanager": f"{LOCAL_PREFIX}/alertmanager:bookworm",
    "node_exporter": f"{LOCAL_PREFIX}/node-exporter:bookworm",
    "redis_exporter": f"{LOCAL_PREFIX}/redis-exporter:bookworm",
    "nginx_exporter": f"{LOCAL_PREFIX}/nginx-exporter:bookworm",
    "backup": f"{LOCAL_PREFIX}/backup:bookworm",
    "postgres": f"{LOCAL_PREFIX}/postgres:bookworm",
    "victorialogs": f"{LOCAL_PREFIX}/victorialogs:v1.52.1",
    "vmalert": f"{LOCAL_PREFIX}/vmalert:v1.151.0",
    "syslog_ng": f"{LOCAL_PREFIX}/syslog-ng:bookworm",
}
