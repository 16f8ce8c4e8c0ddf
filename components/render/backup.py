"""backup.sh and restore.sh for the BackupJob component. Pure: no Pulumi import.

The scripts are bash, rendered from Jinja2 templates (StrictUndefined, every value quoted
for the shell with `shquote`), and run by a schedule on the backup host, in a container
or on the host itself. They need: bash 4+, coreutils, util-linux `flock`, `restic`, and
per target `pg_dump`/`pg_restore` (postgres), `mongodump`/`mongorestore` 100.3+ (mongodb),
`redis-cli` (redis; restore also needs `redis-server` at least as new as the Redis that
was backed up, to load the RDB file).

Secrets are never in the script text: the scripts read them from the environment
(`render_backup_env_names`), and keep them out of process arguments too (the password of
DATABASE_URL goes to PGPASSWORD or to a mongo `--config` file; redis-cli reads
REDISCLI_AUTH).

backup.sh: lock, open (or, only when it does not exist, init) the repository, dump the
database and Redis into `work_dir`, `restic backup` each target tagged with the stack and
the target name, `restic forget --prune` by the retention, `restic check
--read-data-subset`, then the freshness metrics for node-exporter's textfile collector.
Targets are `database`, `redis` and `volume:<name>`; one failing target does not stop the
others, but the run exits non-zero.

restore.sh <target> [snapshot-id|latest]: restores the target's snapshot into a temp
directory first and only touches live data once that succeeded. database: pg_restore
--clean --if-exists in one transaction, or mongorestore --drop. redis: the RDB file is
loaded into a private temporary redis-server on a unix socket, and every key is copied
into the live Redis (REDIS_HOST/REDIS_PORT, or the primary REDIS_SENTINELS name) with
DUMP / RESTORE ... REPLACE, TTLs kept;
keys that are not in the snapshot are left alone. volume: the directory's contents are
replaced by the snapshot's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from components.config import BackupConfig, RetentionConfig
from components.render.shell import shell_templates

DEFAULT_WORK_DIR = "/var/lib/webstack-backup"
METRICS_FILE = "webstack_backup.prom"

_TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_SUBSET_RE = re.compile(r"^(([1-9][0-9]?|100)%|[1-9][0-9]*/[1-9][0-9]*)$")
_REPOSITORY_PREFIXES = ("/", "s3:", "sftp:", "rest:", "b2:", "azure:", "gs:")
_URL_CREDENTIALS_RE = re.compile(r"://[^/@]*:[^/@]*@")
_SAFE_PATH_RE = re.compile(r"^/[^\0\n]*$")


@dataclass(frozen=True)
class BackupSpec:
    stack: str  # restic --host and a tag on every snapshot, e.g. "production"
    repository: str  # restic repository: an absolute path, or s3:..., sftp:..., rest:... (no credentials)
    retention: RetentionConfig  # keep daily, weekly, monthly
    database: Literal["none", "postgres", "mongodb"]
    redis: bool  # back up Redis (redis-cli --rdb against REDIS_HOST/REDIS_PORT)
    volume_paths: dict[str, str]  # volume name -> path of the mounted volume to back up
    verify_subset: str  # restic check --read-data-subset, e.g. "5%"
    textfile_dir: str | None  # node-exporter textfile collector dir (None: no metrics)
    work_dir: str = DEFAULT_WORK_DIR  # scratch for dumps and restores, and the lock file

    def __post_init__(self) -> None:
        if not _TAG_RE.match(self.stack):
            raise ValueError(f"stack {self.stack!r}: letters, digits, '.', '_' and '-' only (a restic host and tag)")
        if not self.repository.startswith(_REPOSITORY_PREFIXES):
            raise ValueError(
                f"repository {self.repository!r}: an absolute path, or s3:, sftp:, rest:, b2:, azure:, gs:"
            )
        if _URL_CREDENTIALS_RE.search(self.repository) or "\n" in self.repository:
            raise ValueError("repository must not carry credentials: pass them in the environment")
        if self.database not in ("none", "postgres", "mongodb"):
            raise ValueError(f"database {self.database!r}: one of none, postgres, mongodb")
        if not _SUBSET_RE.match(self.verify_subset):
            raise ValueError(f"verify_subset {self.verify_subset!r}: a percentage such as '5%' or 'n/t'")
        for label, path in (("work_dir", self.work_dir), ("textfile_dir", self.textfile_dir)):
            if path is not None and (not _SAFE_PATH_RE.match(path) or path.rstrip("/") == ""):
                raise ValueError(f"{label} {path!r}: an absolute path below /")
        for name, path in self.volume_paths.items():
            if not _TAG_RE.match(name):
                raise ValueError(f"volume name {name!r}: letters, digits, '.', '_' and '-' only")
            if not _SAFE_PATH_RE.match(path) or path.rstrip("/") == "":
                raise ValueError(f"volume {name}: path {path!r} must be an absolute path below /")
        if not (self.database != "none" or self.redis or self.volume_paths):
            raise ValueError("nothing to back up: no database, no redis and no volumes")

    @classmethod
    def from_config(
        cls,
        stack: str,
        config: BackupConfig,
        *,
        volume_root: str = "/volumes",
        textfile_dir: str | None = None,
        work_dir: str = DEFAULT_WORK_DIR,
    ) -> BackupSpec:
        """A spec from the stack's `backup` config: each volume is mounted at volume_root/<name>."""
        root = volume_root.rstrip("/")
        return cls(
            stack=stack,
            repository=config.repository,
            retention=config.retention,
            database=config.database,
            redis=config.redis,
            volume_paths={name: f"{root}/{name}" for name in config.volumes},
            verify_subset=config.verify_subset,
            textfile_dir=textfile_dir,
            work_dir=work_dir,
        )

    @property
    def volumes(self) -> tuple[tuple[str, str], ...]:
        """(name, path) of each volume, sorted by name."""
        return tuple(sorted((name, path.rstrip("/")) for name, path in self.volume_paths.items()))

    @property
    def targets(self) -> list[str]:
        """The backup targets, each a restic tag and a metric label: database, redis, volume:<name>."""
        targets = ["database"] if self.database != "none" else []
        if self.redis:
            targets.append("redis")
        targets += [f"volume:{name}" for name, _ in self.volumes]
        return targets

    @property
    def s3(self) -> bool:
        return self.repository.startswith("s3:")

    @property
    def sftp(self) -> bool:
        return self.repository.startswith("sftp:")


def render_backup_env_names(spec: BackupSpec) -> list[str]:
    """The environment variables the scripts read, for the component to pass (all secret or host-specific).

    RESTIC_PASSWORD may be replaced by RESTIC_PASSWORD_FILE (a path to a file holding it);
    REDISCLI_AUTH may be left unset for a Redis without a password; REDIS_SENTINELS and
    REDIS_SENTINEL_MASTER are optional (restore then writes to the primary they name).
    """
    names = ["RESTIC_PASSWORD"]
    if spec.database != "none":
        names.append("DATABASE_URL")
    if spec.redis:
        names += ["REDIS_HOST", "REDIS_PORT", "REDISCLI_AUTH"]
    if spec.s3:
        names += ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    if spec.sftp:
        names.append("RESTIC_SFTP_KEY")
    return names


def render_backup_script(spec: BackupSpec) -> str:
    """backup.sh: dump, back up, prune, verify, and write the freshness metrics."""
    return _render("backup.sh.j2", spec)


def render_restore_script(spec: BackupSpec) -> str:
    """restore.sh <target> [snapshot-id|latest]: restore one target from the repository."""
    return _render("restore.sh.j2", spec)


def _render(template: str, spec: BackupSpec) -> str:
    context: Mapping[str, object] = {
        "spec": spec,
        "targets": spec.targets,
        "volumes": spec.volumes,
        "env_names": render_backup_env_names(spec),
        "metrics_file": METRICS_FILE,
    }
    return shell_templates().get_template(f"backup/{template}").render(**context)
