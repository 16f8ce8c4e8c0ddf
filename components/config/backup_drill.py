"""`webstack:backup.drill`: restore drills of the backups, on a schedule, with evidence (issue #18).

Pure: no Pulumi import. On its schedule (cron, UTC; weekly by default) the backup host
restores the latest snapshot of each data set into scratch targets that never touch live
data, checks what came back, removes the scratch targets and writes an evidence record
(components/render/backup_drill.py renders the script; docs/backup-drills.md says what
each check proves).

- `redis`: the snapshot's RDB file loaded into a throwaway redis-server (a unix socket in
  the scratch directory, no TCP port) has a key count within `tolerancePercent` of the live
  Redis' (read with INFO, nothing written);
- `volumes`: each volume's snapshot restored into the scratch directory matches, file by
  file, the sha256 of the same files streamed out of the repository by `restic dump`, and
  the snapshot's own listing (paths, `restic ls`);
- `database`: postgres: the dump restored into a throwaway PostgreSQL cluster (initdb in
  the scratch directory, a unix socket only) with its tables counted; mongodb: the archive
  is a complete gzip stream (no MongoDB server in the image to restore into).

Checks across keys (a check of a data set the backup does not hold, the alert's age
threshold against the schedule's longest gap) are in `drill_problems`, called by
components/config/checks.py with the key each problem names. The schedule's longest gap is
computed here too (`longest_gap_minutes`), for the config, the alert and the policy pack.
"""

from __future__ import annotations

import itertools
import re
from datetime import date, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

DEFAULT_DRILL_SCHEDULE = "0 4 * * 0"  # Sundays 04:00 UTC: after the nightly backup at 02:00
# How far ahead the schedule is expanded to find its longest gap: eight years hold every
# weekday of every date, leap days included (a schedule on 29 February fires twice).
_HORIZON_START = date(2024, 1, 1)
_HORIZON_DAYS = (date(2032, 1, 1) - _HORIZON_START).days

_CRON_PART_RE = re.compile(r"^(\*|(\d+)(-(\d+))?)(/(\d+))?$")
# (name, lowest, highest) of each cron field; day of week 7 is Sunday as 0 is.
_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
CRON_RULES = (
    "a five-field cron expression (minute 0-59, hour 0-23, day of month 1-31, month 1-12, day of week 0-7; "
    "each *, a number, a range a-b, a step /n, or a list of those), such as '0 4 * * 0'"
)


def _expand(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        match = _CRON_PART_RE.fullmatch(part)
        if match is None:
            raise ValueError(CRON_RULES)
        if match.group(1) == "*":
            first, last = low, high
        else:
            first = int(match.group(2))
            last = int(match.group(4)) if match.group(4) is not None else first
            if match.group(6) is not None and match.group(4) is None:
                last = high  # "5/15": from 5 to the end, every 15
        step = int(match.group(6)) if match.group(6) is not None else 1
        if not (low <= first <= last <= high) or step < 1:
            raise ValueError(CRON_RULES)
        values.update(range(first, last + 1, step))
    return frozenset(values)


def cron_fields(expression: str) -> tuple[frozenset[int], ...]:
    """The values each of the five fields allows; ValueError (CRON_RULES) for a bad expression."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(CRON_RULES)
    return tuple(_expand(text, low, high) for text, (_, low, high) in zip(fields, _CRON_FIELDS, strict=True))


def longest_gap_minutes(expression: str) -> int | None:
    """The longest time between two consecutive runs of a cron schedule, in minutes; None when
    it runs on fewer than two days in eight years. Cron's rule: when both the day of month and the
    day of week are restricted, a day matching either runs."""
    minutes, hours, days, months, weekdays = cron_fields(expression)
    dom_all, dow_all = expression.split()[2] == "*", expression.split()[4] == "*"
    weekdays = frozenset(d % 7 for d in weekdays)
    day_minutes = sorted(h * 60 + m for h in hours for m in minutes)
    running: list[int] = []
    for offset in range(_HORIZON_DAYS):
        day = _HORIZON_START + timedelta(days=offset)
        if day.month not in months:
            continue
        by_dom, by_dow = day.day in days, (day.isoweekday() % 7) in weekdays
        if (by_dom and by_dow) if (dom_all or dow_all) else (by_dom or by_dow):
            running.append(offset)
    if len(running) < 2:
        return None
    within = max((b - a for a, b in itertools.pairwise(day_minutes)), default=0)
    across = max(
        ((b - a) * 1440 + day_minutes[0] - day_minutes[-1] for a, b in itertools.pairwise(running)),
        default=0,
    )
    return max(within, across)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


class DrillRedisCheck(_Model):
    """The restored RDB's key count against the live Redis' (INFO keyspace, all databases)."""

    enabled: bool = True
    # Keys come and go between the backup and the drill (sessions, caches with a TTL): the
    # restored count may differ from the live one by this share of the live count.
    tolerance_percent: Annotated[float, Field(ge=0, le=100)] = 10


class DrillVolumesCheck(_Model):
    """Each backed-up volume restored into scratch, compared file by file with the repository."""

    enabled: bool = True


class DrillDatabaseCheck(_Model):
    """postgres: the dump restored into a throwaway cluster; mongodb: the archive read through."""

    enabled: bool = True


class DrillConfig(_Model):
    # Default: on whenever backups are (None here: decided with backup.enabled, `effective`).
    enabled: bool | None = None
    schedule: str = DEFAULT_DRILL_SCHEDULE
    redis: DrillRedisCheck = DrillRedisCheck()
    volumes: DrillVolumesCheck = DrillVolumesCheck()
    database: DrillDatabaseCheck = DrillDatabaseCheck()
    # Free space the scratch directory must have beyond the snapshots' restore size.
    scratch_min_mb: Annotated[int, Field(ge=1, le=10_485_760)] = 1024
    # Evidence records kept, on the host and in the repository (a year of weekly drills).
    keep_records: Annotated[int, Field(ge=1, le=10_000)] = 52

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        cron_fields(value)
        if longest_gap_minutes(value) is None:
            raise ValueError(f"{CRON_RULES}, that runs at least twice in eight years")
        return value

    def effective(self, backups: bool) -> bool:
        """Whether drills run: `enabled` when set, else whenever backups do."""
        return backups if self.enabled is None else self.enabled and backups


def drill_problems(
    drill: DrillConfig,
    *,
    backups: bool,
    redis: bool,
    volumes: bool,
    database: str,
    max_age_hours: int | None,
) -> list[tuple[str, str]]:
    """(key under webstack:, detail) for what the model alone cannot see.

    `backups`, `redis`, `volumes`, `database`: what backup holds (enabled, redis, any volumes,
    none/postgres/mongodb); `max_age_hours`: monitoring.thresholds.drillMaxAgeHours.
    """
    problems: list[tuple[str, str]] = []
    if drill.enabled and not backups:
        problems.append(
            ("backup.drill.enabled", "got true but backup.enabled is false; allowed: false, or backups enabled")
        )
    if not drill.effective(backups):
        return problems
    held = {"redis": redis, "volumes": volumes, "database": database != "none"}
    what = {
        "redis": "backup.redis is false",
        "volumes": "backup.volumes is empty",
        "database": "backup.database is none",
    }
    for name, check in (("redis", drill.redis), ("volumes", drill.volumes), ("database", drill.database)):
        if "enabled" in check.model_fields_set and check.enabled and not held[name]:
            problems.append(
                (
                    f"backup.drill.{name}.enabled",
                    f"got true but {what[name]}, so no snapshot holds it; allowed: false, or back it up",
                )
            )
    if not any(held[name] and check.enabled for name, check in held_checks(drill)):
        problems.append(
            (
                "backup.drill",
                "checks nothing: every check is off or its data set is not backed up; allowed: at least one of "
                "redis, volumes, database enabled for a data set the backup holds, or enabled: false",
            )
        )
    gap = longest_gap_minutes(drill.schedule)
    if max_age_hours is not None and gap is not None and max_age_hours * 60 <= gap:
        problems.append(
            (
                "monitoring.thresholds.drillMaxAgeHours",
                f"got {max_age_hours}; allowed: more than the longest gap between two drills of backup.drill.schedule "
                f"{drill.schedule!r} ({_hours(gap)}), or the alert fires between every two drills",
            )
        )
    return problems


def held_checks(drill: DrillConfig) -> tuple[tuple[str, DrillRedisCheck | DrillVolumesCheck | DrillDatabaseCheck], ...]:
    return (("redis", drill.redis), ("volumes", drill.volumes), ("database", drill.database))


def _hours(minutes: int) -> str:
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes / 60:.1f}h"
