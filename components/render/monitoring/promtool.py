"""The building blocks of `promtool test rules` files: input series in promtool's notation,
alert checks and test cases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.render.monitoring.common import _num


def _series(metric: str, labels: Mapping[str, str], values: str) -> dict[str, str]:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{metric}{{{inner}}}", "values": values}


def _short(value: float) -> float:
    """Drop float noise (12.599999999999998) from test inputs; 12 digits are plenty."""
    return float(f"{value:.12g}")


def _flat(value: float, steps: int) -> str:
    return f"{_num(_short(value))}+0x{steps}"


def _ramp(per_step: float, steps: int) -> str:
    return f"0+{_num(_short(per_step))}x{steps}"


def _check(minute: int, alert: str, expected: list[dict[str, Any]]) -> dict[str, Any]:
    return {"eval_time": f"{minute}m", "alertname": alert, "exp_alerts": expected}


def _test(name: str, series: list[dict[str, str]], checks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "interval": "1m", "input_series": series, "alert_rule_test": checks}


def _between(low: float, high: float) -> float:
    return (low + high) / 2
