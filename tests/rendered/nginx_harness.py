"""The edge's nginx.conf on a real nginx: render a stack's config for this machine, start it.

Debian's nginx runs as the test's child on 127.0.0.1 free ports with a self-signed
certificate made by openssl, in front of `nginx_upstream` replicas (one child process
each). Each test picks its own loopback source address (the whole 127/8 is local), so
that rate-limit buckets, which are per client IP, never leak from one test to another.
A missing tool fails the test and names the Debian package that ships it.
"""

from __future__ import annotations

import dataclasses
import http.client
import itertools
import json
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from components.config import StackConfig
from components.config.stackfile import read_stack_file
from components.load import load_stack_config
from components.render.nginx import NginxRuntime, edge_spec, render_nginx_conf

from .nginx_upstream import UpstreamProcess

# command -> Debian package
PACKAGES: dict[str, str] = {"nginx": "nginx-light", "openssl": "openssl"}

# The peer the tests trust like a Cloudflare edge (`extra_trusted_proxies`): the real
# ranges are public addresses this machine cannot connect from.
TRUSTED_PEER = "127.0.0.2"
MIME_TYPES = "/etc/nginx/mime.types"


def need(command: str) -> str:
    """The path of a command, or fail the test naming the Debian package that ships it."""
    path = shutil.which(command) or (f"/usr/sbin/{command}" if Path(f"/usr/sbin/{command}").exists() else None)
    if path is None:
        package = PACKAGES.get(command, command)
        pytest.fail(f"{command} is not installed: apt-get install -y --no-install-recommends {package}", pytrace=False)
    return path


def need_file(path: str, package: str) -> str:
    if not Path(path).exists():
        pytest.fail(f"{path} is missing: apt-get install -y --no-install-recommends {package}", pytrace=False)
    return path


def stack_config(stack: str) -> StackConfig:
    raw, secret_keys = read_stack_file(stack)
    return load_stack_config(stack, raw, secret_keys, placeholder_secrets=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- addresses --------------------------------------------------------------------------

_sources = itertools.count(1)
_client_ips = itertools.count(1)
_lock = threading.Lock()


def fresh_source() -> str:
    """A loopback address no other request of this run has come from (its own limit bucket)."""
    with _lock:
        n = next(_sources)
    return f"127.10.{n // 250}.{n % 250 + 1}"


def fresh_client_ip() -> str:
    """A public-looking client address (198.18.0.0/15, benchmarking) for CF-Connecting-IP."""
    with _lock:
        n = next(_client_ips)
    return f"198.18.{n // 250}.{n % 250 + 1}"


# --- certificate ------------------------------------------------------------------------


def make_certificate(directory: Path, names: Iterable[str], *, key: str = "ec") -> tuple[Path, Path]:
    """A self-signed certificate for `names` and 127.0.0.1 (EC P-256, or RSA 2048)."""
    openssl = need("openssl")
    crt, pem = directory / "edge.crt", directory / "edge.key"
    san = ",".join([*(f"DNS:{n}" for n in names), "IP:127.0.0.1"])
    algorithm = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if key == "ec" else ["-newkey", "rsa:2048"]
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            *algorithm,
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=webstack-test",
            "-keyout",
            str(pem),
            "-out",
            str(crt),
            "-addext",
            f"subjectAltName={san}",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return crt, pem


def client_context(cafile: Path, *, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    """A verifying client context; `version` pins the protocol (both min and max)."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    if version is not None:
        if version < ssl.TLSVersion.TLSv1_2:
            # OpenSSL 3 refuses TLS 1.0/1.1 on the client side at the default security
            # level: lower it so that a refusal can only come from the server.
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = version
        ctx.maximum_version = version
    return ctx


# --- HTTP -------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    at: float = 0.0

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def upstream(self) -> str | None:
        return self.header("X-Upstream")


class Client:
    """One keep-alive HTTPS connection to the edge, from a chosen source address."""

    def __init__(self, port: int, context: ssl.SSLContext, *, source: str | None = None, host: str = "localhost"):
        self.host = host
        self.conn = http.client.HTTPSConnection(
            "127.0.0.1", port, context=context, timeout=15, source_address=(source or fresh_source(), 0)
        )

    def request(
        self, method: str, path: str, headers: Mapping[str, str] | None = None, body: bytes | None = None
    ) -> Response:
        all_headers = {"Host": self.host, **(headers or {})}
        self.conn.request(method, path, body=body, headers=all_headers)
        raw = self.conn.getresponse()
        data = raw.read()
        return Response(raw.status, list(raw.getheaders()), data, time.monotonic())

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> Response:
        return self.request("GET", path, headers)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_head(sock: socket.socket) -> tuple[int, list[tuple[str, str]], bytes]:
    """Read an HTTP response head from a raw socket: (status, headers, bytes after the head)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before the end of the response head: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    return status, headers, rest


# --- the edge ---------------------------------------------------------------------------


@dataclass
class Edge:
    """A stack's edge config running on Debian's nginx, and the replicas behind it."""

    stack: str
    config: StackConfig
    workdir: Path
    upstreams: dict[str, list[UpstreamProcess]]
    conf: Path
    certificate: Path
    http_port: int
    https_port: int
    status_port: int
    conf_text: str
    process: subprocess.Popen[bytes] | None = None
    stopped: bool = False

    @property
    def error_log(self) -> Path:
        return self.workdir / "error.log"

    @property
    def access_log(self) -> Path:
        return self.workdir / "access.log"

    @property
    def host(self) -> str:
        return self.config.server_names[0]

    def errors(self) -> str:
        return self.error_log.read_text(errors="replace") if self.error_log.exists() else ""

    def context(self, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        return client_context(self.certificate, version=version)

    def client(self, source: str | None = None) -> Client:
        return Client(self.https_port, self.context(), source=source, host=self.host)

    def get(self, path: str, headers: Mapping[str, str] | None = None, *, source: str | None = None) -> Response:
        with self.client(source) as client:
            return client.get(path, headers)

    def tls_socket(self, source: str | None = None) -> ssl.SSLSocket:
        raw = socket.create_connection(
            ("127.0.0.1", self.https_port), timeout=15, source_address=(source or fresh_source(), 0)
        )
        return self.context().wrap_socket(raw, server_hostname="127.0.0.1")

    def nginx_test(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [need("nginx"), "-t", "-c", str(self.conf), "-p", str(self.workdir), "-e", str(self.error_log)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def start(self) -> None:
        checked = self.nginx_test()
        if checked.returncode != 0:
            raise RuntimeError(f"nginx -t rejected the {self.stack} edge config:\n{checked.stderr}\n{self.conf_text}")
        self.process = subprocess.Popen(
            [
                need("nginx"),
                "-c",
                str(self.conf),
                "-p",
                str(self.workdir),
                "-e",
                str(self.error_log),
                "-g",
                "daemon off;",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.https_port), timeout=1):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not start for {self.stack}:\n{self.errors()}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: finish what is in flight
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for replicas in self.upstreams.values():
            for upstream in replicas:
                upstream.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_edge(stack: str, config: StackConfig | None = None, *, status: bool = True) -> Edge:
    """Start every replica of every service of `stack`, then the stack's edge in front of them."""
    need("nginx")
    need_file(MIME_TYPES, "nginx-common")
    config = config or stack_config(stack)
    # Workers run as nobody when the tests are root: a world-traversable work dir under
    # /tmp (not pytest's 0700 tmp_path), so that they can write request bodies to it.
    workdir = Path(tempfile.mkdtemp(prefix=f"webstack-edge-{stack}-"))
    workdir.chmod(0o755)
    (workdir / "tmp").mkdir(mode=0o755)
    upstreams: dict[str, list[UpstreamProcess]] = {}
    try:
        for name, service in sorted(config.services.items()):
            upstreams[name] = [UpstreamProcess(f"{name}-{i}") for i in range(service.replicas)]
        crt, key = make_certificate(workdir, config.server_names)
        http_port, https_port, status_port = free_port(), free_port(), free_port()
        runtime = NginxRuntime(
            user=None,
            pid=str(workdir / "nginx.pid"),
            error_log=str(workdir / "error.log"),
            access_log=str(workdir / "access.log"),
            mime_types=MIME_TYPES,
            temp_dir=str(workdir / "tmp"),
        )
        spec = edge_spec(
            config,
            {name: [u.address for u in replicas] for name, replicas in upstreams.items()},
            certificate=str(crt),
            certificate_key=str(key),
            http_listen=f"127.0.0.1:{http_port}",
            https_listen=f"127.0.0.1:{https_port}",
            runtime=runtime,
            extra_trusted_proxies=(TRUSTED_PEER,),
        )
        # The stub_status listener is the exporter's (port 8081 in the container).
        spec = dataclasses.replace(spec, status_listen=f"127.0.0.1:{status_port}" if status else None)
        text = render_nginx_conf(spec)
        conf = workdir / "nginx.conf"
        conf.write_text(text)
        edge = Edge(stack, config, workdir, upstreams, conf, crt, http_port, https_port, status_port, text)
    except BaseException:
        for replicas in upstreams.values():
            for upstream in replicas:
                upstream.kill()
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    try:
        edge.start()
    except BaseException:
        edge.stop()
        raise
    return edge
