"""`webstack:backup`: the restic backup (schedule, repository, retention, what it holds).

Pure: no Pulumi import. Its restore drills are `backup.drill` (components/config/backup_drill.py);
the drill's checks against the rest of the backup, and the backup host, are checked in
components/config/checks.py.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from components.config.backup_drill import DrillConfig
from components.config.base import CRON_FIELD_RE, Model, Name


class RetentionConfig(Model):
    daily: Annotated[int, Field(ge=1, le=3650)] = 7
    weekly: Annotated[int, Field(ge=0, le=520)] = 4
    monthly: Annotated[int, Field(ge=0, le=120)] = 6


class BackupConfig(Model):
    enabled: bool = True
    host: Name | None = None  # required on platform docker, not used on kubernetes
    schedule: str = "0 2 * * *"
    repository: Annotated[str, Field(min_length=1)]
    retention: RetentionConfig = RetentionConfig()
    database: Literal["none", "postgres", "mongodb"] = "none"
    redis: bool = True
    volumes: list[Literal["grafana", "prometheus", "alertmanager"]] = Field(default_factory=list)
    verify_subset: Annotated[str, Field(pattern=r"^([1-9][0-9]?|100)%$")] = "5%"
    drill: DrillConfig = DrillConfig()  # restore drills on a schedule (components/config/backup_drill.py)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != 5 or not all(CRON_FIELD_RE.match(f) for f in fields):
            raise ValueError("a five-field cron expression such as '0 2 * * *'")
        return value

    @field_validator("repository")
    @classmethod
    def _repo(cls, value: str) -> str:
        if not (value.startswith(("/", "s3:", "sftp:", "rest:", "b2:", "azure:", "gs:"))):
            raise ValueError("a restic repository: an absolute path, or s3:, sftp:, rest:, b2:, azure:, gs:")
        return value

    @property
    def offsite(self) -> bool:
        return not self.repository.startswith("/")
