"""Monitoring config: prometheus.yml, alert rules and their promtool tests, Alertmanager,
Grafana provisioning. Pure: no Pulumi import; plain values in, deterministic text out.

By what it renders:

- prometheus.py: prometheus.yml (`ScrapeJob`) and the targets files of file-based discovery;
- rules.py: the alert rules, from `Thresholds` (humanize.py: how they print `$value`);
- rule_tests.py, drill_tests.py: their `promtool test rules` files (promtool.py: the parts);
- alertmanager.py: alertmanager.yml;
- grafana.py: the datasource, the dashboard provider and the overview dashboard;
- common.py: the PromQL that the rules and the dashboard share.
"""

from components.render.monitoring.alertmanager import render_alertmanager_config
from components.render.monitoring.common import (
    APP_SELECTOR,
    EXPR_BACKUP_AGE,
    EXPR_CPU_PERCENT,
    EXPR_DISK_PERCENT,
    EXPR_ERROR_RATIO,
    EXPR_LATENCY_P95,
    EXPR_MEMORY_PERCENT,
    EXPR_PG_CONNECTIONS_PERCENT,
    EXPR_PG_REPLICATION_LAG_BYTES,
    EXPR_REDIS_MEMORY_PERCENT,
    EXPR_REQUEST_RATE,
    FS_SELECTOR,
    PG_WEBSTACK_SLOTS,
)
from components.render.monitoring.drill_tests import render_drill_alert_rule_tests
from components.render.monitoring.grafana import (
    GRAFANA_DATASOURCE_UID,
    render_grafana_dashboard,
    render_grafana_dashboard_providers,
    render_grafana_datasources,
)
from components.render.monitoring.humanize import ValueFormat
from components.render.monitoring.prometheus import ScrapeJob, render_prometheus_config, render_targets_file
from components.render.monitoring.rule_tests import render_alert_rule_tests
from components.render.monitoring.rules import REDIS_MEMORY_WARNING_PERCENT, render_alert_rules

__all__ = [
    "APP_SELECTOR",
    "EXPR_BACKUP_AGE",
    "EXPR_CPU_PERCENT",
    "EXPR_DISK_PERCENT",
    "EXPR_ERROR_RATIO",
    "EXPR_LATENCY_P95",
    "EXPR_MEMORY_PERCENT",
    "EXPR_PG_CONNECTIONS_PERCENT",
    "EXPR_PG_REPLICATION_LAG_BYTES",
    "EXPR_REDIS_MEMORY_PERCENT",
    "EXPR_REQUEST_RATE",
    "FS_SELECTOR",
    "GRAFANA_DATASOURCE_UID",
    "PG_WEBSTACK_SLOTS",
    "REDIS_MEMORY_WARNING_PERCENT",
    "ScrapeJob",
    "ValueFormat",
    "render_alert_rule_tests",
    "render_alert_rules",
    "render_alertmanager_config",
    "render_drill_alert_rule_tests",
    "render_grafana_dashboard",
    "render_grafana_dashboard_providers",
    "render_grafana_datasources",
    "render_prometheus_config",
    "render_targets_file",
]
