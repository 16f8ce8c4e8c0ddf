"""The demo app (examples/demo-app/app.py) as a process, against a real redis-server.

No Docker: the app runs as a subprocess of this interpreter on a free port, with a
password-protected redis-server from Debian's package in a temp dir (and, for the
failover, a replica and a Sentinel), the app on python3-redis as in the image. A missing
tool fails the tests (naming the Debian package), never skips.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from tests.rendered.nginx_upstream import encode_frame, read_frame, websocket_handshake

from .helpers import REPO, Reply, Resp, free_port, parse_metrics, request, wait_until

pytestmark = pytest.mark.timeout(120)

APP = REPO / "examples" / "demo-app" / "app.py"


def need(command: str, package: str) -> str:
    path = shutil.which(command)
    if path is None:
        pytest.fail(f"{command} is not installed: apt-get install -y --no-install-recommends {package}", pytrace=False)
    return path


def python_with_redis_py() -> str:
    """An interpreter that imports redis (python3-redis, as in the image): this one or Debian's."""
    for candidate in (sys.executable, "/usr/bin/python3"):
        if (
            Path(candidate).exists()
            and subprocess.run([candidate, "-c", "import redis"], capture_output=True).returncode == 0
        ):
            return candidate
    pytest.fail(
        "python3-redis is not installed: apt-get install -y --no-install-recommends python3-redis", pytrace=False
    )


class RedisServer:
    def __init__(self, directory: Path, password: str, *, replica_of: int | None = None) -> None:
        self.directory = directory
        self.password = password
        self.port = free_port()
        self.replica_of = replica_of
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                need("redis-server", "redis-server"),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--requirepass",
                self.password,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--daemonize",
                "no",
                "--logfile",
                str(self.directory / "redis.log"),
                "--masterauth",
                self.password,
                *(["--replicaof", "127.0.0.1", str(self.replica_of)] if self.replica_of else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: self.client().call("PING") == "PONG", timeout=10, what="redis-server answers PING")

    def client(self) -> Resp:
        return Resp(self.port, self.password)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path, secrets.token_hex(16))
    server.start()
    try:
        yield server
    finally:
        server.stop()


class DemoApp:
    def __init__(self, tmp: Path, env: dict[str, str], python: str) -> None:
        self.port = free_port()
        self.replica = env.get("WEBSTACK_REPLICA", "")
        self.log_path = tmp / f"app-{self.port}.log"
        command = [python, str(APP)]
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PORT": str(self.port), **env}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, env=full_env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(self._healthy, timeout=15, what="the demo app answers /health")
        except AssertionError:
            self.stop()
            raise AssertionError(f"the demo app did not come up:\n{self.log()}") from None

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the demo app exited with {self.process.returncode}:\n{self.log()}")
        return request(self.port, "/health", timeout=2).status == 200

    def get(self, path: str, **kwargs: object) -> Reply:
        return request(self.port, path, **kwargs)  # type: ignore[arg-type]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@pytest.fixture
def start_app(tmp_path: Path) -> Iterator[object]:
    apps: list[DemoApp] = []

    def start(**env: str) -> DemoApp:
        app = DemoApp(tmp_path, {"WEBSTACK_REPLICA": "backend-7", **env}, python_with_redis_py())
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.stop()


def closed_port_url() -> str:
    return f"redis://:nope@127.0.0.1:{free_port()}/0"


# --- endpoints ----------------------------------------------------------------------------


def test_health_is_ok_without_touching_redis(start_app) -> None:
    app = start_app(REDIS_URL=closed_port_url())
    reply = app.get("/health")
    assert reply.status == 200
    assert reply.body == b"ok\n"
    assert reply.header("X-Replica") == "backend-7"
    assert (reply.header("Content-Type") or "").startswith("text/plain")


def test_hits_count_in_redis(start_app, redis_server: RedisServer) -> None:
    app = start_app(REDIS_URL=redis_server.url)
    first = app.get("/api/hits")
    assert first.status == 200, first.body
    assert first.header("Content-Type") == "application/json"
    assert first.header("X-Replica") == "backend-7"
    body = json.loads(first.body)
    assert body == {"hits": 1, "replica": "backend-7"}
    for expected in range(2, 6):
        assert json.loads(app.get("/api/hits").body)["hits"] == expected
    # The counter lives in Redis (db 0 of the URL), where every replica sees it.
    assert redis_server.client().call("GET", "webstack:demo:hits") == b"5"


def test_hits_answer_503_while_redis_is_down_and_recover(start_app, redis_server: RedisServer) -> None:
    app = start_app(REDIS_URL=redis_server.url)
    assert app.get("/api/hits").status == 200
    redis_server.stop()
    started = time.monotonic()
    down = app.get("/api/hits")
    assert time.monotonic() - started < 5, "a dead Redis must not hang the request"
    assert down.status == 503
    assert down.header("X-Replica") == "backend-7"
    assert down.header("Content-Type") == "application/json"
    assert json.loads(down.body) == {"error": "redis unavailable", "replica": "backend-7"}
    assert app.get("/health").status == 200, "/health must not depend on Redis"
    redis_server.start()  # same port and password, empty data
    wait_until(lambda: app.get("/api/hits").status == 200, timeout=10, what="hits work again after Redis is back")


def test_wrong_redis_password_is_503(start_app, redis_server: RedisServer) -> None:
    app = start_app(REDIS_URL=f"redis://:wrong@127.0.0.1:{redis_server.port}/0")
    reply = app.get("/api/hits")
    assert reply.status == 503
    assert json.loads(reply.body)["error"] == "redis unavailable"


def test_without_redis_url_hits_are_503(start_app) -> None:
    reply = start_app().get("/api/hits")
    assert reply.status == 503
    assert reply.header("X-Replica") == "backend-7"


def test_login_is_json(start_app) -> None:
    app = start_app(REDIS_URL=closed_port_url())
    reply = app.get(
        "/api/auth/login",
        method="POST",
        body=json.dumps({"username": "ada", "password": "x"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert reply.status == 200
    assert reply.header("Content-Type") == "application/json"
    assert reply.header("X-Replica") == "backend-7"
    body = json.loads(reply.body)
    assert body["ok"] is True and body["user"] == "ada" and len(body["token"]) >= 20
    # An empty body is fine; a body that is not JSON is a 400.
    assert app.get("/api/auth/login", method="POST").status == 200
    assert app.get("/api/auth/login", method="POST", body=b"{nope").status == 400
    # GET on the login path: 405 with Allow.
    wrong = app.get("/api/auth/login")
    assert wrong.status == 405 and wrong.header("Allow") == "POST"


def test_writes_are_in_the_audit_log_with_their_request_id_at_any_level(start_app) -> None:
    """Each POST the app receives is one audit line naming the edge's X-Request-ID, also
    at LOG_LEVEL=warning (production's): a request the edge sent twice would show twice."""
    app = start_app(REDIS_URL=closed_port_url(), LOG_LEVEL="warning")
    assert app.get("/api/auth/login", method="POST", headers={"X-Request-ID": "a1b2c3d4"}).status == 200
    assert app.get("/api/data", headers={"X-Request-ID": "e5f6a7b8"}).status == 200
    wait_until(lambda: "a1b2c3d4" in app.log(), timeout=5, what="the POST's audit line")
    lines = [line for line in app.log().splitlines() if "a1b2c3d4" in line]
    assert len(lines) == 1 and '"POST /api/auth/login HTTP/1.1" 200 a1b2c3d4' in lines[0], lines
    assert "e5f6a7b8" not in app.log(), "a GET is an access line, not written at warning"


def test_login_takes_a_chunked_body(start_app) -> None:
    app = start_app(REDIS_URL=closed_port_url())
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=10)
    conn.request("POST", "/api/auth/login", body=iter([b'{"username":', b' "bob"}']), encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 200
    assert json.loads(response.read())["user"] == "bob"
    # The connection is still usable: the chunked body was read to its end.
    conn.request("GET", "/health")
    assert conn.getresponse().read() == b"ok\n"
    conn.close()


def test_data_is_json_larger_than_2_kib(start_app) -> None:
    reply = start_app(REDIS_URL=closed_port_url()).get("/api/data")
    assert reply.status == 200
    assert reply.header("Content-Type") == "application/json"
    assert len(reply.body) > 2048
    assert int(reply.header("Content-Length") or 0) == len(reply.body)
    body = json.loads(reply.body)
    assert body["replica"] == "backend-7" and len(body["items"]) == body["count"] > 0


def test_api_base_url_answers_with_version_replica_and_routes(start_app) -> None:
    reply = start_app(REDIS_URL=closed_port_url()).get("/api/")
    assert reply.status == 200
    body = json.loads(reply.body)
    assert body["service"] == "backend" and body["replica"] == "backend-7" and body["version"] == "0.1.0"
    assert {"/api/data", "/api/hits", "/api/auth/login", "/api/ws"} <= set(body["routes"])


def test_every_response_names_the_replica(start_app) -> None:
    app = start_app(REDIS_URL=closed_port_url())
    for method, path, status in [
        ("GET", "/health", 200),
        ("GET", "/metrics", 200),
        ("GET", "/api/data", 200),
        ("GET", "/api/hits", 503),
        ("POST", "/api/auth/login", 200),
        ("GET", "/nope", 404),
        ("DELETE", "/api/data", 405),
        ("HEAD", "/health", 501),  # http.server's own error page
    ]:
        reply = app.get(path, method=method)
        assert reply.status == status, (method, path)
        assert reply.header("X-Replica") == "backend-7", (method, path)
    # A request http.server refuses itself (a header line over 64 KiB): its 431 names the replica too.
    with socket.create_connection(("127.0.0.1", app.port), timeout=5) as raw:
        raw.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n")
        head = raw.recv(4096).decode(errors="replace")
    assert head.startswith("HTTP/1.1 431"), head
    assert "X-Replica: backend-7" in head
    # A Content-Length that is not a number: the app's own 400.
    with socket.create_connection(("127.0.0.1", app.port), timeout=5) as raw:
        raw.sendall(b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
        head = raw.recv(4096).decode(errors="replace")
    assert head.startswith("HTTP/1.1 400"), head
    assert "X-Replica: backend-7" in head


def test_keep_alive(start_app) -> None:
    app = start_app(REDIS_URL=closed_port_url())
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=10)
    for _ in range(3):
        conn.request("GET", "/api/data")
        response = conn.getresponse()
        response.read()
        assert response.status == 200 and response.getheader("Connection") is None
    conn.close()


def test_frontend_role_serves_the_page_not_the_api(start_app) -> None:
    app = start_app(APP_ROLE="frontend", WEBSTACK_REPLICA="frontend-0")
    page = app.get("/")
    assert page.status == 200
    assert page.header("Content-Type") == "text/html; charset=utf-8"
    assert b'<script src="/static/app.js">' in page.body and b"frontend-0" in page.body
    assert app.get("/index.html").body == page.body
    script = app.get("/static/app.js")
    assert script.status == 200
    assert (script.header("Content-Type") or "").startswith("application/javascript")
    assert b"/api/hits" in script.body
    for path in ("/api/hits", "/api/data"):
        assert app.get(path).status == 404
    for path in ("/", "/static/app.js", "/health", "/metrics", "/missing"):
        assert app.get(path).header("X-Replica") == "frontend-0", path
    assert app.get("/health").body == b"ok\n"
    metrics = parse_metrics(app.get("/metrics").body.decode())
    assert metrics.get("demo_app_info", version="0.1.0", role="frontend", replica="frontend-0") == 1


def test_bad_role_exits_with_an_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [python_with_redis_py(), str(APP)],
        env={"PATH": os.environ.get("PATH", ""), "APP_ROLE": "database", "PORT": str(free_port())},
        capture_output=True,
        timeout=20,
    )
    assert done.returncode == 2
    assert b"APP_ROLE must be backend or frontend" in done.stderr


# --- metrics ------------------------------------------------------------------------------


def test_metrics_count_requests_by_status_and_time_them(start_app) -> None:
    app = start_app(REDIS_URL=closed_port_url())
    before = parse_metrics(app.get("/metrics").body.decode())
    assert before.types == {
        "http_requests_total": "counter",
        "http_request_duration_seconds": "histogram",
        "demo_app_info": "gauge",
        "process_start_time_seconds": "gauge",
    }
    for path in ("/api/data", "/api/data", "/health", "/nope", "/api/hits"):
        app.get(path)
    app.get("/api/slow?seconds=0.3")
    reply = app.get("/metrics")
    assert reply.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
    after = parse_metrics(reply.body.decode())

    def delta(name: str, **labels: str) -> float:
        return (after.get(name, **labels) or 0) - (before.get(name, **labels) or 0)

    assert delta("http_requests_total", status="200") == 4  # data, data, health, slow; /metrics never
    assert delta("http_requests_total", status="404") == 1
    assert delta("http_requests_total", status="503") == 1
    assert delta("http_request_duration_seconds_count") == 6
    assert delta("http_request_duration_seconds_sum") >= 0.3
    buckets = sorted(
        ((float(dict(labels)["le"]), v) for labels, v in after.named("http_request_duration_seconds_bucket").items()),
    )
    bounds = [b for b, _ in buckets]
    assert bounds[-1] == float("inf") and len(bounds) >= 10
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), "buckets are cumulative"
    assert counts[-1] == after.get("http_request_duration_seconds_count")
    # The slow request is above 0.25 s: below that bound there is one request fewer.
    below = dict(buckets)[0.25]
    assert below <= counts[-1] - 1
    assert after.get("process_start_time_seconds") == pytest.approx(time.time(), abs=120)


# --- WebSocket ----------------------------------------------------------------------------


def _ws_connect(port: int) -> tuple[socket.socket, IO[bytes]]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    stream, head = websocket_handshake(sock, "x", "/api/ws")
    assert b"X-Replica: backend-7" in head
    return sock, stream


def _ws_frame(opcode: int, payload: bytes) -> bytes:
    return encode_frame(opcode, payload, mask=secrets.token_bytes(4))


def test_websocket_greets_and_echoes(start_app) -> None:
    app = start_app(REDIS_URL=closed_port_url())
    sock, stream = _ws_connect(app.port)
    assert read_frame(stream) == (0x1, b'{"replica": "backend-7"}')
    sock.sendall(_ws_frame(0x1, b"hello"))
    assert read_frame(stream) == (0x1, b"hello")
    sock.sendall(_ws_frame(0x9, b"p"))
    assert read_frame(stream) == (0xA, b"p")
    sock.sendall(_ws_frame(0x8, struct.pack("!H", 1000)))
    assert read_frame(stream) == (0x8, struct.pack("!H", 1000))
    sock.close()
    plain = app.get("/api/ws")
    assert plain.status == 400


# --- graceful shutdown --------------------------------------------------------------------


def test_sigterm_finishes_requests_in_flight_then_exits(start_app) -> None:
    app = start_app(REDIS_URL=closed_port_url())
    result: dict[str, object] = {}

    def slow() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=20)
        conn.request("GET", "/api/slow?seconds=3")
        response = conn.getresponse()
        result.update(status=response.status, body=response.read(), connection=response.getheader("Connection"))
        result["replica"] = response.getheader("X-Replica")
        conn.close()

    # An idle keep-alive connection, and a WebSocket, open before the signal.
    idle = http.client.HTTPConnection("127.0.0.1", app.port, timeout=20)
    idle.request("GET", "/health")
    idle.getresponse().read()
    ws, ws_stream = _ws_connect(app.port)
    read_frame(ws_stream)

    worker = threading.Thread(target=slow)
    worker.start()
    time.sleep(0.5)  # the slow request is in flight
    signalled = time.monotonic()
    app.terminate()

    # The WebSocket is told the server is going away; the idle connection is closed.
    assert read_frame(ws_stream) == (0x8, struct.pack("!H", 1001))
    assert idle.sock is not None and idle.sock.recv(1) == b""
    # New connections are refused while the slow request still runs.
    time.sleep(1.0)
    with pytest.raises(OSError):
        request(app.port, "/health", timeout=2)

    worker.join(timeout=15)
    assert result.get("status") == 200, (result, app.log())
    assert json.loads(result["body"]) == {"slept": 3.0, "replica": "backend-7"}  # type: ignore[arg-type]
    assert result["connection"] == "close"
    assert result["replica"] == "backend-7"
    assert app.process.wait(timeout=10) == 0
    took = time.monotonic() - signalled
    assert 2.0 <= took < 6.0, f"exit {took:.1f}s after SIGTERM: it must wait for the slow request, and only for it"
    assert "SIGTERM: draining" in app.log() and "stopped" in app.log()
    ws.close()
    idle.close()


def test_sigterm_with_nothing_in_flight_exits_at_once(start_app) -> None:
    app = start_app(REDIS_URL=closed_port_url())
    idle = http.client.HTTPConnection("127.0.0.1", app.port, timeout=20)
    idle.request("GET", "/health")
    idle.getresponse().read()
    started = time.monotonic()
    app.terminate()
    assert app.process.wait(timeout=10) == 0
    assert time.monotonic() - started < 3.0, "an idle keep-alive connection must not hold the shutdown"
    idle.close()


def info_replication(server: RedisServer) -> bytes:
    info = server.client().call("INFO", "replication")
    assert isinstance(info, bytes), info
    return info


class SentinelServer:
    """One Sentinel (redis-server --sentinel) watching `primary` as `webstack`, quorum 1."""

    def __init__(self, directory: Path, primary: RedisServer) -> None:
        self.port = free_port()
        self.password = primary.password
        config = directory / "sentinel.conf"
        config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {directory}\nrequirepass {self.password}\n"
            f"sentinel monitor webstack 127.0.0.1 {primary.port} 1\n"
            f"sentinel auth-pass webstack {self.password}\n"
            "sentinel down-after-milliseconds webstack 1000\nsentinel failover-timeout webstack 5000\n"
        )
        self.process = subprocess.Popen(
            [need("redis-server", "redis-server"), str(config), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: self.client().call("PING") == "PONG", timeout=10, what="the Sentinel answers PING")

    def client(self) -> Resp:
        return Resp(self.port, self.password)

    def primary_port(self) -> int:
        address = self.client().call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "webstack")
        assert isinstance(address, list), address
        return int(address[1])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def test_hits_follow_a_sentinel_failover(start_app, tmp_path: Path) -> None:
    """With REDIS_SENTINELS the app asks the Sentinels for the primary: after a failover it
    writes to the promoted replica, with the count replicated before, and no restart."""
    password = secrets.token_hex(16)
    dirs = [tmp_path / name for name in ("primary", "replica", "sentinel")]
    for directory in dirs:
        directory.mkdir()
    primary = RedisServer(dirs[0], password)
    primary.start()
    replica = RedisServer(dirs[1], password, replica_of=primary.port)
    replica.start()
    sentinel = SentinelServer(dirs[2], primary)
    try:
        wait_until(
            lambda: b"master_link_status:up" in info_replication(replica),
            timeout=15,
            what="the replica is in sync",
        )
        app = start_app(
            REDIS_URL=f"redis://:{password}@127.0.0.1:{primary.port}/0",
            REDIS_SENTINELS=f"127.0.0.1:{sentinel.port}",
            REDIS_SENTINEL_MASTER="webstack",
        )
        # Each INCR is acknowledged after WAIT: the replica has it when the app answers.
        answers = [json.loads(app.get("/api/hits").body) for _ in range(3)]
        assert [(a["hits"], a["replicated"]) for a in answers] == [(1, 1), (2, 1), (3, 1)]
        assert replica.client().call("GET", "webstack:demo:hits") == b"3"
        assert sentinel.client().call("SENTINEL", "FAILOVER", "webstack") == "OK"
        wait_until(lambda: sentinel.primary_port() == replica.port, timeout=20, what="the replica is promoted")
        # Until the Sentinel demotes the old primary, a connection the app holds to it still
        # writes there (Redis replicates asynchronously); once demoted, it refuses writes and
        # the client asks the Sentinel again.
        wait_until(lambda: b"role:slave" in info_replication(primary), timeout=20, what="demoted")
        wait_until(lambda: app.get("/api/hits").status == 200, timeout=20, what="hits work after the failover")
        assert replica.client().call("GET", "webstack:demo:hits") in (b"4", b"5", b"6")
        assert b"role:master" in info_replication(replica)
        # The old primary now replicates the new one: acknowledgements name one replica again.
        wait_until(
            lambda: json.loads(app.get("/api/hits").body).get("replicated") == 1, timeout=20, what="replicated again"
        )
    finally:
        sentinel.stop()
        replica.stop()
        primary.stop()
