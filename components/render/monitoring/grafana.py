"""Grafana provisioning: the Prometheus datasource, the dashboard provider, and the webstack
overview dashboard (JSON)."""

from __future__ import annotations

import json

from components.render.monitoring.common import (
    EXPR_BACKUP_AGE,
    EXPR_CPU_PERCENT,
    EXPR_DISK_PERCENT,
    EXPR_ERROR_RATIO,
    EXPR_LATENCY_P95,
    EXPR_MEMORY_PERCENT,
    EXPR_REQUEST_RATE,
    _dump,
)

GRAFANA_DATASOURCE_UID = "prometheus"


def render_grafana_datasources(*, prometheus_url: str) -> str:
    config = {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "uid": GRAFANA_DATASOURCE_UID,
                "type": "prometheus",
                "access": "proxy",
                "url": prometheus_url,
                "isDefault": True,
                "editable": False,
            }
        ],
    }
    return _dump(config)


def render_grafana_dashboard_providers(*, dashboards_dir: str) -> str:
    config = {
        "apiVersion": 1,
        "providers": [
            {
                "name": "webstack",
                "orgId": 1,
                "folder": "webstack",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {"path": dashboards_dir, "foldersFromFilesStructure": False},
            }
        ],
    }
    return _dump(config)


# (title, unit, [(expr, legend)])
_PANELS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("Request rate", "reqps", [(EXPR_REQUEST_RATE, "{{service}}")]),
    ("Error rate (5xx)", "percentunit", [(EXPR_ERROR_RATIO, "{{service}}")]),
    ("Latency p95", "s", [(EXPR_LATENCY_P95, "{{service}}")]),
    ("CPU usage", "percent", [(EXPR_CPU_PERCENT, "{{instance}}")]),
    ("Memory usage", "percent", [(EXPR_MEMORY_PERCENT, "{{instance}}")]),
    ("Disk usage", "percent", [(EXPR_DISK_PERCENT, "{{instance}} {{mountpoint}}")]),
    (
        "Redis memory",
        "bytes",
        [("redis_memory_used_bytes", "{{instance}} used"), ("redis_memory_max_bytes", "{{instance}} max")],
    ),
    ("Backup age", "s", [(EXPR_BACKUP_AGE, "{{target}}")]),
]


def render_grafana_dashboard(*, environment: str) -> str:
    datasource = {"type": "prometheus", "uid": GRAFANA_DATASOURCE_UID}
    panels = []
    for index, (title, unit, queries) in enumerate(_PANELS):
        panels.append(
            {
                "id": index + 1,
                "type": "timeseries",
                "title": title,
                "datasource": datasource,
                "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "options": {
                    "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"},
                },
                "targets": [
                    {"refId": chr(ord("A") + i), "datasource": datasource, "expr": expr, "legendFormat": legend}
                    for i, (expr, legend) in enumerate(queries)
                ],
            }
        )
    dashboard = {
        "uid": "webstack-overview",
        "title": f"webstack overview ({environment})",
        "tags": ["webstack", environment],
        "timezone": "utc",
        "editable": False,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "templating": {"list": []},
        "panels": panels,
    }
    return json.dumps(dashboard, indent=2) + "\n"
