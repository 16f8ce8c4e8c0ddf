"""Real PostgreSQL and Redis servers for the backup tests, plus a tiny binary-safe Redis client.

The servers come from Debian's packages and run on 127.0.0.1 (free ports) with their
data in temporary directories; a missing tool fails the test and names the package.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

# command -> Debian package
PACKAGES: dict[str, str] = {
    "restic": "restic",
    "shellcheck": "shellcheck",
    "redis-server": "redis-server",
    "redis-cli": "redis-tools",
    "psql": "postgresql-client",
    "pg_dump": "postgresql-client",
    "pg_restore": "postgresql-client",
    "initdb": "postgresql",
    "flock": "util-linux",
    "runuser": "util-linux",
    "bash": "bash",
}


# psql for scripts: no psqlrc, quiet, unaligned tuples only, the first error stops it.
PSQL = ("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1")


def need(command: str) -> str:
    """The path of a command, or fail the test naming the Debian package that ships it."""
    path = shutil.which(command)
    if path is None:
        package = PACKAGES.get(command, command)
        pytest.fail(f"{command} is not installed: apt-get install -y --no-install-recommends {package}", pytrace=False)
    return path


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        pytest.fail(
            "PostgreSQL server binaries (initdb, pg_ctl) are not installed: "
            "apt-get install -y --no-install-recommends postgresql",
            pytrace=False,
        )
    return Path(found[-1]).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RespError(Exception):
    """An error reply from the server (RESP `-ERR ...`)."""


RespValue = bytes | int | list["RespValue"] | None


class Resp:
    """A minimal RESP2 client: binary-safe keys and values, for checking the restores."""

    def __init__(self, port: int, password: str | None = None, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.reader = self.sock.makefile("rb")
        if password is not None:
            self.call("AUTH", password)

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def call(self, *args: bytes | str | int | float) -> RespValue:
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.sock.sendall(b"".join(parts))
        return self._read()

    def _read(self) -> RespValue:
        line = self.reader.readline()
        if not line.endswith(b"\r\n"):
            raise RespError(f"connection closed: {line!r}")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RespError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self.reader.read(size + 2)
            return data[:-2]
        if kind == b"*":
            count = int(rest)
            if count < 0:
                return None
            return [self._read() for _ in range(count)]
        raise RespError(f"unexpected reply {line!r}")


class RedisServer:
    def __init__(self, directory: Path, password: str, *, extra: Sequence[str] = ()) -> None:
        """`extra`: a config file (first, as redis-server wants it) and options before the rest."""
        need("redis-server")
        self.password = password
        self.port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        self.log = directory / "redis.log"
        self.process = subprocess.Popen(
            [
                "redis-server",
                *extra,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(directory),
                "--save",
                "",
                "--appendonly",
                "no",
                "--logfile",
                str(self.log),
                "--requirepass",
                password,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                client = self.client()
                client.call("PING")
                client.close()
                return
            except (OSError, RespError) as error:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    log = self.log.read_text(errors="replace") if self.log.exists() else ""
                    raise RuntimeError(f"redis-server did not start ({error}): {log}") from error
                time.sleep(0.05)

    def client(self) -> Resp:
        return Resp(self.port, self.password)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class SentinelServer(RedisServer):
    """A Redis Sentinel on 127.0.0.1 watching the primary on `primary_port` as `webstack`
    (quorum 1), with the primary's password as its own."""

    def __init__(self, directory: Path, primary_port: int, password: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        quoted = '"' + password.replace("\\", "\\\\").replace('"', '\\"') + '"'
        self.config = directory / "sentinel.conf"
        self.config.write_text(
            f"sentinel monitor webstack 127.0.0.1 {primary_port} 1\n"
            f"sentinel auth-pass webstack {quoted}\nrequirepass {quoted}\n"
        )
        super().__init__(directory, password, extra=[str(self.config), "--sentinel"])


class PostgresServer:
    """A throwaway cluster; the server never runs as root (it refuses to)."""

    ADMIN = "admin"

    def __init__(self) -> None:
        need("psql")
        bindir = postgres_bin()
        self.port = free_port()
        self.admin_password = "admin-secret"
        self.root = Path(tempfile.mkdtemp(prefix="webstack-pg-"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.sockets.mkdir()
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.admin_password + "\n")
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            need("runuser")
            user = "postgres"
            try:
                pwd.getpwnam(user)
            except KeyError:
                user = "nobody"
            entry = pwd.getpwnam(user)
            for path in (self.root, self.sockets, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            self.prefix = ["runuser", "-u", user, "--"]
        self._as_owner(
            [
                str(bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                self.ADMIN,
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--no-sync",
            ]
        )
        self.pg_ctl = str(bindir / "pg_ctl")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockets} -c fsync=off"
        self._as_owner([self.pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start"])

    def _as_owner(self, argv: Sequence[str]) -> None:
        result = subprocess.run([*self.prefix, *argv], capture_output=True, text=True, timeout=120, cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {result.stdout}\n{result.stderr}")

    def psql(
        self, sql: str, *, database: str = "postgres", user: str | None = None, password: str | None = None
    ) -> str:
        env = {
            **os.environ,
            "PGPASSWORD": password if password is not None else self.admin_password,
            "PGCONNECT_TIMEOUT": "10",
        }
        result = subprocess.run(
            [
                *PSQL,
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                user or self.ADMIN,
                "-d",
                database,
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr}")
        return result.stdout.strip()

    def stop(self) -> None:
        try:
            self._as_owner([self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
