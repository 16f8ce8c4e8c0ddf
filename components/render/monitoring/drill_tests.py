"""The promtool tests of the restore drills' alert rules (the webstack-backup-drills group):
a file of their own, evaluated every 15 minutes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.config import Thresholds
from components.render.monitoring.common import _dump, _num
from components.render.monitoring.promtool import _flat, _ramp, _series, _short
from components.render.monitoring.rules import _drill_rules


def render_drill_alert_rule_tests(
    thresholds: Thresholds, *, rule_file: str, environment: str, drill_max_age_hours: int
) -> str:
    """A `promtool test rules` file for the webstack-backup-drills group of
    `render_alert_rules(thresholds, ..., drill_max_age_hours=...)`: a file of its own, evaluated
    every 15 minutes, because a week and more at one-minute steps takes promtool minutes."""
    t = thresholds
    rules = {r.alert: r for r in _drill_rules(t, drill_max_age_hours)}

    def exp(alert: str, labels: Mapping[str, str], value: float) -> dict[str, Any]:
        return rules[alert].expected(labels, value, environment)

    node = {"job": "node", "instance": "data-1:9100"}
    other = {"job": "node", "instance": "data-2:9100"}
    step = 15  # minutes, the evaluation interval and the samples' (a sample every evaluation: none goes stale)
    limit = -(-drill_max_age_hours * 60 // step)  # the first step at or after the limit
    steps = limit + 4

    def check(at: int, alert: str, expected: list[dict[str, Any]]) -> dict[str, Any]:
        return {"eval_time": f"{at * step}m", "alertname": alert, "exp_alerts": expected}

    def test(name: str, series: list[dict[str, str]], checks: list[dict[str, Any]]) -> dict[str, Any]:
        return {"name": name, "interval": f"{step}m", "input_series": series, "alert_rule_test": checks}

    slow_s = _short(t.drill_max_duration_hours * 3600)
    last_run = "webstack_backup_drill_last_run_timestamp_seconds"
    tests = [
        test(
            "BackupDrillFailed: fires while the last drill failed, clears when one passes",
            [
                _series("webstack_backup_drill_last_run_success", node, "1 1 0 0 1 1"),
                _series("webstack_backup_drill_last_run_success", other, _flat(1, 5)),
            ],
            [
                check(1, "BackupDrillFailed", []),
                check(2, "BackupDrillFailed", [exp("BackupDrillFailed", node, 0)]),
                check(4, "BackupDrillFailed", []),
            ],
        ),
        test(
            f"BackupDrillTooOld: the last passing drill at 0 goes stale after {drill_max_age_hours}h (for 5m), "
            "a fresh one never",
            [
                _series("webstack_backup_drill_last_success_timestamp_seconds", node, _flat(0, steps)),
                _series("webstack_backup_drill_last_success_timestamp_seconds", other, _ramp(step * 60, steps)),
                _series(last_run, node, _ramp(step * 60, steps)),
            ],
            [
                check(limit, "BackupDrillTooOld", []),
                check(limit + 2, "BackupDrillTooOld", [exp("BackupDrillTooOld", node, (limit + 2) * step * 60)]),
                check(limit + 2, "BackupDrillMissing", []),
            ],
        ),
        test(
            f"BackupDrillMissing: no drill metric at all for {drill_max_age_hours}h",
            [_series("up", node, _flat(1, steps))],
            [
                check(limit - 1, "BackupDrillMissing", []),
                check(limit + 1, "BackupDrillMissing", [exp("BackupDrillMissing", {}, 1)]),
            ],
        ),
        test(
            f"BackupDrillSlow: a drill longer than {_num(t.drill_max_duration_hours)}h warns, a quicker one not",
            [
                _series("webstack_backup_drill_duration_seconds", node, _flat(slow_s + 60, 3)),
                _series("webstack_backup_drill_duration_seconds", other, _flat(slow_s - 60, 3)),
            ],
            [check(1, "BackupDrillSlow", [exp("BackupDrillSlow", node, slow_s + 60)])],
        ),
    ]
    return _dump({"rule_files": [rule_file], "evaluation_interval": f"{step}m", "tests": tests})
