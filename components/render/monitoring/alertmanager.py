"""Alertmanager: alertmanager.yml, routing by severity to a webhook (or to null receivers)."""

from __future__ import annotations

from typing import Any

from components.render.monitoring.common import _dump

# Labels that tell two alerts of one family apart; absent labels compare as equal.
_INHIBIT_EQUAL = ["alertname", "environment", "job", "instance", "service", "mountpoint", "target", "server_name"]


def render_alertmanager_config(*, webhook_url: str | None, environment: str) -> str:
    """Routes by severity. Without a webhook (the local stack) the receivers are null."""

    def receiver(name: str) -> dict[str, Any]:
        if webhook_url is None:
            return {"name": name}
        return {"name": name, "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}

    config = {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": "default",
            "group_by": ["alertname", "environment", "severity"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                {
                    "receiver": "critical",
                    "matchers": ['severity="critical"'],
                    "group_wait": "10s",
                    "group_interval": "1m",
                    "repeat_interval": "1h",
                },
                {
                    "receiver": "warning",
                    "matchers": ['severity="warning"'],
                    "group_wait": "1m",
                    "group_interval": "5m",
                    "repeat_interval": "12h",
                },
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity="warning"'],
                "equal": list(_INHIBIT_EQUAL),
            }
        ],
        "receivers": [receiver("default"), receiver("critical"), receiver("warning")],
    }
    return f"# Alertmanager for webstack {environment}\n" + _dump(config)
