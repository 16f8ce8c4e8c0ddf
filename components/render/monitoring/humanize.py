"""How an alert prints its `$value`: the Go template pipelines the rules use, and in Python
what Prometheus prints with them (the promtool tests' expected annotations)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Literal

from components.render.monitoring.common import _num

ValueFormat = Literal["raw", "percent", "ratio", "duration", "timestamp", "bytes"]

# How each rule prints $value, in Go (rules) and in Python (the expected test output).
_GO_VALUE: dict[str, str] = {
    "raw": "{{ $value }}",
    "percent": '{{ $value | printf "%.1f" }}',
    "ratio": "{{ $value | humanizePercentage }}",
    "duration": "{{ $value | humanizeDuration }}",
    "timestamp": "{{ $value | humanizeTimestamp }}",
    "bytes": "{{ $value | humanize1024 }}B",
}


def _go_g4(value: float) -> str:
    return f"{value:.4g}"


def _humanize_duration(value: float) -> str:
    """Prometheus' humanizeDuration template function."""
    if math.isnan(value) or math.isinf(value):
        return _go_g4(value)
    if value == 0:
        return f"{_go_g4(value)}s"
    if abs(value) >= 1:
        sign = "-" if value < 0 else ""
        value = abs(value)
        whole = int(value)
        seconds, minutes, hours, days = whole % 60, (whole // 60) % 60, (whole // 3600) % 24, whole // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_go_g4(value)}s"
    prefix = ""
    for unit in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(value) >= 1:
            break
        prefix = unit
        value *= 1000
    return f"{_go_g4(value)}{prefix}s"


def _humanize_1024(value: float) -> str:
    """Prometheus' humanize1024 template function."""
    if abs(value) <= 1 or math.isnan(value) or math.isinf(value):
        return _go_g4(value)
    prefix = ""
    for unit in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(value) < 1024:
            break
        prefix = unit
        value /= 1024
    return f"{_go_g4(value)}{prefix}"


def _format_value(kind: ValueFormat, value: float) -> str:
    """What Prometheus prints for `$value` with the rule's pipeline."""
    if kind == "bytes":
        return f"{_humanize_1024(value)}B"
    if kind == "raw":
        return _num(value) if math.isfinite(value) else repr(value)
    if kind == "percent":
        return f"{value:.1f}"
    if kind == "ratio":
        return f"{_go_g4(value * 100)}%"
    if kind == "duration":
        return _humanize_duration(value)
    if not float(value).is_integer():
        raise ValueError("timestamps in rule tests are whole seconds")
    return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def _pct(ratio: float) -> str:
    return f"{_go_g4(ratio * 100)}%"
