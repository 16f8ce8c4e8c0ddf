"""The restore drills' alert rules (webstack-backup-drills), checked by Debian's promtool.

The rules and their promtool tests come from the same thresholds and the same drill age
limit; the tests are tied to them (rules for another limit fail them). The group is there
only when asked for: the default rule file is unchanged.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from components.config import Thresholds
from components.render import monitoring as m

from .test_monitoring_rendered import promtool

__all__ = ["promtool"]  # the fixture, used here by name

pytestmark = pytest.mark.timeout(300)

DRILL_ALERTS = {"BackupDrillFailed", "BackupDrillTooOld", "BackupDrillMissing", "BackupDrillSlow"}


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=240, check=False)


def alerts(text: str) -> dict[str, dict[str, object]]:
    return {
        rule["alert"]: rule
        for group in yaml.safe_load(text)["groups"]
        if group["name"] == "webstack-backup-drills"
        for rule in group["rules"]
    }


@pytest.mark.parametrize(
    ("thresholds", "max_age_hours"),
    [(Thresholds(), 192), (Thresholds(drill_max_duration_hours=0.5), 7)],
    ids=["weekly-defaults", "custom"],
)
def test_rules_load_and_their_tests_pass(
    promtool: str, tmp_path: Path, thresholds: Thresholds, max_age_hours: int
) -> None:
    rules = m.render_alert_rules(thresholds, environment="production", drill_max_age_hours=max_age_hours)
    (tmp_path / "alerts.yml").write_text(rules)
    tests = m.render_drill_alert_rule_tests(
        thresholds, rule_file="alerts.yml", environment="production", drill_max_age_hours=max_age_hours
    )
    (tmp_path / "drill_test.yml").write_text(tests)
    checked = run([promtool, "check", "rules", "alerts.yml"], tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = run([promtool, "test", "rules", "drill_test.yml"], tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    found = alerts(rules)
    assert set(found) == DRILL_ALERTS
    assert f"> {max_age_hours} * 3600" in str(found["BackupDrillTooOld"]["expr"])
    assert found["BackupDrillMissing"]["for"] == f"{max_age_hours}h"
    # every alert of the group has a case that fires in the tests
    fired = {
        check["alertname"]
        for case in yaml.safe_load(tests)["tests"]
        for check in case["alert_rule_test"]
        if check["exp_alerts"]
    }
    assert fired == DRILL_ALERTS


def test_the_tests_fail_against_rules_for_another_age(promtool: str, tmp_path: Path) -> None:
    (tmp_path / "alerts.yml").write_text(
        m.render_alert_rules(Thresholds(), environment="production", drill_max_age_hours=96)
    )
    (tmp_path / "drill_test.yml").write_text(
        m.render_drill_alert_rule_tests(
            Thresholds(), rule_file="alerts.yml", environment="production", drill_max_age_hours=192
        )
    )
    result = run([promtool, "test", "rules", "drill_test.yml"], tmp_path)
    assert result.returncode != 0
    assert "BackupDrillTooOld" in result.stdout + result.stderr


def test_the_group_is_there_only_when_asked_for() -> None:
    default = m.render_alert_rules(Thresholds(), environment="production")
    assert "BackupDrill" not in default and "webstack-backup-drills" not in default
    with_drills = m.render_alert_rules(Thresholds(), environment="production", drill_max_age_hours=192)
    # the other groups are byte for byte the same; the drills' group comes last
    assert with_drills.startswith(default.rstrip("\n").removesuffix("\n"))
    groups = [g["name"] for g in yaml.safe_load(with_drills)["groups"]]
    assert groups[-1] == "webstack-backup-drills" and groups[:-1] == [
        g["name"] for g in yaml.safe_load(default)["groups"]
    ]
    no_backups = m.render_alert_rules(Thresholds(), environment="production", backups=False, drill_max_age_hours=192)
    assert "BackupDrill" not in no_backups
