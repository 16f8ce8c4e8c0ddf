"""A PostgreSQL 15 primary and hot standby started by the rendered files and scripts.

Debian's PostgreSQL 15 (/usr/lib/postgresql/15/bin), PgBouncer and postgres exporter; each
node listens on its own loopback address (127.0.0.2, 127.0.0.3) on one free port, with its
config, socket, run and data directories in a temporary directory. The start scripts run
as the `postgres` user (from root: PostgreSQL refuses root, and the admin role `postgres`
logs in by peer). A missing tool fails the test and names its Debian package.

libpq cannot choose its source address: on this machine every client connects from
127.0.0.1 (the kernel's source for the loopback), which stands for the peers' addresses.
`startup_probe` speaks the first message of PostgreSQL's protocol from any loopback source
address, so pg_hba.conf's decision (rejected, or which authentication it asks for) is
checked for sources that libpq cannot use.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from components.render.postgres import (
    ClusterSpec,
    PostgresPaths,
    Role,
    render_pg_hba,
    render_pgbouncer_ini,
    render_pgbouncer_start,
    render_postgresql_conf,
    render_primary_init_sql,
    render_primary_start,
    render_standby_start,
)

from .backup_servers import PSQL

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PGBOUNCER = "/usr/sbin/pgbouncer"
EXPORTER = "/usr/bin/prometheus-postgres-exporter"
CLIENT_SOURCE = "127.0.0.1"


def need_postgres_15() -> None:
    if not (PG_BIN / "postgres").exists():
        pytest.fail(
            f"PostgreSQL 15 is not installed ({PG_BIN}): apt-get install -y --no-install-recommends postgresql-15",
            pytrace=False,
        )
    if shutil.which("psql") is None:
        pytest.fail(
            "psql is not installed: apt-get install -y --no-install-recommends postgresql-client", pytrace=False
        )


def need_file(path: str, package: str) -> str:
    if not Path(path).exists():
        pytest.fail(f"{path} is not installed: apt-get install -y --no-install-recommends {package}", pytrace=False)
    return path


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        port: int = s.getsockname()[1]
        return port


def _owner() -> tuple[list[str], int | None, int | None]:
    """How to run as the server's user: a prefix, and the uid/gid to chown to (None: as is).

    The admin role is `postgres`, reached by peer authentication: the scripts run as the
    OS user `postgres` (from root), or the tests run as that user themselves."""
    if os.geteuid() != 0:
        if pwd.getpwuid(os.geteuid()).pw_name != "postgres":
            pytest.fail("run these tests as root or as the postgres user (the admin logs in by peer)", pytrace=False)
        return [], None, None
    entry = pwd.getpwnam("postgres")
    prefix = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups"]
    return prefix, entry.pw_uid, entry.pw_gid


def chown_tree(path: Path) -> None:
    _, uid, gid = _owner()
    if uid is None or gid is None:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


@dataclass
class Node:
    name: str
    address: str
    root: Path
    paths: PostgresPaths
    process: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def marker(self) -> Path:
        return Path(self.paths.run_dir) / "initialised"

    @property
    def log(self) -> Path:
        return self.logs[-1]

    def log_text(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs if p.exists())


class Cluster:
    """Two nodes whose roles follow a ClusterSpec (swapped by a switchover)."""

    def __init__(self, spec: ClusterSpec, passwords: Mapping[str, str]) -> None:
        need_postgres_15()
        self.spec = spec
        self.passwords = dict(passwords)
        self.port = spec.config.port
        self.root = Path(tempfile.mkdtemp(prefix="webstack-pgcluster-"))
        self.root.chmod(0o755)
        self.prefix, _, _ = _owner()
        assert spec.standby is not None
        self.nodes = {n.name: self._node(n.name, n.address) for n in (spec.primary, spec.standby)}
        chown_tree(self.root)

    def _node(self, name: str, address: str) -> Node:
        root = self.root / name
        for sub in ("etc", "sock", "volume"):
            (root / sub).mkdir(parents=True)
        paths = PostgresPaths(
            bindir=str(PG_BIN),
            data_dir=str(root / "volume" / "pgdata"),
            config_dir=str(root / "etc"),
            socket_dir=str(root / "sock"),
            run_dir=str(root / "run"),
            pgbouncer=PGBOUNCER,
        )
        return Node(name=name, address=address, root=root, paths=paths)

    def node(self, role: Role) -> Node:
        return self.nodes[self.spec.node(role).name]

    def env(self, node: Node, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(node.root),
            **self.passwords,
            **(extra or {}),
        }

    def write_files(self, role: Role) -> Node:
        """The rendered files of the node that has `role` in the current spec."""
        node = self.node(role)
        etc = Path(node.paths.config_dir)
        files = {
            "postgresql.conf": render_postgresql_conf(self.spec, role, listen_addresses=node.address, paths=node.paths),
            "pg_hba.conf": render_pg_hba(self.spec),
            "init.sql": render_primary_init_sql(self.spec),
            "start.sh": (render_primary_start if role == "primary" else render_standby_start)(self.spec, node.paths),
        }
        for name, text in files.items():
            (etc / name).write_text(text)
        chown_tree(node.root)
        return node

    def start(self, role: Role, *, timeout: float = 120) -> Node:
        node = self.write_files(role)
        log = node.root / f"{role}-{len(node.logs)}.log"
        node.logs.append(log)
        with log.open("wb") as out:
            node.process = subprocess.Popen(
                [*self.prefix, "bash", str(Path(node.paths.config_dir) / "start.sh")],
                env=self.env(node),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=node.root,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.process.poll() is not None:
                raise AssertionError(f"the {role} start script exited ({node.process.returncode}):\n{node.log_text()}")
            if role == "primary" and node.marker.exists():
                return node
            if role == "standby" and self.ready(node):
                return node
            time.sleep(0.2)
        raise AssertionError(f"the {role} on {node.name} did not come up in {timeout}s:\n{node.log_text()}")

    def ready(self, node: Node) -> bool:
        result = subprocess.run(
            [
                str(PG_BIN / "pg_isready"),
                "-q",
                "-h",
                node.address,
                "-p",
                str(self.port),
                "-U",
                "exporter",
                "-d",
                "postgres",
                "-t",
                "2",
            ],
            check=False,
        )
        return result.returncode == 0

    def stop(self, node: Node, sig: int = signal.SIGINT, *, timeout: float = 60) -> int:
        """Signal the node's start script (or the server it became) and wait for it."""
        assert node.process is not None
        if node.process.poll() is None:
            node.process.send_signal(sig)
        try:
            return node.process.wait(timeout)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait()
            raise AssertionError(f"{node.name} did not stop in {timeout}s:\n{node.log_text()}") from None

    def psql(
        self,
        node: Node,
        sql: str,
        *,
        user: str,
        password: str,
        database: str,
        check: bool = True,
        address: str | None = None,
        port: int | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """psql over TCP (from 127.0.0.1), as `user` with `password`."""
        env = {**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "10", "PGSSLMODE": "disable"}
        result = subprocess.run(
            [
                *PSQL,
                "-h",
                address or node.address,
                "-p",
                str(port or self.port),
                "-U",
                user,
                "-d",
                database,
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"psql as {user} on {node.name} failed: {result.stderr}")
        return result

    def admin(self, node: Node, sql: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """psql as the admin on the node's local socket (peer authentication)."""
        return self.admin_file(node, ["-c", sql], check=check)

    def admin_file(
        self, node: Node, args: list[str], *, check: bool = True, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [
                *self.prefix,
                *PSQL,
                "-h",
                node.paths.socket_dir,
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                *args,
            ],
            capture_output=True,
            text=True,
            env=self.env(node, env),
            timeout=120,
            check=False,
            cwd=node.root,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"admin psql on {node.name} failed: {result.stderr}")
        return result

    def close(self) -> None:
        for node in self.nodes.values():
            if node.process is not None and node.process.poll() is None:
                node.process.send_signal(signal.SIGINT)
                try:
                    node.process.wait(30)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class PgBouncer:
    cluster: Cluster
    address: str
    port: int
    server_host: str
    root: Path = field(init=False)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        need_file(PGBOUNCER, "pgbouncer")
        cluster = self.cluster
        self.root = cluster.root / "pgbouncer"
        paths = PostgresPaths(
            bindir=str(PG_BIN),
            config_dir=str(self.root / "etc"),
            run_dir=str(self.root / "run"),
            pgbouncer=PGBOUNCER,
        )
        self.paths = paths
        (self.root / "etc").mkdir(parents=True)
        (self.root / "etc" / "pgbouncer.ini").write_text(
            render_pgbouncer_ini(cluster.spec, server_host=self.server_host, listen_addr=self.address, paths=paths)
        )
        (self.root / "etc" / "start.sh").write_text(render_pgbouncer_start(cluster.spec, paths))
        chown_tree(self.root)
        self.log = self.root / "pgbouncer.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [*cluster.prefix, "bash", str(self.root / "etc" / "start.sh")],
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root), **cluster.passwords},
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.root,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"pgbouncer exited ({self.process.returncode}):\n{self.log.read_text()}")
            try:
                with socket.create_connection((self.address, self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"pgbouncer did not listen in 30s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- the protocol's first message -------------------------------------------------------------

PROTOCOL_3 = 196608
AUTH_NAMES = {0: "trust", 3: "password", 5: "md5", 10: "sasl"}


@dataclass(frozen=True)
class ProbeAnswer:
    kind: str  # "rejected", "sasl", "md5", "password", "trust" or "other"
    detail: str  # the error message, or the SASL mechanisms


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(data)} of {size} bytes")
        data += chunk
    return data


def startup_probe(
    address: str, port: int, *, source: str, user: str, database: str, replication: bool = False
) -> ProbeAnswer:
    """Send a StartupMessage from `source` and read the server's first answer."""
    params = {"user": user, "database": database}
    if replication:
        params["replication"] = "true"
    body = struct.pack("!I", PROTOCOL_3)
    body += b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in params.items()) + b"\0"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.bind((source, 0))
        sock.connect((address, port))
        sock.sendall(struct.pack("!I", len(body) + 4) + body)
        kind = _read_exactly(sock, 1)
        (length,) = struct.unpack("!I", _read_exactly(sock, 4))
        payload = _read_exactly(sock, length - 4)
    if kind == b"E":
        fields = {f[:1]: f[1:].decode(errors="replace") for f in payload.split(b"\0") if f}
        return ProbeAnswer("rejected", fields.get(b"M", ""))
    if kind == b"R":
        (code,) = struct.unpack("!I", payload[:4])
        name = AUTH_NAMES.get(code, "other")
        detail = ",".join(m.decode() for m in payload[4:].split(b"\0") if m) if code == 10 else str(code)
        return ProbeAnswer(name, detail)
    return ProbeAnswer("other", repr(kind))
