"""`webstack:backup.drill` and the drill thresholds: defaults, the schedule's longest gap,
and every bad value stopped before any resource, naming the stack, the key and what is allowed."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from components.config import ConfigError, StackConfig
from components.config.backup_drill import DEFAULT_DRILL_SCHEDULE, DrillConfig, longest_gap_minutes
from components.config.stackfile import read_stack_file
from components.load import load_stack_config
from components.render.backup import BackupSpec
from components.render.backup_drill import DrillSpec, render_drill_script

Mutation = Callable[[dict[str, Any]], None]


def load(stack: str, mutate: Mutation | None = None) -> StackConfig:
    raw, secrets = read_stack_file(stack)
    raw = copy.deepcopy(raw)
    if mutate is not None:
        mutate(raw)
    return load_stack_config(stack, raw, secrets, placeholder_secrets=True)


def drill(**values: Any) -> Mutation:
    def mutate(raw: dict[str, Any]) -> None:
        raw["webstack:backup"] = {**raw["webstack:backup"], "drill": values}

    return mutate


def backup(**values: Any) -> Mutation:
    def mutate(raw: dict[str, Any]) -> None:
        raw["webstack:backup"] = {**raw["webstack:backup"], **values}

    return mutate


def thresholds(**values: Any) -> Mutation:
    def mutate(raw: dict[str, Any]) -> None:
        monitoring = dict(raw["webstack:monitoring"])
        monitoring["thresholds"] = {**monitoring.get("thresholds", {}), **values}
        raw["webstack:monitoring"] = monitoring

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(raw: dict[str, Any]) -> None:
        for m in mutations:
            m(raw)

    return mutate


@pytest.mark.parametrize("stack", ["local", "staging", "production"])
def test_every_stack_drills_weekly_by_default(stack: str) -> None:
    config = load(stack)
    assert config.drills
    assert config.backup.drill == DrillConfig()
    assert config.backup.drill.schedule == DEFAULT_DRILL_SCHEDULE == "0 4 * * 0"
    assert config.drill_max_age_hours() == 7 * 24 + 24
    assert config.monitoring.thresholds.drill_max_duration_hours == 4


def test_drills_follow_backups_unless_set() -> None:
    assert not load("production", backup(enabled=False)).drills
    assert not load("production", drill(enabled=False)).drills
    monthly = load("production", drill(schedule="30 3 1 * *"))
    assert monthly.drill_max_age_hours() == 31 * 24 + 24
    assert load("production", thresholds(drillMaxAgeHours=900)).drill_max_age_hours() == 900


@pytest.mark.parametrize(
    ("expression", "minutes"),
    [
        ("0 4 * * 0", 7 * 1440),
        ("0 4 * * 7", 7 * 1440),  # 7 is Sunday too
        ("0 2 * * *", 1440),
        ("*/15 * * * *", 15),
        ("0 9-17 * * 1-5", 1440 * 3 - 8 * 60),  # Friday 17:00 to Monday 09:00
        ("0 4 1 * *", 31 * 1440),
        ("0 4 1,15 * 1", 7 * 1440),  # cron: the 1st, the 15th, or a Monday
        ("0 4 29 2 *", 4 * 365 * 1440 + 1440),
        ("5/20 3 * * 0", 7 * 1440 - 40),
    ],
)
def test_longest_gap(expression: str, minutes: int) -> None:
    assert longest_gap_minutes(expression) == minutes


# (mutation, the key the error must name, a phrase of what is allowed)
BAD: list[tuple[Mutation, str, str]] = [
    (drill(schedule="weekly"), "webstack:backup.drill.schedule", "five-field cron"),
    (drill(schedule="0 4 * * 8"), "webstack:backup.drill.schedule", "day of week 0-7"),
    (drill(schedule="60 4 * * 0"), "webstack:backup.drill.schedule", "minute 0-59"),
    (drill(schedule="0 4 31 2 *"), "webstack:backup.drill.schedule", "at least twice in eight years"),
    (drill(schedule="0 4 */0 * *"), "webstack:backup.drill.schedule", "five-field cron"),
    (drill(schedule="0 4 * *"), "webstack:backup.drill.schedule", "five-field cron"),
    (drill(enabled="yes please"), "webstack:backup.drill.enabled", "true or false"),
    (drill(redis={"tolerancePercent": 150}), "webstack:backup.drill.redis.tolerancePercent", "<= 100"),
    (drill(redis={"tolerancePercent": -1}), "webstack:backup.drill.redis.tolerancePercent", ">= 0"),
    (drill(redis={"question": "DBSIZE"}), "webstack:backup.drill.redis.question", "enabled, tolerancePercent"),
    (drill(scratchMinMb=0), "webstack:backup.drill.scratchMinMb", ">= 1"),
    (drill(scratchMinMb="lots"), "webstack:backup.drill.scratchMinMb", "an integer"),
    (drill(keepRecords=0), "webstack:backup.drill.keepRecords", ">= 1"),
    (drill(keepRecords=100_000), "webstack:backup.drill.keepRecords", "<= 10000"),
    (drill(retention=3), "webstack:backup.drill.retention", "keepRecords"),
    (drill(volumes={"enabled": True}), "webstack:backup.drill.volumes.enabled", "backup.volumes is empty"),
    (both(backup(redis=False), drill(redis={"enabled": True})), "webstack:backup.drill.redis.enabled", "backup.redis"),
    (
        both(backup(enabled=False), drill(enabled=True)),
        "webstack:backup.drill.enabled",
        "backup.enabled is false",
    ),
    (
        both(backup(redis=False, database="none", volumes=[]), drill()),
        "webstack:backup.drill",
        "checks nothing",
    ),
    (drill(database={"enabled": False}, redis={"enabled": False}), "webstack:backup.drill", "checks nothing"),
    (thresholds(drillMaxAgeHours=168), "webstack:monitoring.thresholds.drillMaxAgeHours", "168h"),
    (
        both(drill(schedule="0 4 1 * *"), thresholds(drillMaxAgeHours=200)),
        "webstack:monitoring.thresholds.drillMaxAgeHours",
        "'0 4 1 * *' (744h)",
    ),
    (thresholds(drillMaxAgeHours=0), "webstack:monitoring.thresholds.drillMaxAgeHours", ">= 1"),
    (thresholds(drillMaxDurationHours=0), "webstack:monitoring.thresholds.drillMaxDurationHours", "> 0"),
]


@pytest.mark.parametrize(("mutate", "key", "allowed"), BAD, ids=[f"{i}-{key}" for i, (_, key, _) in enumerate(BAD)])
def test_bad_drill_values_stop_with_the_key(mutate: Mutation, key: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as error:
        load("production", mutate)
    assert error.value.keys == [key], str(error.value)
    message = str(error.value)
    assert "stack 'production'" in message and allowed in message, message


def test_a_stack_without_backups_may_say_nothing_about_drills() -> None:
    config = load("production", backup(enabled=False))
    assert not config.drills


def test_the_drill_spec_follows_the_config() -> None:
    config = load("staging")
    spec = BackupSpec.from_config("staging", config.backup, textfile_dir="/textfile")
    drill_spec = DrillSpec.from_config(spec, config.backup.drill)
    assert drill_spec.targets == spec.targets  # every data set the backup holds
    assert drill_spec.redis_tolerance_percent == 10 and drill_spec.keep_records == 52
    off = DrillConfig.model_validate({"redis": {"enabled": False}, "volumes": {"enabled": False}})
    if spec.database != "none":
        assert DrillSpec.from_config(spec, off).targets == ["database"]
    text = render_drill_script(drill_spec)
    assert text.startswith("#!/usr/bin/env bash\n") and "0 4 * * 0" in text
