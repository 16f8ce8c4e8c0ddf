"""drill.sh: the restore drill of the backups (issue #18). Pure: no Pulumi import.

The backup host runs it on `backup.drill.schedule` beside backup.sh, from the same
templates' helpers (templates/backup/_common.sh.j2, _scratch_redis.sh.j2) and with the
same environment (`render_drill_env_names`). It takes the backup lock (waiting up to
`lock_wait_s` for a backup to finish), opens the repository, checks there is scratch space
for the largest snapshot plus `scratch_min_mb`, then per data set restores the latest
snapshot into a scratch directory under the work dir and checks it:

- redis: the RDB file loaded into a throwaway redis-server (unix socket in the scratch
  directory, no TCP port); its key count is within `redis_tolerance_percent` of the live
  Redis' (INFO keyspace: read only);
- volume:<name>: `restic restore --verify`, the restored paths against the snapshot's
  listing (`restic ls`), and the sha256 of every restored file against the same file read
  out of the repository a second time by `restic dump` (unpacked beside the restore: the
  scratch space check counts a volume twice);
- database: postgres: the dump is a readable pg_dump archive (`pg_restore --list`), and
  (`postgres_scratch`) restores into a throwaway PostgreSQL cluster (initdb in the scratch
  directory, a unix socket only, run as the postgres user) with as many tables as the
  archive lists, its rows counted; mongodb: the archive is a complete gzip stream (no
  MongoDB server in Debian to restore into).

It removes the scratch directory, then writes an evidence record (JSON: when, each target
with its snapshot and checks, duration, bytes restored, restic version) into
`records_dir` on the host (the last `keep_records` kept) and into the repository as a
snapshot of its own, host the stack, tag `webstack-drill` (and `passed` or `failed`),
which backup.sh's retention (tag the stack) never touches; the drill forgets all but the
last `keep_records` of them. Metrics for node-exporter's textfile collector go to
`webstack_backup_drill.prom` beside backup.sh's. A drill that cannot run (no password, the
repository unreachable or refusing the password, scratch space short, a corrupt pack)
exits 1 with the reason in the log, the record and the metrics; live data is only ever
read (Redis' INFO), never written.

`drill.sh records [N]` prints the last N records (default 10) from the repository, one
JSON document a line, oldest first; `drill.sh host-records [N]` the same from the host.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from components.config.backup_drill import DrillConfig
from components.render.backup import BackupSpec, render_backup_env_names
from components.render.shell import shell_templates

DRILL_METRICS_FILE = "webstack_backup_drill.prom"
DRILL_TAG = "webstack-drill"
DRILL_RECORD_NAME = "webstack-drill.json"
DEFAULT_RECORDS_DIR = "/var/lib/webstack-backup-drills"
DEFAULT_LOCK_WAIT_S = 4 * 3600  # a backup running when the drill starts: wait for it

_SAFE_PATH_RE = re.compile(r"^/[^\0\n]*$")


@dataclass(frozen=True)
class DrillSpec:
    backup: BackupSpec  # the backups it drills: stack, repository, targets, work_dir, textfile_dir
    schedule: str  # cron, UTC: only written into the script's header and its records
    redis: bool  # check the Redis snapshot (needs backup.redis)
    redis_tolerance_percent: float  # the restored key count may differ from the live one by this share
    volumes: bool  # check each volume's snapshot
    database: bool  # check the database dump
    scratch_min_mb: int  # free space wanted in the work dir beyond the largest snapshot
    keep_records: int  # evidence records kept on the host and in the repository
    records_dir: str = DEFAULT_RECORDS_DIR  # the host's copy of the records (mount a host directory here)
    # database postgres: also restore the dump into a throwaway cluster (needs the server's
    # initdb and pg_ctl on the backup host; WEBSTACK_PG_BINDIR, else the newest under /usr/lib/postgresql)
    postgres_scratch: bool = True
    lock_wait_s: int = DEFAULT_LOCK_WAIT_S

    def __post_init__(self) -> None:
        if self.redis and not self.backup.redis:
            raise ValueError("redis check: the backup does not hold Redis")
        if self.database and self.backup.database == "none":
            raise ValueError("database check: the backup holds no database")
        if self.volumes and not self.backup.volume_paths:
            raise ValueError("volumes check: the backup holds no volumes")
        if not self.targets:
            raise ValueError("nothing to drill: no check is on for a data set the backup holds")
        if not 0 <= self.redis_tolerance_percent <= 100:
            raise ValueError(f"redis_tolerance_percent {self.redis_tolerance_percent}: 0 to 100")
        if self.scratch_min_mb < 1 or self.keep_records < 1 or self.lock_wait_s < 0:
            raise ValueError("scratch_min_mb and keep_records: at least 1; lock_wait_s: at least 0")
        if not _SAFE_PATH_RE.match(self.records_dir) or self.records_dir.rstrip("/") == "":
            raise ValueError(f"records_dir {self.records_dir!r}: an absolute path below /")
        scratch = self.backup.work_dir.rstrip("/") + "/"
        for name, path in self.backup.volumes:
            live = path.rstrip("/") + "/"
            if scratch.startswith(live) or live.startswith(scratch):
                raise ValueError(
                    f"work_dir {self.backup.work_dir!r} and volume {name} ({path!r}) overlap: "
                    "the drill's scratch directory must be apart from live data"
                )

    @classmethod
    def from_config(
        cls, backup: BackupSpec, config: DrillConfig, *, records_dir: str = DEFAULT_RECORDS_DIR
    ) -> DrillSpec:
        """The drill of `backup` as `backup.drill` asks; a check of a data set the backup spec
        does not hold is left out (e.g. Redis when the stack's Redis is not reachable)."""
        return cls(
            backup=backup,
            schedule=config.schedule,
            redis=config.redis.enabled and backup.redis,
            redis_tolerance_percent=config.redis.tolerance_percent,
            volumes=config.volumes.enabled and bool(backup.volume_paths),
            database=config.database.enabled and backup.database != "none",
            scratch_min_mb=config.scratch_min_mb,
            keep_records=config.keep_records,
            records_dir=records_dir,
        )

    @property
    def targets(self) -> list[str]:
        """The targets drilled, in backup.sh's names: database, redis, volume:<name>."""
        chosen = {"database": self.database, "redis": self.redis}
        return [t for t in self.backup.targets if chosen.get(t, self.volumes)]


def render_drill_env_names(spec: DrillSpec) -> list[str]:
    """The environment drill.sh reads: backup.sh's (REDIS_* only for the live key count;
    DATABASE_URL is not needed: the dump is checked offline)."""
    names = [n for n in render_backup_env_names(spec.backup) if n != "DATABASE_URL"]
    if not spec.redis:
        names = [n for n in names if not n.startswith("REDIS")]
    return names


def render_drill_script(spec: DrillSpec) -> str:
    """drill.sh [records [N] | host-records [N]]: run a restore drill, or print its records."""
    context: Mapping[str, object] = {
        "spec": spec.backup,
        "drill": spec,
        "targets": spec.targets,
        "volumes": [(n, p) for n, p in spec.backup.volumes if spec.volumes],
        "env_names": render_drill_env_names(spec),
        "metrics_file": DRILL_METRICS_FILE,
        "drill_tag": DRILL_TAG,
        "record_name": DRILL_RECORD_NAME,
    }
    return shell_templates().get_template("backup/drill.sh.j2").render(**context)


def drill_crontab_line(spec: DrillSpec, *, script: str, env_file: str, log: str = "/proc/1/fd/1") -> str:
    """The crontab line that runs the drill on its schedule, as backup.sh's line does."""
    return f"{spec.schedule} . {env_file} && {script} >> {log} 2>&1\n"
