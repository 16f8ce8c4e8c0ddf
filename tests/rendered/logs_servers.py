"""Real servers for the log tests: VictoriaLogs and vmalert (built from the Go module proxy by
images/gobin.sh, cached), Debian's syslog-ng with the rendered shipper config, and Docker
json-file log files written the way dockerd writes them.

Every server listens on its own 127.0.0.x address and keeps its files in a temporary
directory; a missing tool fails the test and names the package or the script to run.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from components.render.logs import LABELS, LogStoreSpec, ShipperSpec, render_shipper_conf, victorialogs_args

REPO = Path(__file__).resolve().parents[2]
GOBIN = REPO / "images" / "gobin.sh"
# Cold: about 70-90 s each on 2 cores (modules downloaded from the proxy, then compiled).
GOBIN_TIMEOUT_S = 1200


def go_binary(name: str) -> Path:
    """images/gobin.sh NAME: the binary, built once and cached (fails the test if it cannot be)."""
    if shutil.which("go") is None:
        pytest.fail(f"go is not on PATH: images/gobin.sh {name} builds {name} with Go >= 1.26.6", pytrace=False)
    started = time.monotonic()
    done = subprocess.run(["bash", str(GOBIN), name], capture_output=True, text=True, timeout=GOBIN_TIMEOUT_S)
    if done.returncode != 0:
        pytest.fail(f"images/gobin.sh {name} exited {done.returncode}:\n{done.stderr[-4000:]}", pytrace=False)
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path.is_file() and os.access(path, os.X_OK), path
    print(f"\nimages/gobin.sh {name}: {time.monotonic() - started:.1f}s ({done.stderr.strip().splitlines()[-1]})")
    return path


def syslog_ng() -> str:
    path = shutil.which("syslog-ng") or ("/usr/sbin/syslog-ng" if Path("/usr/sbin/syslog-ng").exists() else None)
    if (
        path is None
        or not Path("/usr/lib/syslog-ng").exists()
        or not list(Path("/usr/lib/syslog-ng").glob("*/libhttp.so"))
    ):
        pytest.fail(
            "syslog-ng with its HTTP destination is not installed: "
            "apt-get install -y --no-install-recommends syslog-ng-core syslog-ng-mod-http",
            pytrace=False,
        )
    return path


def free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def http_get(url: str, *, timeout: float = 10) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def stop_gracefully(process: subprocess.Popen[bytes] | None, timeout: float = 30) -> None:
    """SIGTERM, as `docker stop` sends; SIGKILL when it is not gone within `timeout` s."""
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- VictoriaLogs ------------------------------------------------------------------------------


@dataclass
class LogStore:
    """A VictoriaLogs server started with the rendered command line."""

    binary: Path
    address: str
    workdir: Path
    retention: str = "14d"
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.port = self.port or free_port(self.address)
        self.log_path = self.workdir / "victoria-logs.log"

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    def args(self) -> list[str]:
        spec = LogStoreSpec(
            retention=self.retention, port=self.port, listen_address=self.address, data_path=str(self.data)
        )
        return victorialogs_args(spec)

    def start(self, *, timeout: float = 30) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([str(self.binary), *self.args()], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                healthy = http_get(f"{self.url}/health", timeout=2)[0] == 200
            except OSError:  # not listening yet
                healthy = False
            if healthy:
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"VictoriaLogs did not start ({self.args()}):\n{self.log()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        """A graceful stop (SIGTERM: VictoriaLogs flushes what it has to disk), as `docker stop`."""
        stop_gracefully(self.process)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def rss_kib(self) -> int:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def query(self, logsql: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        """The lines a LogsQL query returns (/select/logsql/query, JSON lines)."""
        params = {"query": logsql} | ({"limit": str(limit)} if limit is not None else {})
        request = urllib.request.Request(f"{self.url}/select/logsql/query", data=urlencode(params).encode())
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                body = response.read().decode()
        except urllib.error.HTTPError as err:
            raise AssertionError(f"query {logsql!r}: HTTP {err.code}: {err.read().decode(errors='replace')}") from err
        return [json.loads(line) for line in body.splitlines() if line.strip()]

    def count(self, logsql: str) -> int:
        rows = self.query(f"{logsql} | stats count() as n")
        return int(rows[0]["n"]) if rows else 0

    def post_jsonline(
        self, lines: Sequence[dict[str, Any]], *, stream_fields: str = "host,stack,service,replica"
    ) -> None:
        body = "".join(json.dumps(line) + "\n" for line in lines).encode()
        request = urllib.request.Request(
            f"{self.url}/insert/jsonline?{urlencode({'_stream_fields': stream_fields})}",
            data=body,
            headers={"Content-Type": "application/stream+json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200, response.status

    def flush(self) -> None:
        """Make what was ingested searchable now (/internal/force_flush)."""
        assert http_get(f"{self.url}/internal/force_flush")[0] == 200


# --- syslog-ng, the shipper --------------------------------------------------------------------


@dataclass
class Shipper:
    """Debian's syslog-ng running the rendered shipper config (as root, like on a host)."""

    spec: ShipperSpec
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.workdir / "syslog-ng.conf"

    @property
    def control(self) -> Path:
        return self.workdir / "syslog-ng.ctl"

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.conf.write_text(render_shipper_conf(self.spec))
        binary = syslog_ng()
        checked = subprocess.run(
            [binary, "--syntax-only", "-f", str(self.conf)], capture_output=True, text=True, timeout=60, check=False
        )
        assert checked.returncode == 0, (
            f"syslog-ng refused the rendered config:\n{checked.stderr}\n{self.conf.read_text()}"
        )
        with (self.workdir / "syslog-ng.out").open("ab") as out:
            self.process = subprocess.Popen(
                [
                    binary,
                    "-F",
                    "--no-caps",
                    f"--cfgfile={self.conf}",
                    f"--persist-file={self.spec.state_dir}/syslog-ng.persist",
                    f"--pidfile={self.workdir}/syslog-ng.pid",
                    f"--control={self.control}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until(
            lambda: self.control.exists() or self.process is None or self.process.poll() is not None,
            timeout=20,
            what="syslog-ng's control socket",
        )
        assert self.process.poll() is None, f"syslog-ng exited:\n{self.output()}"

    def stop(self) -> None:
        stop_gracefully(self.process)

    def output(self) -> str:
        path = self.workdir / "syslog-ng.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def stats(self) -> dict[str, int]:
        """The store destination's counters (queued, written, dropped, ...)."""
        done = subprocess.run(
            ["syslog-ng-ctl", "stats", "-c", str(self.control)], capture_output=True, text=True, timeout=30, check=False
        )
        out: dict[str, int] = {}
        for line in done.stdout.splitlines():
            parts = line.split(";")
            if len(parts) == 6 and parts[0] == "dst.http" and parts[1].startswith("d_store"):
                out[parts[4]] = int(parts[5])
        return out


# --- Docker's json-file logs -------------------------------------------------------------------


@dataclass
class ContainerLog:
    """One container's log file as dockerd's json-file driver writes it, with the log-opt
    `labels` naming the webstack labels: {"log": ..., "stream": ..., "attrs": {...}, "time": ...}."""

    containers_dir: Path
    stack: str
    service: str
    replica: str
    container_id: str = field(default_factory=lambda: os.urandom(32).hex())

    @property
    def path(self) -> Path:
        return self.containers_dir / self.container_id / f"{self.container_id}-json.log"

    def write(self, *messages: str, stream: str = "stdout") -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        attrs = {LABELS["stack"]: self.stack, LABELS["service"]: self.service, LABELS["replica"]: self.replica}
        with self.path.open("a") as f:
            for message in messages:
                now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                f.write(json.dumps({"log": message + "\n", "stream": stream, "attrs": attrs, "time": now}) + "\n")
