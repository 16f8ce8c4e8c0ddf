"""backup.sh and restore.sh, rendered and run for real on this machine.

What runs: restic, PostgreSQL 15 and Redis from Debian's packages (started by the tests
on 127.0.0.1 with their data in temp dirs), shellcheck, and the rendered scripts
themselves: full backup and restore cycles checked by row counts and checksums, Redis by
the value, type and TTL of every key in every db, volumes by a tree checksum; the metrics
file; retention against an independent model of restic's policy (older snapshots are
made with restic's --time); wrong passwords and missing repositories. What is
not run here: MongoDB is not packaged in Debian, so the mongodb variant is rendered,
shellchecked and its commands asserted, and its wiring (URI in a --config file, the
archive through restic and back) runs against stub mongodump/mongorestore, never a real
MongoDB; remote repositories (s3:, sftp:, ...) are only rendered (a local repository
stands in for them); the schedule (cron or timer) and the container that runs the
scripts belong to the BackupJob component and are tested with it. A missing tool fails
the tests (naming its Debian package) instead of skipping them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from components.config import BackupConfig, RetentionConfig
from components.render.backup import (
    BackupSpec,
    render_backup_env_names,
    render_backup_script,
    render_restore_script,
)

from .backup_servers import PostgresServer, RedisServer, Resp, RespValue, SentinelServer, free_port, need

pytestmark = pytest.mark.timeout(300)

STACK = "production"
RESTIC_PASSWORD = "correct horse battery staple"
REDIS_PASSWORD = "redis pa$$ 'word'"
APP_USER = "app"
# Every character that needs care in a URL, in SQL and in the shell.
APP_PASSWORD = "p@ss:w/rd%+ $'\"\\x;#?"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ webstack-(backup|restore)\[\d+\]: ")


# --------------------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def tools() -> None:
    for command in ("bash", "restic", "flock", "redis-server", "redis-cli", "psql", "pg_dump", "pg_restore"):
        need(command)


@pytest.fixture(scope="module")
def postgres(tools: None) -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        sql_password = APP_PASSWORD.replace("'", "''")
        server.psql(f"CREATE ROLE {APP_USER} LOGIN PASSWORD '{sql_password}'")
        yield server
    finally:
        server.stop()


@dataclass
class Database:
    server: PostgresServer
    name: str

    @property
    def url(self) -> str:
        return f"postgresql://{APP_USER}:{quote(APP_PASSWORD, safe='')}@127.0.0.1:{self.server.port}/{self.name}"

    def sql(self, sql: str) -> str:
        return self.server.psql(sql, database=self.name, user=APP_USER, password=APP_PASSWORD)

    def checksum(self) -> str:
        """Row count and md5 of every row in id order; 'missing' when the table is gone."""
        exists = self.sql("SELECT to_regclass('public.items') IS NOT NULL")
        if exists != "t":
            return "missing"
        return self.sql(
            "SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, E'\\n' ORDER BY id), '')) FROM items t"
        )


@pytest.fixture
def database(postgres: PostgresServer, request: pytest.FixtureRequest) -> Iterator[Database]:
    name = "t_" + re.sub(r"[^a-z0-9]", "_", request.node.name.lower())[:50]
    postgres.psql(f"CREATE DATABASE {name} OWNER {APP_USER}")
    db = Database(postgres, name)
    db.sql(
        "CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, qty integer, payload bytea,"
        " created timestamptz);"
        "INSERT INTO items SELECT g, 'item ' || md5(g::text) || E' \\'q\\'', g % 97,"
        " decode(md5(g::text), 'hex'), timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'"
        " FROM generate_series(1, 3000) g;"
        "CREATE INDEX items_qty ON items (qty);"
    )
    try:
        yield db
    finally:
        postgres.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def redis(tools: None, tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", REDIS_PASSWORD)
    try:
        yield server
    finally:
        server.stop()


def load_redis(server: RedisServer) -> None:
    c = server.client()
    c.call("SET", "greeting", "hello")
    c.call("SET", b"bin\x00key\n with space", bytes(range(256)))
    c.call("HSET", "hash", *[x for i in range(50) for x in (f"f{i}", f"value {i}")])
    c.call("RPUSH", "list", *range(200))
    c.call("SADD", "set", "a", "b", "c")
    c.call("ZADD", "zset", 1, "a", 2, "b", 3.5, "c")
    for i in range(3):
        c.call("XADD", "stream", "*", "n", i)
    c.call("SET", "expiring", "soon", "PX", 3_600_000)
    # More keys than one SCAN step of the restore (1000), so that it loops.
    for start in range(0, 1500, 500):
        c.call("MSET", *[x for i in range(start, start + 500) for x in (f"k:{i}", f"v{i}")])
    c.call("SELECT", 3)
    c.call("SET", "in-db-3", "three")
    c.close()


RedisState = dict[int, dict[bytes, tuple[object, bool]]]


def redis_value(c: Resp, key: bytes) -> object:
    """The value of a key by its type (DUMP payloads of hashtable sets differ by insertion order)."""
    kind = c.call("TYPE", key)
    reply: RespValue
    if kind == b"string":
        reply = c.call("GET", key)
    elif kind == b"list":
        reply = c.call("LRANGE", key, 0, -1)
    elif kind == b"hash":
        reply = c.call("HGETALL", key)
        assert isinstance(reply, list)
        return (kind, frozenset(zip(reply[::2], reply[1::2], strict=True)))
    elif kind == b"set":
        reply = c.call("SMEMBERS", key)
        assert isinstance(reply, list)
        return (kind, frozenset(repr(member) for member in reply))
    elif kind == b"zset":
        reply = c.call("ZRANGE", key, 0, -1, "WITHSCORES")
    elif kind == b"stream":
        reply = c.call("XRANGE", key, "-", "+")
    else:
        raise AssertionError(f"unexpected type {kind!r} of {key!r}")
    return (kind, repr(reply))


def redis_state(server: RedisServer) -> RedisState:
    """db -> key -> (value, has a TTL), over every key (binary-safe SCAN)."""
    c = server.client()
    state: RedisState = {}
    for db in range(16):
        c.call("SELECT", db)
        keys: dict[bytes, tuple[object, bool]] = {}
        cursor = b"0"
        while True:
            reply = c.call("SCAN", cursor, "COUNT", 1000)
            assert isinstance(reply, list)
            cursor_value, batch = reply
            assert isinstance(cursor_value, bytes) and isinstance(batch, list)
            for key in batch:
                assert isinstance(key, bytes)
                ttl = c.call("PTTL", key)
                assert isinstance(ttl, int)
                keys[key] = (redis_value(c, key), ttl > 0)
            cursor = cursor_value
            if cursor == b"0":
                break
        if keys:
            state[db] = keys
    c.close()
    return state


def assert_same_redis(actual: RedisState, expected: RedisState) -> None:
    diff = {
        (db, key): (actual.get(db, {}).get(key), expected.get(db, {}).get(key))
        for db in set(actual) | set(expected)
        for key in set(actual.get(db, {})) | set(expected.get(db, {}))
        if actual.get(db, {}).get(key) != expected.get(db, {}).get(key)
    }
    assert not diff, f"{len(diff)} keys differ (actual, expected): {dict(list(diff.items())[:5])}"


def make_volume(path: Path) -> None:
    (path / "nested" / "deeper").mkdir(parents=True)
    (path / "empty").mkdir()
    (path / "a.txt").write_text("alpha\n")
    (path / "with space.txt").write_text("spaces\n")
    (path / "nested" / "b.bin").write_bytes(hashlib.sha256(b"seed").digest() * 4000)
    (path / "nested" / "deeper" / "c.txt").write_text("gamma\n" * 100)
    (path / "secret.key").write_text("k\n")
    (path / "secret.key").chmod(0o600)
    (path / "run.sh").write_text("#!/bin/sh\n")
    (path / "run.sh").chmod(0o755)
    (path / "link").symlink_to("a.txt")


def tree_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    for entry in sorted(path.rglob("*")):
        info = entry.lstat()
        rel = str(entry.relative_to(path))
        if stat.S_ISLNK(info.st_mode):
            body = os.readlink(entry).encode()
        elif stat.S_ISREG(info.st_mode):
            body = hashlib.sha256(entry.read_bytes()).digest()
        else:
            body = b""
        digest.update(f"{rel}\0{stat.S_IFMT(info.st_mode)}\0{stat.S_IMODE(info.st_mode):o}\0".encode() + body)
    return digest.hexdigest()


# --------------------------------------------------------------------------- scripts


@dataclass
class Scripts:
    spec: BackupSpec
    backup: Path
    restore: Path
    env: dict[str, str]

    def run_backup(self, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return run([str(self.backup)], env or self.env)

    def run_restore(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return run([str(self.restore), *args], env or self.env)

    def restic(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "RESTIC_REPOSITORY": self.spec.repository}
        result = subprocess.run(["restic", *args], capture_output=True, text=True, env=env, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"restic {' '.join(args)} failed: {result.stderr}")
        return result

    def snapshots(self, *filters: str) -> list[dict[str, object]]:
        data = json.loads(self.restic("snapshots", "--json", *filters).stdout)
        assert isinstance(data, list)
        return data


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=240)


def base_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(home),
        "TZ": "UTC",
        "LANG": "C.UTF-8",
        "RESTIC_CACHE_DIR": str(tmp_path / "restic-cache"),
        "RESTIC_PASSWORD": RESTIC_PASSWORD,
    }


def make_spec(tmp_path: Path, **overrides: object) -> BackupSpec:
    fields: dict[str, object] = {
        "stack": STACK,
        "repository": str(tmp_path / "repo"),
        "retention": RetentionConfig(daily=30, weekly=4, monthly=6),
        "database": "none",
        "redis": False,
        "volume_paths": {},
        "verify_subset": "100%",
        "textfile_dir": str(tmp_path / "textfile"),
        "work_dir": str(tmp_path / "work"),
    }
    return BackupSpec(**(fields | overrides))  # type: ignore[arg-type]


def write_scripts(tmp_path: Path, spec: BackupSpec, env: dict[str, str], name: str = "scripts") -> Scripts:
    directory = tmp_path / name
    directory.mkdir()
    backup = directory / "backup.sh"
    restore = directory / "restore.sh"
    backup.write_text(render_backup_script(spec))
    restore.write_text(render_restore_script(spec))
    backup.chmod(0o755)
    restore.chmod(0o755)
    return Scripts(spec, backup, restore, env)


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def assert_failed(result: subprocess.CompletedProcess[str], *messages: str) -> None:
    assert result.returncode != 0, f"unexpectedly succeeded:\n{result.stderr}"
    for message in messages:
        assert message in result.stderr, f"{message!r} not in stderr:\n{result.stderr}"


def read_metrics(path: Path) -> dict[str, float]:
    samples: dict[str, float] = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def logging_wrappers(tmp_path: Path, commands: list[str]) -> tuple[Path, Path]:
    """A bin dir with a wrapper per command that records its arguments, then runs the real one."""
    bindir = tmp_path / "wrappers"
    bindir.mkdir()
    log = tmp_path / "argv.log"
    for command in commands:
        real = need(command)
        wrapper = bindir / command
        wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "{command} $*" >> "{log}"\nexec "{real}" "$@"\n')
        wrapper.chmod(0o755)
    return bindir, log


def restic_clock(tmp_path: Path) -> Path:
    """A bin dir whose restic adds `--time $FAKE_SNAPSHOT_TIME` to `restic backup` when it is set."""
    real = need("restic")
    bindir = tmp_path / "clock"
    bindir.mkdir()
    wrapper = bindir / "restic"
    wrapper.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = backup ] && [ -n "${FAKE_SNAPSHOT_TIME:-}" ]; then\n'
        f'  shift; exec "{real}" backup --time "$FAKE_SNAPSHOT_TIME" "$@"\n'
        "fi\n"
        f'exec "{real}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return bindir


# --------------------------------------------------------------------------- rendering


VARIANTS: dict[str, dict[str, object]] = {
    "postgres": {"database": "postgres", "redis": True, "volume_paths": {"grafana": "/volumes/grafana"}},
    "mongodb": {"database": "mongodb", "redis": True, "volume_paths": {"uploads": "/srv/up loads"}},
    "none": {"database": "none", "redis": True, "volume_paths": {"grafana": "/volumes/grafana"}},
    "volumes-s3-no-metrics": {
        "database": "none",
        "redis": False,
        "volume_paths": {"a": "/volumes/a", "b.c": "/volumes/b c/"},
        "repository": "s3:https://s3.example.com/bucket/webstack",
        "textfile_dir": None,
    },
    "redis-sftp": {"database": "none", "redis": True, "repository": "sftp:restic@10.0.0.20:/srv/restic/production"},
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_shellcheck_passes(variant: str, tmp_path: Path) -> None:
    need("shellcheck")
    spec = make_spec(tmp_path, **VARIANTS[variant])
    paths = []
    for name, text in (("backup.sh", render_backup_script(spec)), ("restore.sh", render_restore_script(spec))):
        path = tmp_path / name
        path.write_text(text)
        paths.append(str(path))
    result = subprocess.run(["shellcheck", "--shell=bash", *paths], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rendering_is_pure_deterministic_and_quoted(tmp_path: Path) -> None:
    source = Path(sys.modules[BackupSpec.__module__].__file__ or "").read_text()
    assert "pulumi" not in re.sub(r'""".*?"""', "", source, flags=re.S).lower()
    spec = make_spec(tmp_path, database="postgres", redis=True, volume_paths={"b": "/v/b", "a": "/v/it's a"})
    assert render_backup_script(spec) == render_backup_script(spec)
    same = replace(spec, volume_paths={"a": "/v/it's a", "b": "/v/b"})
    assert render_backup_script(same) == render_backup_script(spec)
    assert render_restore_script(same) == render_restore_script(spec)
    text = render_backup_script(spec)
    assert "[a]='/v/it'\"'\"'s a'" in text
    assert "set -euo pipefail" in text and "flock -n 9" in text
    # No secret has a place in the text: only the names of the variables that carry them.
    assert render_backup_env_names(spec) == [
        "RESTIC_PASSWORD",
        "DATABASE_URL",
        "REDIS_HOST",
        "REDIS_PORT",
        "REDISCLI_AUTH",
    ]
    s3 = replace(spec, database="none", repository="s3:https://s3.example.com/b")
    assert render_backup_env_names(s3)[-2:] == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    assert "require_env AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY" in render_backup_script(s3)
    with pytest.raises(ValueError, match="credentials"):
        replace(spec, repository="rest:https://user:secret@backup.example.com/repo")
    with pytest.raises(ValueError, match="stack"):
        replace(spec, stack="prod,staging")
    with pytest.raises(ValueError, match="verify_subset"):
        replace(spec, verify_subset="0%")
    with pytest.raises(ValueError, match="nothing to back up"):
        replace(spec, database="none", redis=False, volume_paths={})


def test_spec_from_config() -> None:
    config = BackupConfig.model_validate(
        {
            "host": "data-1",
            "repository": "s3:https://s3.example.com/b/p",
            "database": "postgres",
            "volumes": ["grafana"],
            "retention": {"daily": 30, "weekly": 8, "monthly": 12},
        }
    )
    spec = BackupSpec.from_config("production", config, textfile_dir="/var/lib/node_exporter")
    assert spec.volume_paths == {"grafana": "/volumes/grafana"}
    assert spec.targets == ["database", "redis", "volume:grafana"]
    text = render_backup_script(spec)
    assert "--keep-daily 30" in text and "--keep-weekly 8" in text and "--keep-monthly 12" in text
    assert "--read-data-subset=5%" in text


def test_mongodb_variant_commands(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, **VARIANTS["mongodb"])
    backup, restore = render_backup_script(spec), render_restore_script(spec)
    assert re.search(r"^\s*mongodump --config=\"\$config\" --archive=\"\$file\" --gzip$", backup, re.M)
    assert re.search(r"^\s*mongorestore --config=\"\$config\" --archive=\"\$file\" --gzip --drop$", restore, re.M)
    for text in (backup, restore):
        assert "require_env DATABASE_URL" in text
        # the URI (with its password) goes to the tools' --config file, not their arguments
        assert "printf \"uri: '%s'\\n\" \"${DATABASE_URL//\\'/\\'\\'}\"" in text
        assert "mongodb(\\+srv)?://" in text
        assert "pg_dump" not in text and "pg_restore" not in text


def test_mongodb_wiring_with_stub_tools(tmp_path: Path) -> None:
    """Stub mongodump/mongorestore (no MongoDB here): the archive goes through restic and back intact."""
    need("restic")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    calls = tmp_path / "calls.log"
    received = tmp_path / "received.archive"
    (stubs / "mongodump").write_text(
        "#!/bin/bash\nset -eu\n"
        f'echo "mongodump $*" >> {calls}\n'
        'for a in "$@"; do case "$a" in --config=*) cfg=${a#--config=};; --archive=*) out=${a#--archive=};; esac; done\n'
        f'cat "$cfg" >> {calls}\n'
        'head -c 100000 /dev/urandom > "$out"\n'
        f'cp "$out" {tmp_path}/sent.archive\n'
    )
    (stubs / "mongorestore").write_text(
        "#!/bin/bash\nset -eu\n"
        f'echo "mongorestore $*" >> {calls}\n'
        'for a in "$@"; do case "$a" in --config=*) cfg=${a#--config=};; --archive=*) in=${a#--archive=};; esac; done\n'
        f'cat "$cfg" >> {calls}\n'
        f'cp "$in" {received}\n'
    )
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    url = "mongodb+srv://app:s3cr'et@cluster0.example.mongodb.net/app?retryWrites=true"
    env = {**base_env(tmp_path), "DATABASE_URL": url}
    env["PATH"] = f"{stubs}:{env['PATH']}"
    spec = make_spec(tmp_path, database="mongodb")
    scripts = write_scripts(tmp_path, spec, env)
    assert_ok(scripts.run_backup())
    assert_ok(scripts.run_restore("database"))
    assert received.read_bytes() == (tmp_path / "sent.archive").read_bytes()
    log = calls.read_text()
    dump_line = next(line for line in log.splitlines() if line.startswith("mongodump "))
    restore_line = next(line for line in log.splitlines() if line.startswith("mongorestore "))
    assert "--archive=" in dump_line and "--gzip" in dump_line
    assert "--archive=" in restore_line and "--gzip" in restore_line and "--drop" in restore_line
    assert "s3cr" not in dump_line and "s3cr" not in restore_line
    assert log.count("uri: 'mongodb+srv://app:s3cr''et@cluster0.example.mongodb.net/app?retryWrites=true'") == 2


# --------------------------------------------------------------------------- full cycle


def test_full_cycle_postgres_redis_volume(tmp_path: Path, database: Database, redis: RedisServer) -> None:
    load_redis(redis)
    volume = tmp_path / "volumes" / "files"
    make_volume(volume)
    db_before, redis_before, volume_before = database.checksum(), redis_state(redis), tree_checksum(volume)
    assert db_before.startswith("3000:")
    assert sum(len(keys) for keys in redis_before.values()) == 1509 and 3 in redis_before

    wrappers, argv_log = logging_wrappers(tmp_path, ["pg_dump", "pg_restore", "redis-cli"])
    env = {
        **base_env(tmp_path),
        "DATABASE_URL": database.url,
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(redis.port),
        "REDISCLI_AUTH": REDIS_PASSWORD,
    }
    env["PATH"] = f"{wrappers}:{env['PATH']}"
    spec = make_spec(tmp_path, database="postgres", redis=True, volume_paths={"files": str(volume)})
    scripts = write_scripts(tmp_path, spec, env)

    started = time.time()
    result = scripts.run_backup()
    assert_ok(result)
    finished = time.time()
    assert "initialising" in result.stderr
    log_lines = [line for line in result.stderr.splitlines() if line.startswith("20")]
    assert log_lines and all(LOG_LINE.match(line) for line in log_lines)

    # metrics: every target, a fresh timestamp, success; the file replaced atomically
    metrics_file = tmp_path / "textfile" / "webstack_backup.prom"
    metrics = read_metrics(metrics_file)
    for target in ("database", "redis", "volume:files"):
        stamp = metrics[f'webstack_backup_last_success_timestamp_seconds{{target="{target}"}}']
        assert int(started) <= stamp <= finished
        assert metrics[f'webstack_backup_last_run_success{{target="{target}"}}'] == 1
    assert len(metrics) == 6
    assert "# TYPE webstack_backup_last_success_timestamp_seconds gauge" in metrics_file.read_text()
    assert stat.S_IMODE(metrics_file.stat().st_mode) == 0o644
    assert [p.name for p in metrics_file.parent.iterdir()] == ["webstack_backup.prom"]
    assert not (tmp_path / "work" / "dumps").exists()

    snapshots = scripts.snapshots()
    assert sorted(tuple(s["tags"]) for s in snapshots) == [  # type: ignore[arg-type]
        (STACK, "database"),
        (STACK, "redis"),
        (STACK, "volume:files"),
    ]
    assert {s["hostname"] for s in snapshots} == {STACK}
    assert_ok(scripts.restic("check", "--read-data"))

    # lose everything
    database.sql("DROP TABLE items")
    wipe = redis.client()
    wipe.call("FLUSHALL")
    wipe.call("SET", "greeting", "overwritten")
    wipe.close()
    (volume / "a.txt").write_text("changed\n")
    (volume / "nested" / "b.bin").unlink()
    (volume / "new-file").write_text("not in the backup\n")
    assert database.checksum() == "missing"

    for target in ("database", "redis", "volume:files"):
        result = scripts.run_restore(target)
        assert_ok(result)
        assert f"restored {target} of stack {STACK}" in result.stderr
    assert database.checksum() == db_before
    assert_same_redis(redis_state(redis), redis_before)
    ttl = redis.client().call("PTTL", "expiring")
    assert isinstance(ttl, int) and 0 < ttl <= 3_600_000
    assert tree_checksum(volume) == volume_before
    assert not list((tmp_path / "work").glob("restore.*"))

    # The database and Redis passwords were in no process's arguments.
    argv = argv_log.read_text()
    assert "pg_dump " in argv and "pg_restore --clean --if-exists" in argv and "--rdb" in argv
    for secret in (APP_PASSWORD, quote(APP_PASSWORD, safe=""), "p@ss", REDIS_PASSWORD):
        assert secret not in argv
    for script in (scripts.backup, scripts.restore):
        assert APP_PASSWORD not in script.read_text() and RESTIC_PASSWORD not in script.read_text()


def test_restore_a_named_snapshot_and_refuse_unknown_ones(tmp_path: Path, database: Database) -> None:
    env = {**base_env(tmp_path), "DATABASE_URL": database.url}
    env["PATH"] = f"{restic_clock(tmp_path)}:{env['PATH']}"
    spec = make_spec(tmp_path, database="postgres", volume_paths={"files": str(tmp_path / "files")})
    (tmp_path / "files").mkdir()
    scripts = write_scripts(tmp_path, spec, env)
    # yesterday's nightly run (keep-daily keeps one snapshot a day), then today's
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    assert_ok(scripts.run_backup({**env, "FAKE_SNAPSHOT_TIME": yesterday}))
    first = database.checksum()
    database.sql("DELETE FROM items WHERE id % 3 = 0; UPDATE items SET qty = -1 WHERE id < 10")
    assert_ok(scripts.run_backup())
    second = database.checksum()
    assert second != first and second.startswith("2000:")

    db_snapshots = sorted(scripts.snapshots("--tag", f"{STACK},database"), key=lambda s: str(s["time"]))
    assert len(db_snapshots) == 2
    older = str(db_snapshots[0]["id"])
    volume_snapshot = str(scripts.snapshots("--tag", f"{STACK},volume:files")[0]["id"])

    assert_ok(scripts.run_restore("database", older[:8]))
    assert database.checksum() == first
    assert_ok(scripts.run_restore("database", "latest"))
    assert database.checksum() == second

    database.sql("DELETE FROM items WHERE id > 100")
    live = database.checksum()
    assert_failed(scripts.run_restore("database", "deadbeef"), "snapshot deadbeef does not exist for target database")
    assert_failed(scripts.run_restore("database", volume_snapshot), "does not exist for target database")
    assert_failed(scripts.run_restore("database", "not-an-id"), "snapshot must be 'latest' or a hexadecimal")
    assert_failed(scripts.run_restore("redis"), "unknown target redis")
    assert_failed(scripts.run_restore("volume:nope"), "unknown volume nope")
    assert database.checksum() == live


# --------------------------------------------------------------------------- failures


def test_wrong_password_and_missing_repository_fail_and_touch_nothing(
    tmp_path: Path, database: Database, redis: RedisServer
) -> None:
    load_redis(redis)
    env = {
        **base_env(tmp_path),
        "DATABASE_URL": database.url,
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(redis.port),
        "REDISCLI_AUTH": REDIS_PASSWORD,
    }
    spec = make_spec(tmp_path, database="postgres", redis=True)
    scripts = write_scripts(tmp_path, spec, env)
    assert_ok(scripts.run_backup())
    metrics_file = tmp_path / "textfile" / "webstack_backup.prom"
    good = read_metrics(metrics_file)
    repo = Path(spec.repository)
    repo_before = (repo / "config").read_bytes(), sorted(p.name for p in (repo / "keys").iterdir())
    db_before, redis_before = database.checksum(), redis_state(redis)
    time.sleep(1.1)

    wrong = {**env, "RESTIC_PASSWORD": "wrong password"}
    result = scripts.run_backup(wrong)
    assert_failed(result, "wrong restic password", "RESTIC_PASSWORD does not open the existing repository")
    assert "initialising" not in result.stderr
    assert ((repo / "config").read_bytes(), sorted(p.name for p in (repo / "keys").iterdir())) == repo_before
    assert len(scripts.snapshots()) == 2
    assert database.checksum() == db_before and redis_state(redis) == redis_before
    # the failed run: last_run_success 0, the previous success timestamps kept
    failed = read_metrics(metrics_file)
    for target in ("database", "redis"):
        key = f'webstack_backup_last_success_timestamp_seconds{{target="{target}"}}'
        assert failed[key] == good[key] > 0
        assert failed[f'webstack_backup_last_run_success{{target="{target}"}}'] == 0

    # restores with the wrong password: fail, and the live data (changed since) stays as it is
    database.sql("DELETE FROM items WHERE id > 2000")
    c = redis.client()
    c.call("SET", "greeting", "changed after the backup")
    c.call("DEL", "hash")
    c.close()
    db_live, redis_live = database.checksum(), redis_state(redis)
    for target in ("database", "redis"):
        assert_failed(scripts.run_restore(target, env=wrong), "wrong restic password")
    assert database.checksum() == db_live and redis_state(redis) == redis_live

    # no repository at all: restore says so and creates none
    missing = replace(spec, repository=str(tmp_path / "no-such-repo"))
    other = write_scripts(tmp_path, missing, env, name="missing-repo")
    for target in ("database", "redis"):
        assert_failed(other.run_restore(target), "there is no restic repository at")
    assert not (tmp_path / "no-such-repo").exists()
    assert database.checksum() == db_live and redis_state(redis) == redis_live


def test_a_failing_target_does_not_stop_the_others(tmp_path: Path, database: Database, redis: RedisServer) -> None:
    volume = tmp_path / "files"
    make_volume(volume)
    env = {
        **base_env(tmp_path),
        "DATABASE_URL": database.url,
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(redis.port),
        "REDISCLI_AUTH": "not the redis password",
    }
    spec = make_spec(tmp_path, database="postgres", redis=True, volume_paths={"files": str(volume)})
    scripts = write_scripts(tmp_path, spec, env)
    result = scripts.run_backup()
    assert_failed(result, "redis: failed", "some targets failed")
    assert sorted(tuple(s["tags"])[1] for s in scripts.snapshots()) == ["database", "volume:files"]  # type: ignore[arg-type]
    metrics = read_metrics(tmp_path / "textfile" / "webstack_backup.prom")
    assert metrics['webstack_backup_last_run_success{target="redis"}'] == 0
    assert metrics['webstack_backup_last_success_timestamp_seconds{target="redis"}'] == 0
    for target in ("database", "volume:files"):
        assert metrics[f'webstack_backup_last_run_success{{target="{target}"}}'] == 1
        assert metrics[f'webstack_backup_last_success_timestamp_seconds{{target="{target}"}}'] > 0
    assert not (tmp_path / "work" / "dumps").exists()


def test_missing_environment_is_named(tmp_path: Path) -> None:
    need("restic")
    (tmp_path / "files").mkdir()
    spec = make_spec(tmp_path, database="postgres", redis=True, volume_paths={"files": str(tmp_path / "files")})
    env = {**base_env(tmp_path), "DATABASE_URL": "postgresql://app@127.0.0.1:1/app", "REDIS_PORT": "6379"}
    scripts = write_scripts(tmp_path, spec, env)
    assert_failed(scripts.run_backup(), "environment variable REDIS_HOST is not set")
    no_password = {k: v for k, v in env.items() if k != "RESTIC_PASSWORD"}
    assert_failed(scripts.run_backup(no_password), "environment variable RESTIC_PASSWORD is not set")
    no_url = {k: v for k, v in env.items() if k != "DATABASE_URL"} | {"REDIS_HOST": "127.0.0.1"}
    assert_failed(scripts.run_backup(no_url), "environment variable DATABASE_URL is not set")
    assert_failed(scripts.run_restore("redis"), "environment variable REDIS_HOST is not set")
    assert not Path(spec.repository).exists()
    metrics = read_metrics(tmp_path / "textfile" / "webstack_backup.prom")
    assert metrics['webstack_backup_last_run_success{target="database"}'] == 0
    assert metrics['webstack_backup_last_success_timestamp_seconds{target="database"}'] == 0


def test_two_runs_never_overlap(tmp_path: Path) -> None:
    need("restic")
    need("flock")
    (tmp_path / "files").mkdir()
    spec = make_spec(tmp_path, volume_paths={"files": str(tmp_path / "files")})
    scripts = write_scripts(tmp_path, spec, base_env(tmp_path))
    (tmp_path / "work").mkdir()
    with open(tmp_path / "work" / "lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert_failed(scripts.run_backup(), "another webstack backup or restore is running")
        assert_failed(scripts.run_restore("volume:files"), "another webstack backup or restore is running")
    assert not Path(spec.repository).exists()
    assert not (tmp_path / "textfile").exists()
    assert_ok(scripts.run_backup())


# --------------------------------------------------------------------------- retention


def expected_kept(times: list[datetime], daily: int, weekly: int, monthly: int) -> set[datetime]:
    """restic's documented policy: newest first, each rule keeps the newest snapshot of each
    of its last N periods (day, ISO week, month) that have snapshots."""

    def day(t: datetime) -> object:
        return (t.year, t.month, t.day)

    def week(t: datetime) -> object:
        return tuple(t.isocalendar())[:2]

    def month(t: datetime) -> object:
        return (t.year, t.month)

    rules: list[tuple[int, Callable[[datetime], object]]] = [(daily, day), (weekly, week), (monthly, month)]
    left = [count for count, _ in rules]
    last: list[object] = [None, None, None]
    kept: set[datetime] = set()
    for t in sorted(times, reverse=True):
        for i, (_, period) in enumerate(rules):
            if left[i] > 0 and period(t) != last[i]:
                last[i] = period(t)
                left[i] -= 1
                kept.add(t)
    return kept


def test_expected_kept_model() -> None:
    day = datetime(2024, 3, 31, 2, tzinfo=UTC)  # a Sunday
    times = [day - timedelta(days=n) for n in range(60)] + [day - timedelta(days=2, hours=1)]
    kept = expected_kept(times, daily=3, weekly=2, monthly=2)
    assert sorted(kept, reverse=True) == [
        day,  # daily 1, weekly 1 (week 13), monthly 1 (March)
        day - timedelta(days=1),  # daily 2
        day - timedelta(days=2),  # daily 3 (the later of that day's two)
        day - timedelta(days=7),  # weekly 2: Sunday of week 12
        day - timedelta(days=31),  # monthly 2: February 29th
    ]


def snapshot_time(snapshot: dict[str, object]) -> datetime:
    text = re.sub(r"(\.\d{6})\d*", r"\1", str(snapshot["time"])).replace("Z", "+00:00")
    return datetime.fromisoformat(text).astimezone(UTC).replace(microsecond=0)


def test_retention_keeps_exactly_the_policy(tmp_path: Path) -> None:
    need("restic")
    volume = tmp_path / "files"
    volume.mkdir()
    (volume / "data").write_text("x\n")
    retention = RetentionConfig(daily=5, weekly=3, monthly=2)
    spec = make_spec(tmp_path, retention=retention, volume_paths={"files": str(volume)}, verify_subset="10%")
    env = base_env(tmp_path)
    scripts = write_scripts(tmp_path, spec, env)
    assert_ok(scripts.restic("init"))

    # 64 days of nightly snapshots (always three months or more), two on some days, made with restic's --time; and
    # another stack's snapshots in the same repository, which this stack must not touch.
    now = datetime.now(UTC).replace(microsecond=0)
    times = [now - timedelta(days=n, hours=1) for n in range(1, 65)]
    times += [now - timedelta(days=n, hours=5) for n in (2, 9, 40)]
    jobs = [(STACK, "volume:files", t) for t in times]
    jobs += [("staging", "volume:files", now - timedelta(days=n)) for n in (1, 2, 3, 30)]
    procs: list[subprocess.Popen[bytes]] = []
    restic_env = {**env, "RESTIC_REPOSITORY": spec.repository}
    for host, target, t in jobs:
        while len(procs) >= 6:
            proc = procs.pop(0)
            assert proc.wait(120) == 0
        procs.append(
            subprocess.Popen(
                [
                    "restic",
                    "backup",
                    "--quiet",
                    "--host",
                    host,
                    "--tag",
                    host,
                    "--tag",
                    target,
                    "--time",
                    t.strftime("%Y-%m-%d %H:%M:%S"),
                    str(volume),
                ],
                env=restic_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    for proc in procs:
        assert proc.wait(120) == 0
    assert len(scripts.snapshots()) == len(jobs)

    assert_ok(scripts.run_backup())  # one more snapshot, now; then forget --prune and check

    remaining = scripts.snapshots("--host", STACK)
    new = [snapshot_time(s) for s in remaining if snapshot_time(s) > now - timedelta(minutes=5)]
    assert len(new) == 1
    want = expected_kept([*times, new[0]], daily=5, weekly=3, monthly=2)
    assert {snapshot_time(s) for s in remaining} == want
    assert min(times) not in want and len(want) <= 5 + 3 + 2 and len(remaining) == len(want)
    assert len(scripts.snapshots("--host", "staging")) == 4
    assert_ok(scripts.restic("check"))


def test_restore_follows_the_sentinels_to_the_primary(tmp_path: Path, redis: RedisServer) -> None:
    """Since a failover the configured REDIS_HOST may be a replica, which refuses writes: with
    REDIS_SENTINELS the restore writes into the primary they name. When none of them answers
    it refuses before touching anything."""
    load_redis(redis)
    expected = redis_state(redis)
    spec = make_spec(tmp_path, redis=True)
    env = base_env(tmp_path) | {
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(redis.port),
        "REDISCLI_AUTH": REDIS_PASSWORD,
    }
    scripts = write_scripts(tmp_path, spec, env)
    assert_ok(scripts.run_backup())
    replica = RedisServer(tmp_path / "replica", REDIS_PASSWORD)
    sentinel = SentinelServer(tmp_path / "sentinel", redis.port, REDIS_PASSWORD)
    try:
        to_replica = replica.client()
        to_replica.call("CONFIG", "SET", "masterauth", REDIS_PASSWORD)
        to_replica.call("REPLICAOF", "127.0.0.1", str(redis.port))
        to_primary = redis.client()
        to_primary.call("FLUSHALL")  # the loss a replica does not protect from: it replicates
        for _ in range(100):
            info = to_replica.call("INFO", "replication")
            if isinstance(info, bytes) and b"master_link_status:up" in info and to_replica.call("DBSIZE") == 0:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"the replica did not sync: {info!r}")
        via_replica = env | {"REDIS_PORT": str(replica.port), "REDIS_SENTINEL_MASTER": "webstack"}

        nobody = scripts.run_restore("redis", env=via_replica | {"REDIS_SENTINELS": f"127.0.0.1:{free_port()}"})
        assert_failed(nobody, "no Sentinel of", "not restoring into a node that may be a replica")
        assert to_primary.call("DBSIZE") == 0

        restored = scripts.run_restore("redis", env=via_replica | {"REDIS_SENTINELS": f"127.0.0.1:{sentinel.port}"})
        assert_ok(restored)
        assert f"the Sentinels name 127.0.0.1:{redis.port} primary" in restored.stderr
        assert_same_redis(redis_state(redis), expected)
    finally:
        sentinel.stop()
        replica.stop()
