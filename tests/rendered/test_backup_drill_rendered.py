"""drill.sh, rendered and run for real: restic, Redis and PostgreSQL from Debian's packages.

Each test backs up real data with the rendered backup.sh, then runs the rendered drill.sh
against the same repository: a drill that passes and leaves its evidence (a JSON record on
the host and a `webstack-drill` snapshot in the repository, printed back by `drill.sh
records`), and drills that must fail loudly with a record and the failure metric: a pack
file damaged on purpose, a wrong password, too little scratch space, a live Redis whose key
count drifted past the tolerance, no repository at all. Around every drill the live Redis
(every key's value and TTL), the live volume (a tree checksum of paths, modes and contents)
and the live database (row checksums) are compared before and after: byte for byte equal.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from components.render.backup import BackupSpec, render_backup_script
from components.render.backup_drill import (
    DRILL_METRICS_FILE,
    DRILL_TAG,
    DrillSpec,
    drill_crontab_line,
    render_drill_env_names,
    render_drill_script,
)

from .backup_servers import RedisServer, free_port, need
from .test_backup_rendered import (
    REDIS_PASSWORD,
    RESTIC_PASSWORD,
    STACK,
    Database,
    assert_failed,
    assert_ok,
    base_env,
    database,
    load_redis,
    make_spec,
    make_volume,
    postgres,
    read_metrics,
    redis,
    redis_state,
    tools,
    tree_checksum,
)

__all__ = ["database", "postgres", "redis", "tools"]  # fixtures used here by name

pytestmark = pytest.mark.timeout(300)

RECORD_KEYS = {
    "kind",
    "version",
    "stack",
    "repository",
    "host",
    "schedule",
    "started",
    "finished",
    "duration_seconds",
    "result",
    "error",
    "restic_version",
    "targets",
    "restored_bytes",
}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@dataclass
class Drill:
    spec: DrillSpec
    backup: Path
    script: Path
    env: dict[str, str]
    tmp: Path

    def run_backup(self) -> None:
        result = subprocess.run([str(self.backup)], capture_output=True, text=True, env=self.env, timeout=240)
        assert_ok(result)

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.script), *args], capture_output=True, text=True, env=env or self.env, timeout=240
        )

    def restic(self, *args: str) -> str:
        env = {**self.env, "RESTIC_REPOSITORY": self.spec.backup.repository}
        result = subprocess.run(["restic", *args], capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 0, f"restic {' '.join(args)}: {result.stderr}"
        return result.stdout

    def snapshots(self, *filters: str) -> list[dict[str, Any]]:
        data = json.loads(self.restic("snapshots", "--json", *filters))
        assert isinstance(data, list)
        return data

    @property
    def records_dir(self) -> Path:
        return Path(self.spec.records_dir)

    def host_records(self) -> list[dict[str, Any]]:
        files = sorted(self.records_dir.glob("drill-*.json")) if self.records_dir.exists() else []
        return [json.loads(path.read_text()) for path in files]

    def metrics(self) -> dict[str, float]:
        return read_metrics(Path(self.spec.backup.textfile_dir or "") / DRILL_METRICS_FILE)


def make_drill(tmp_path: Path, backup: BackupSpec, env: dict[str, str], **overrides: Any) -> Drill:
    fields: dict[str, Any] = {
        "backup": backup,
        "schedule": "0 4 * * 0",
        "redis": backup.redis,
        "redis_tolerance_percent": 10.0,
        "volumes": bool(backup.volume_paths),
        "database": backup.database != "none",
        "scratch_min_mb": 1,
        "keep_records": 52,
        "records_dir": str(tmp_path / "drill-records"),
        "lock_wait_s": 5,
    }
    spec = DrillSpec(**(fields | overrides))
    directory = tmp_path / "scripts"
    directory.mkdir(exist_ok=True)
    backup_script, drill_script = directory / "backup.sh", directory / "drill.sh"
    backup_script.write_text(render_backup_script(backup))
    drill_script.write_text(render_drill_script(spec))
    backup_script.chmod(0o755)
    drill_script.chmod(0o755)
    return Drill(spec, backup_script, drill_script, env, tmp_path)


@dataclass
class Live:
    """The live data a drill must never touch."""

    redis: RedisServer | None
    volume: Path | None
    database: Database | None = None

    def state(self) -> tuple[object, ...]:
        return (
            redis_state(self.redis) if self.redis else None,
            tree_checksum(self.volume) if self.volume else None,
            self.database.checksum() if self.database else None,
        )


@pytest.fixture
def stack(tmp_path: Path, redis: RedisServer) -> Iterator[tuple[Drill, Live]]:
    """Redis and a volume backed up once; the drill of both."""
    load_redis(redis)
    volume = tmp_path / "volumes" / "files"
    make_volume(volume)
    env = base_env(tmp_path) | {
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(redis.port),
        "REDISCLI_AUTH": REDIS_PASSWORD,
    }
    backup = make_spec(tmp_path, redis=True, volume_paths={"files": str(volume)})
    drill = make_drill(tmp_path, backup, env)
    drill.run_backup()
    yield drill, Live(redis, volume)


@pytest.fixture
def traversable_tmp() -> Iterator[Path]:
    """A scratch folder the scratch cluster's user (postgres) can pass through on the way to
    the work dir, as it passes through /var/lib on a host (through, not into). Not under
    pytest's own tmp root: every pytest session on the machine sets that back to 0700."""
    path = Path(tempfile.mkdtemp(prefix="webstack-drill-test-", dir="/tmp"))
    path.chmod(0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def only_record(drill: Drill) -> dict[str, Any]:
    records = drill.host_records()
    assert len(records) == 1, records
    return records[0]


def by_target(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["target"]: t for t in record["targets"]}


def checks(target: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in target["checks"]}


def assert_no_scratch_left(drill: Drill) -> None:
    work = Path(drill.spec.backup.work_dir)
    assert not [p.name for p in work.iterdir() if p.name.startswith("drill.")], list(work.iterdir())


# --------------------------------------------------------------------------- passing


def test_a_drill_passes_and_leaves_its_evidence(stack: tuple[Drill, Live]) -> None:
    drill, live = stack
    before = live.state()
    started = time.time()
    result = drill.run()
    finished = time.time()
    assert_ok(result)
    assert live.state() == before
    assert "restore drill of stack production passed" in result.stderr
    assert_no_scratch_left(drill)

    # the record on the host
    record = only_record(drill)
    assert set(record) == RECORD_KEYS
    assert record["kind"] == "webstack-backup-drill" and record["result"] == "passed" and record["error"] is None
    assert record["stack"] == STACK and record["repository"] == drill.spec.backup.repository
    assert ISO.match(record["started"]) and ISO.match(record["finished"])
    assert 0 <= record["duration_seconds"] <= finished - started + 1
    assert record["restic_version"].startswith("restic 0.")
    targets = by_target(record)
    assert list(targets) == ["redis", "volume:files"]
    latest = {
        target: drill.snapshots("--host", STACK, "--tag", f"{STACK},{target}", "latest")[0]["id"] for target in targets
    }
    for name, target in targets.items():
        assert target["result"] == "passed" and target["snapshot"] == latest[name]
        assert all(c["result"] == "passed" for c in target["checks"])
    redis_checks = checks(targets["redis"])
    assert list(redis_checks) == ["restore", "key-count"]
    assert redis_checks["key-count"]["restored_keys"] == redis_checks["key-count"]["live_keys"] == 1509
    volume_checks = checks(targets["volume:files"])
    assert list(volume_checks) == ["restore", "listing", "checksums"]
    assert volume_checks["checksums"]["files"] == 6  # a.txt, with space.txt, b.bin, c.txt, secret.key, run.sh
    assert re.fullmatch(r"[0-9a-f]{64}", volume_checks["checksums"]["manifest_sha256"])
    assert record["restored_bytes"] == sum(t["restored_bytes"] for t in targets.values()) > 100_000

    # the same record in the repository, as a snapshot of its own, and printed back
    records = drill.snapshots("--tag", DRILL_TAG)
    assert len(records) == 1 and sorted(records[0]["tags"]) == ["passed", DRILL_TAG]
    assert records[0]["hostname"] == STACK
    printed = drill.run("records", "5")
    assert_ok(printed)
    assert [json.loads(line) for line in printed.stdout.splitlines()] == [record]
    on_host = drill.run("host-records")
    assert_ok(on_host)
    assert [json.loads(line) for line in on_host.stdout.splitlines()] == [record]

    # metrics for the textfile collector
    metrics = drill.metrics()
    assert metrics["webstack_backup_drill_last_run_success"] == 1
    assert int(started) <= metrics["webstack_backup_drill_last_success_timestamp_seconds"] <= finished
    assert (
        metrics["webstack_backup_drill_last_run_timestamp_seconds"]
        == metrics["webstack_backup_drill_last_success_timestamp_seconds"]
    )
    assert metrics["webstack_backup_drill_record_stored"] == 1
    assert metrics["webstack_backup_drill_restored_bytes"] == record["restored_bytes"]
    assert metrics['webstack_backup_drill_target_success{target="redis"}'] == 1
    assert metrics['webstack_backup_drill_target_success{target="volume:files"}'] == 1
    metrics_file = Path(drill.spec.backup.textfile_dir or "") / DRILL_METRICS_FILE
    assert stat.S_IMODE(metrics_file.stat().st_mode) == 0o644
    assert sorted(p.name for p in metrics_file.parent.iterdir()) == sorted([DRILL_METRICS_FILE, "webstack_backup.prom"])

    # the nightly backup's retention leaves the records alone; the drill never touched the backups
    drill.run_backup()
    assert len(drill.snapshots("--tag", DRILL_TAG)) == 1
    assert not [s for s in drill.snapshots("--tag", STACK) if DRILL_TAG in s["tags"]]


def test_records_kept_are_the_last_n_on_the_host_and_in_the_repository(stack: tuple[Drill, Live]) -> None:
    drill, live = stack
    drill = make_drill(drill.tmp, drill.spec.backup, drill.env, keep_records=2)
    before = live.state()
    for _ in range(3):
        assert_ok(drill.run())
        time.sleep(1.1)  # one record a second: their names are the finish time
    assert live.state() == before
    kept = drill.host_records()
    assert len(kept) == 2 and kept[0]["finished"] < kept[1]["finished"]
    assert len(drill.snapshots("--tag", DRILL_TAG)) == 2
    printed = drill.run("records", "10")
    assert_ok(printed)
    assert [json.loads(line) for line in printed.stdout.splitlines()] == kept
    assert_failed(drill.run("records", "zero"), "N a positive number")
    assert_failed(drill.run("now"), "usage:")


def test_postgres_dump_is_drilled(traversable_tmp: Path, database: Database) -> None:
    tmp_path = traversable_tmp
    env = base_env(tmp_path) | {"DATABASE_URL": database.url}
    backup = make_spec(tmp_path, database="postgres")
    drill = make_drill(tmp_path, backup, env)
    drill.run_backup()
    live = Live(None, None, database)
    before = live.state()
    no_url = {k: v for k, v in env.items() if k != "DATABASE_URL"}  # the drill needs no database access
    assert_ok(drill.run(env=no_url))
    assert live.state() == before
    database_checks = checks(by_target(only_record(drill))["database"])
    assert list(database_checks) == ["restore", "archive", "scratch-restore"]
    assert database_checks["archive"]["result"] == "passed" and database_checks["archive"]["tables"] == 1
    scratch = database_checks["scratch-restore"]
    assert scratch["result"] == "passed" and (scratch["tables"], scratch["rows"]) == (1, 3000)
    assert stat.S_IMODE(Path(backup.work_dir).stat().st_mode) == 0o700
    # no server of the drill left running
    assert "webstack_drill" not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout


def test_a_dump_that_does_not_restore_fails_the_database_check(traversable_tmp: Path, database: Database) -> None:
    """A dump whose table of contents reads (pg_restore --list, which backup.sh checks too) but
    whose table data is damaged: the archive check passes, the scratch restore fails."""
    tmp_path = traversable_tmp
    wrappers = tmp_path / "wrappers"
    wrappers.mkdir()
    real = need("pg_dump")
    (wrappers / "pg_dump").write_text(
        "#!/bin/sh\n"
        f'"{real}" "$@" || exit $?\n'
        'for a; do case "$a" in --file=*) f=${a#--file=};; esac; done\n'
        'size=$(stat -c %s "$f")\n'
        "printf '\\377\\377\\377\\377\\377\\377\\377\\377' | "
        'dd of="$f" bs=1 seek=$((size - 200)) conv=notrunc 2>/dev/null\n'
    )
    (wrappers / "pg_dump").chmod(0o755)
    env = base_env(tmp_path) | {"DATABASE_URL": database.url}
    env["PATH"] = f"{wrappers}:{env['PATH']}"
    drill = make_drill(tmp_path, make_spec(tmp_path, database="postgres"), env)
    drill.run_backup()
    live = Live(None, None, database)
    before = live.state()
    result = drill.run()
    assert_failed(result, "scratch-restore FAILED", "checks failed: database")
    assert live.state() == before
    database_checks = checks(by_target(only_record(drill))["database"])
    assert database_checks["archive"]["result"] == "passed"
    assert database_checks["scratch-restore"]["result"] == "failed"
    detail = database_checks["scratch-restore"]["detail"]
    assert "pg_restore into the scratch cluster failed" in detail and "could not" in detail, detail


# --------------------------------------------------------------------------- failing


def damage_a_pack(repository: Path) -> Path:
    """Flip bytes in the middle of the largest pack file: its blobs no longer decrypt."""
    packs = sorted((p for p in (repository / "data").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    pack = packs[-1]
    pack.chmod(0o600)
    data = bytearray(pack.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    pack.write_bytes(bytes(data))
    return pack


def test_a_damaged_pack_fails_the_drill_with_a_record_and_the_metric(stack: tuple[Drill, Live]) -> None:
    drill, live = stack
    assert_ok(drill.run())
    good = drill.metrics()
    damage_a_pack(Path(drill.spec.backup.repository))
    before = live.state()
    time.sleep(1.1)

    result = drill.run()
    assert_failed(result, "restore drill of stack production FAILED", "cannot be restored")
    assert live.state() == before
    assert_no_scratch_left(drill)
    record = drill.host_records()[-1]
    assert record["result"] == "failed" and record["error"]
    failed = [t for t in record["targets"] if t["result"] == "failed"]
    assert failed, record
    for target in failed:
        assert checks(target)["restore"]["result"] == "failed"
        assert "restic restore --verify" in checks(target)["restore"]["detail"]
    # recorded in the repository too (new data, beside the damaged pack), tagged failed
    assert [sorted(s["tags"]) for s in drill.snapshots("--tag", DRILL_TAG)] == [
        ["passed", DRILL_TAG],
        ["failed", DRILL_TAG],
    ]
    metrics = drill.metrics()
    assert metrics["webstack_backup_drill_last_run_success"] == 0
    assert (
        metrics["webstack_backup_drill_last_run_timestamp_seconds"]
        > good["webstack_backup_drill_last_run_timestamp_seconds"]
    )
    assert (
        metrics["webstack_backup_drill_last_success_timestamp_seconds"]
        == good["webstack_backup_drill_last_success_timestamp_seconds"]
    )
    assert min(metrics[f'webstack_backup_drill_target_success{{target="{t["target"]}"}}'] for t in failed) == 0


def test_a_file_read_back_differently_fails_the_checksums(stack: tuple[Drill, Live], tmp_path: Path) -> None:
    """Fault injection: a restic whose `dump` returns one file with a byte changed (the tar
    stream rewritten by Python's tarfile); the restore is the real one. The checksums check
    must catch the difference and name it."""
    drill, live = stack
    real = need("restic")
    bindir = tmp_path / "faulty"
    bindir.mkdir()
    (bindir / "restic").write_text(
        f"#!{sys.executable}\n"
        "import io, subprocess, sys, tarfile\n"
        f"argv = [{real!r}, *sys.argv[1:]]\n"
        "if sys.argv[1:2] != ['dump']:\n"
        "    raise SystemExit(subprocess.run(argv).returncode)\n"
        "data = subprocess.run(argv, stdout=subprocess.PIPE, check=True).stdout\n"
        "src, out = tarfile.open(fileobj=io.BytesIO(data)), io.BytesIO()\n"
        "dst = tarfile.open(fileobj=out, mode='w', format=src.format)\n"
        "for member in src.getmembers():\n"
        "    body = src.extractfile(member).read() if member.isfile() else None\n"
        "    if body and member.name.endswith('a.txt'):\n"
        "        body = bytes([body[0] ^ 1]) + body[1:]\n"
        "    dst.addfile(member, io.BytesIO(body) if body is not None else None)\n"
        "dst.close()\n"
        "sys.stdout.buffer.write(out.getvalue())\n"
    )
    (bindir / "restic").chmod(0o755)
    before = live.state()
    result = drill.run(env=drill.env | {"PATH": f"{bindir}:{drill.env['PATH']}"})
    assert_failed(result, "checksums FAILED", "checks failed: volume:files")
    assert live.state() == before
    volume_checks = checks(by_target(only_record(drill))["volume:files"])
    assert volume_checks["restore"]["result"] == volume_checks["listing"]["result"] == "passed"
    assert volume_checks["checksums"]["result"] == "failed"
    assert by_target(only_record(drill))["redis"]["result"] == "passed"


def test_a_wrong_password_fails_with_a_record_on_the_host_only(stack: tuple[Drill, Live]) -> None:
    drill, live = stack
    before = live.state()
    snapshots_before = drill.snapshots()
    result = drill.run(env=drill.env | {"RESTIC_PASSWORD": "not the password"})
    assert_failed(result, "wrong restic password", "the record stays on this host only")
    assert live.state() == before
    assert drill.snapshots() == snapshots_before
    record = only_record(drill)
    assert record["result"] == "failed" and "wrong restic password" in record["error"]
    assert all(t["result"] == "not run" and t["snapshot"] is None for t in record["targets"])
    metrics = drill.metrics()
    assert metrics["webstack_backup_drill_last_run_success"] == 0
    assert metrics["webstack_backup_drill_last_success_timestamp_seconds"] == 0
    assert metrics["webstack_backup_drill_record_stored"] == 0


def test_no_password_and_no_repository_fail_with_a_record(stack: tuple[Drill, Live], tmp_path: Path) -> None:
    drill, live = stack
    before = live.state()
    no_password = {k: v for k, v in drill.env.items() if k != "RESTIC_PASSWORD"}
    assert_failed(drill.run(env=no_password), "environment variable RESTIC_PASSWORD is not set")
    other = tmp_path / "other"
    other.mkdir()
    backup = make_spec(other, redis=True, volume_paths=drill.spec.backup.volume_paths)
    missing = make_drill(other, replace(backup, repository=str(tmp_path / "nowhere")), drill.env)
    assert_failed(missing.run(), "there is no restic repository at")
    assert not (tmp_path / "nowhere").exists()
    assert live.state() == before
    errors = [r["error"] for r in drill.host_records()]
    assert len(errors) == 1 and "RESTIC_PASSWORD is not set" in errors[0]
    assert "there is no restic repository" in only_record(missing)["error"]
    assert missing.metrics()["webstack_backup_drill_last_run_success"] == 0


def test_an_unreachable_repository_fails_with_a_record_on_the_host(stack: tuple[Drill, Live], tmp_path: Path) -> None:
    """A rest: repository whose server does not answer (a closed port): refused at once."""
    drill, live = stack
    other = tmp_path / "unreachable"
    other.mkdir()
    backup = make_spec(other, redis=True, volume_paths=drill.spec.backup.volume_paths)
    gone = make_drill(other, replace(backup, repository=f"rest:http://127.0.0.1:{free_port()}/"), drill.env)
    before = live.state()
    result = gone.run()
    assert_failed(result, "cannot open the restic repository rest:http://127.0.0.1:", "connection refused")
    assert live.state() == before
    record = only_record(gone)
    assert record["result"] == "failed" and "connection refused" in record["error"]
    metrics = gone.metrics()
    assert metrics["webstack_backup_drill_last_run_success"] == 0
    assert metrics["webstack_backup_drill_record_stored"] == 0


def test_scratch_space_short_fails_before_restoring_anything(stack: tuple[Drill, Live]) -> None:
    drill, live = stack
    short = make_drill(drill.tmp, drill.spec.backup, drill.env, scratch_min_mb=10_485_760)  # 10 TiB
    before = live.state()
    result = short.run()
    assert_failed(result, "scratch space short:", "scratchMinMb 10485760", "nothing was restored")
    assert "restoring snapshot" not in result.stderr
    assert live.state() == before
    record = only_record(short)
    assert record["result"] == "failed" and record["error"].startswith("scratch space short:")
    assert short.metrics()["webstack_backup_drill_last_run_success"] == 0
    assert_no_scratch_left(short)


def test_a_redis_key_count_out_of_tolerance_fails_that_target_only(stack: tuple[Drill, Live]) -> None:
    drill, live = stack
    assert live.redis is not None
    client = live.redis.client()
    client.call("MSET", *[x for i in range(200) for x in (f"new:{i}", "v")])  # 1509 -> 1709: 13% more
    client.close()
    before = live.state()
    result = drill.run()
    assert_failed(result, "key-count FAILED", "checks failed: redis")
    assert live.state() == before
    targets = by_target(only_record(drill))
    key_count = checks(targets["redis"])["key-count"]
    assert key_count["result"] == "failed"
    assert (key_count["restored_keys"], key_count["live_keys"], key_count["tolerance_percent"]) == (1509, 1709, 10)
    assert targets["volume:files"]["result"] == "passed"
    metrics = drill.metrics()
    assert metrics['webstack_backup_drill_target_success{target="redis"}'] == 0
    assert metrics['webstack_backup_drill_target_success{target="volume:files"}'] == 1

    # within a wider tolerance the same drift passes
    wider = make_drill(drill.tmp, drill.spec.backup, drill.env, redis_tolerance_percent=15.0)
    time.sleep(1.1)
    assert_ok(wider.run())
    assert live.state() == before


def test_a_drill_waits_for_a_running_backup_then_gives_up(stack: tuple[Drill, Live]) -> None:
    drill, live = stack
    before = live.state()
    with open(Path(drill.spec.backup.work_dir) / "lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        started = time.monotonic()
        result = drill.run()
        waited = time.monotonic() - started
    assert_failed(result, "held the lock", "for 5 s")
    assert waited >= 5
    assert only_record(drill)["result"] == "failed"
    assert live.state() == before


# --------------------------------------------------------------------------- rendering


VARIANTS: dict[str, dict[str, Any]] = {
    "postgres": {"database": "postgres", "redis": True, "volume_paths": {"grafana": "/volumes/grafana"}},
    "mongodb": {"database": "mongodb", "redis": True, "volume_paths": {"up loads": "/srv/up loads"}},
    "redis-sftp": {"redis": True, "repository": "sftp:restic@10.0.0.20:/srv/restic/production"},
    "volumes-s3-no-metrics": {
        "volume_paths": {"a": "/volumes/a"},
        "repository": "s3:https://s3.example.com/bucket/webstack",
        "textfile_dir": None,
    },
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_shellcheck_passes(variant: str, tmp_path: Path) -> None:
    need("shellcheck")
    overrides = dict(VARIANTS[variant])
    if variant == "mongodb":
        overrides["volume_paths"] = {"uploads": "/srv/up loads"}
    spec = make_spec(tmp_path, **overrides)
    drill = DrillSpec(spec, "0 4 * * 0", spec.redis, 5.0, bool(spec.volume_paths), spec.database != "none", 512, 10)
    path = tmp_path / "drill.sh"
    path.write_text(render_drill_script(drill))
    result = subprocess.run(["shellcheck", "--shell=bash", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rendering_is_deterministic_and_carries_no_secret(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, database="mongodb", redis=True, volume_paths={"b": "/v/b", "a": "/v/it's a"})
    drill = DrillSpec(spec, "0 4 * * 0", True, 10.0, True, True, 1024, 52)
    text = render_drill_script(drill)
    assert text == render_drill_script(
        replace(drill, backup=replace(spec, volume_paths={"a": "/v/it's a", "b": "/v/b"}))
    )
    assert "[a]='/v/it'\"'\"'s a'" in text and "readonly KEEP_RECORDS=52" in text
    assert RESTIC_PASSWORD not in text and REDIS_PASSWORD not in text
    assert render_drill_env_names(drill) == ["RESTIC_PASSWORD", "REDIS_HOST", "REDIS_PORT", "REDISCLI_AUTH"]
    # the database is checked offline: no DATABASE_URL, no pg_connection, no mongo config
    assert "DATABASE_URL" not in text and "gzip -t" in text
    without_redis = replace(drill, redis=False)
    assert render_drill_env_names(without_redis) == ["RESTIC_PASSWORD"]
    assert "redis-server" not in render_drill_script(without_redis)
    line = drill_crontab_line(drill, script="/etc/webstack-backup/drill.sh", env_file="/run/webstack-backup.env")
    assert line == "0 4 * * 0 . /run/webstack-backup.env && /etc/webstack-backup/drill.sh >> /proc/1/fd/1 2>&1\n"
    with pytest.raises(ValueError, match="overlap"):
        DrillSpec(replace(spec, work_dir="/v/b/scratch"), "0 4 * * 0", True, 10.0, True, True, 1024, 52)
    with pytest.raises(ValueError, match="holds no database"):
        DrillSpec(replace(spec, database="none"), "0 4 * * 0", True, 10.0, True, True, 1024, 52)
    with pytest.raises(ValueError, match="nothing to drill"):
        DrillSpec(spec, "0 4 * * 0", False, 10.0, False, False, 1024, 52)
    assert os.path.isabs(drill.records_dir)
