"""production-restore-drill on hand-built resources and stack configs."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.config.stackfile import read_stack_file
from policy.drill_rules import production_restore_drill
from policy.stack_config import config_source
from tests.policy.helpers import Reports, stack_args

CONTAINER = "docker:index/container:Container"
CRONTAB = (
    "0 2 * * * . /run/webstack-backup.env && /etc/webstack-backup/backup.sh >> /proc/1/fd/1 2>&1\n"
    "0 4 * * 0 . /run/webstack-backup.env && /etc/webstack-backup/drill.sh >> /proc/1/fd/1 2>&1\n"
)


def runner(crontab: str | None = CRONTAB, drill: bool = True) -> list[tuple[str, str, dict[str, Any]]]:
    files: list[dict[str, Any]] = [{"file": "/etc/webstack-backup/backup.sh", "content": "restic backup"}]
    if drill:
        files.append({"file": "/etc/webstack-backup/drill.sh", "content": "restic restore"})
    if crontab is not None:
        files.append({"file": "/etc/webstack-backup/crontabs/root", "content": crontab})
    props = {
        "name": "webstack-production-backup",
        "envs": ["RESTIC_REPOSITORY=s3:https://s3/b", "TZ=UTC"],
        "uploads": files,
    }
    return [
        (CONTAINER, "app-backend-0", {"envs": ["WEBSTACK_ENVIRONMENT=production"]}),
        ("webstack:backup:BackupJob", "backup", {}),
        (CONTAINER, "backup-runner", props),
    ]


def production_config(**drill: Any) -> dict[str, Any]:
    raw, _ = read_stack_file("production")
    raw = copy.deepcopy(raw)
    if drill:
        raw["webstack:backup"] = {**raw["webstack:backup"], "drill": drill}
    return raw


def check(
    resources: list[tuple[str, str, dict[str, Any]]],
    config: dict[str, Any] | None = None,
    pack: dict[str, Any] | None = None,
) -> Reports:
    reports = Reports()
    settings = {"requireRunner": True} | (pack or {})
    with config_source(config if config is not None else production_config(), set()):
        production_restore_drill(stack_args(resources, config=settings), reports)
    return reports


def test_a_runner_that_drills_weekly_passes() -> None:
    assert not check(runner())


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (production_config(enabled=False), "backup.drill.enabled is false"),
        (production_config(schedule="0 4 1 */2 *"), "more than the 31 days allowed"),
        ({**production_config(), "webstack:backup": {"repository": "/r", "enabled": False}}, "nothing is backed up"),
        ({k: v for k, v in production_config().items() if k != "webstack:backup"}, "webstack:backup is not set"),
        ({**production_config(), "webstack:backup": {"repository": 3}}, "webstack:backup is invalid"),
    ],
    ids=["drills-off", "every-two-months", "backups-off", "no-backup-key", "invalid"],
)
def test_the_stack_config_must_drill(config: dict[str, Any], message: str) -> None:
    reports = check(runner(), config)
    assert len(reports.messages) == 1 and message in reports.text(), reports.text()
    assert "fix: webstack:backup.drill" in reports.text()


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        (runner(drill=False), "has no drill.sh"),
        (runner(crontab=CRONTAB.splitlines()[0] + "\n"), "no crontab line runs /etc/webstack-backup/drill.sh"),
        (runner(crontab=None), "has no crontab to run drill.sh"),
        (runner(crontab="# 0 4 * * 0 /etc/webstack-backup/drill.sh\n"), "no crontab line runs"),
        (runner(crontab="0 4 1 1 * /etc/webstack-backup/drill.sh\n"), "366 days apart"),  # a leap year
        (runner()[:2], "no backup runner runs drill.sh"),
    ],
    ids=["no-script", "not-scheduled", "no-crontab", "commented-out", "yearly", "no-runner"],
)
def test_the_runner_must_run_drill_sh(resources: list[tuple[str, str, dict[str, Any]]], message: str) -> None:
    reports = check(resources)
    assert message in reports.text(), reports.text()
    # the same resources pass when only the stack config is asked for
    assert not check(resources, pack={"requireRunner": False})


def test_settings_environments_and_the_interval() -> None:
    yearly = runner(crontab="0 4 1 1 * /etc/webstack-backup/drill.sh\n")
    assert not check(yearly, pack={"maxIntervalDays": 366})
    staging = [
        (t, n, {**p, "envs": ["WEBSTACK_ENVIRONMENT=staging"]}) if n == "app-backend-0" else (t, n, p)
        for t, n, p in yearly
    ]
    assert not check(staging, production_config(enabled=False))
    assert check(staging, production_config(enabled=False), pack={"environments": ["staging", "production"]})


def test_a_kubernetes_cronjob_that_drills() -> None:
    def cronjob(schedule: str, command: list[str], name: str = "backup-drill") -> tuple[str, str, dict[str, Any]]:
        container = {"name": "drill", "command": command, "env": [{"name": "RESTIC_REPOSITORY", "value": "s3:x"}]}
        return (
            "kubernetes:batch/v1:CronJob",
            name,
            {
                "spec": {
                    "schedule": schedule,
                    "jobTemplate": {"spec": {"template": {"spec": {"containers": [container]}}}},
                }
            },
        )

    base = [(CONTAINER, "app-backend-0", {"envs": ["WEBSTACK_ENVIRONMENT=production"]})]
    backup = cronjob("0 2 * * *", ["bash", "-c", "/etc/webstack-backup/backup.sh"], name="backup")
    drill = cronjob("0 4 * * 0", ["bash", "-c", "rc=0; /etc/webstack-backup/drill.sh || rc=$?; exit $rc"])
    assert not check([*base, drill])
    assert not check([*base, backup, drill])
    assert "62 days apart" in check([*base, cronjob("0 4 1 */2 *", ["bash", "/scripts/drill.sh"])]).text()
    # A backup CronJob and no drill CronJob beside it: nothing drills (no exemption any more).
    reports = check([*base, backup])
    assert len(reports.messages) == 1, reports.text()
    assert "no backup runner runs drill.sh: kubernetes:batch/v1:CronJob 'backup'" in reports.text()
    assert "has no drill CronJob beside it" in reports.text()
    assert not check([*base, backup], pack={"requireRunner": False})
    # A drill that is a bare Job, not scheduled.
    job = ("kubernetes:batch/v1:Job", "drill-once", {"spec": drill[2]["spec"]["jobTemplate"]["spec"]})
    assert "runs drill.sh but is not a scheduled CronJob" in check([*base, backup, job]).text()
    # No backup runner at all: nothing runs drill.sh.
    assert "no backup runner runs drill.sh" in check(base).text()
