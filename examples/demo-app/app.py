#!/usr/bin/env python3
"""webstack demo app: a stand-in for the user's back end (and front end) in the `local` stack.

Python 3 standard library and Debian's python3-redis (its Sentinel client follows a
failover without a restart). One file, no state of its own: a read-only root filesystem
is fine.

Environment:
  PORT              port to listen on (8000)
  HOST              address to listen on (0.0.0.0)
  APP_ROLE          backend (the JSON API) or frontend (index.html and /static/app.js)
  WEBSTACK_REPLICA  this replica's name, sent back in X-Replica on every response
  REDIS_URL         redis://[:password@]host:port/db, for the hit counter (backend)
  REDIS_SENTINELS   host:port,host:port,...: ask these Sentinels for the primary instead of
                    REDIS_URL's host (its password and db still apply, to Sentinels too)
  REDIS_SENTINEL_MASTER  the name the Sentinels monitor (webstack)
  DATABASE_URL      postgresql://..., for the notes (backend; Debian's python3-psycopg2):
                    writes go there (the primary, or PgBouncer in front of it)
  DATABASE_REPLICA_URL  reads of the notes go there when set (the hot standby)
  LOG_LEVEL         debug, info (default), warning or error (the audit log of POST, PUT,
                    DELETE... requests is written at any level)
  KEEPALIVE_TIMEOUT seconds an idle keep-alive connection is kept (75, above nginx's 60)
  SHUTDOWN_DELAY    seconds to keep serving normally after SIGTERM before draining (0)

Routes, both roles: GET /health (200 "ok", never touches Redis), GET /metrics
(Prometheus text: http_requests_total{status}, http_request_duration_seconds histogram).
backend: GET /api/ (an index: version, replica, routes), GET /api/hits, POST /api/auth/login, GET /api/data, GET /api/slow?seconds=N,
GET /api/ws (WebSocket: a greeting naming the replica, then an echo); with DATABASE_URL also
POST /api/notes ({"text": ...}: a row written, its id answered) and GET /api/notes (the count
and the latest rows, from the replica when DATABASE_REPLICA_URL is set).
frontend: GET /, GET /index.html, GET /static/app.js.

SIGTERM (or SIGINT) drains: the server stops accepting, idle keep-alive connections are
closed, requests in flight finish (answered with `Connection: close`), WebSockets get a
close frame (1001, going away), then it exits 0.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import select
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis
import redis.sentinel

VERSION = "0.1.0"
HITS_KEY = "webstack:demo:hits"
REPLICA_WAIT_MS = 500
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MAX_BODY = 1 << 20
MAX_FRAME = 1 << 20
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WS_IDLE_TIMEOUT_S = 300.0
FIRST_REQUEST_GRACE_S = 2.0

log = logging.getLogger("demo-app")
# Requests that may change something (not GET, HEAD, OPTIONS), with their X-Request-ID, at any
# LOG_LEVEL: one line per request the app received, so a request sent twice shows twice.
audit = logging.getLogger("demo-app.audit")
audit.setLevel(logging.INFO)


class Metrics:
    """http_requests_total by status and a latency histogram, in Prometheus' text format."""

    def __init__(self, replica: str, role: str) -> None:
        self._lock = threading.Lock()
        self._requests: dict[int, int] = {}
        self._buckets = [0] * len(BUCKETS)
        self._sum = 0.0
        self._count = 0
        self._replica = replica
        self._role = role
        self._started = time.time()

    def observe(self, status: int, seconds: float | None) -> None:
        """Counts a request; its duration too, unless None (a WebSocket's lifetime is no latency)."""
        with self._lock:
            self._requests[status] = self._requests.get(status, 0) + 1
            if seconds is None:
                return
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self._buckets[i] += 1
            self._sum += seconds
            self._count += 1

    def render(self) -> str:
        with self._lock:
            requests = sorted(self._requests.items())
            buckets, total, count = list(self._buckets), self._sum, self._count
        lines = [
            "# HELP http_requests_total HTTP requests served, by status code (scrapes of /metrics excluded).",
            "# TYPE http_requests_total counter",
            *(f'http_requests_total{{status="{status}"}} {n}' for status, n in requests),
            "# HELP http_request_duration_seconds Time from reading a request to its response (WebSockets excluded).",
            "# TYPE http_request_duration_seconds histogram",
            *(
                f'http_request_duration_seconds_bucket{{le="{bound}"}} {n}'
                for bound, n in zip(BUCKETS, buckets, strict=True)
            ),
            f'http_request_duration_seconds_bucket{{le="+Inf"}} {count}',
            f"http_request_duration_seconds_sum {total:.6f}",
            f"http_request_duration_seconds_count {count}",
            "# HELP demo_app_info The demo app's version, role and replica.",
            "# TYPE demo_app_info gauge",
            f'demo_app_info{{version="{VERSION}",role="{self._role}",replica="{_label(self._replica)}"}} 1',
            "# HELP process_start_time_seconds Start time of the process since the Unix epoch.",
            "# TYPE process_start_time_seconds gauge",
            f"process_start_time_seconds {self._started:.3f}",
        ]
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class RedisUnavailableError(Exception):
    pass


class HitCounter:
    """INCR on the primary: REDIS_URL's host, or the one the Sentinels name (asked again
    after a failover, on the next connection). Under Sentinel the INCR is acknowledged only
    after WAIT (one replica, at most REPLICA_WAIT_MS) on the same connection: replication is
    asynchronous, and a write the replica never got would be lost when it is promoted. The
    answer says how many replicas had it (0 once the primary has none left)."""

    def __init__(
        self, url: str | None, sentinels: list[tuple[str, int]] | None = None, master: str = "webstack"
    ) -> None:
        self._client: redis.Redis | None = None
        if not url:
            return
        parts = urlsplit(url)
        if parts.scheme != "redis":
            raise ValueError("REDIS_URL must be redis://[[user]:password@]host[:port][/db]")
        timeouts = {"socket_timeout": 2, "socket_connect_timeout": 2}
        self._wait_for_replica = bool(sentinels)
        if sentinels:
            password = unquote(parts.password) if parts.password else None
            watch = redis.sentinel.Sentinel(sentinels, sentinel_kwargs={"password": password, **timeouts}, **timeouts)
            db = int(parts.path.lstrip("/") or 0)
            self._client = watch.master_for(master, password=password, db=db, **timeouts)
        else:
            self._client = redis.Redis.from_url(url, **timeouts)

    def incr(self) -> tuple[int, int | None]:
        """The new count, and how many replicas acknowledged it (None: not asked)."""
        if self._client is None:
            raise RedisUnavailableError("REDIS_URL is not set")
        try:
            if not self._wait_for_replica:
                return int(self._client.incr(HITS_KEY)), None
            pipe = self._client.pipeline(transaction=False)  # one connection: WAIT covers the INCR
            pipe.incr(HITS_KEY)
            pipe.execute_command("WAIT", 1, REPLICA_WAIT_MS)
            count, replicas = pipe.execute()
            return int(count), int(replicas)
        except (redis.RedisError, OSError) as exc:
            raise RedisUnavailableError(f"{type(exc).__name__}: {exc}") from exc


class DatabaseUnavailableError(Exception):
    pass


class Notes:
    """A table `notes` in PostgreSQL, created on first use (the database's owner may). One
    connection per request: PgBouncer, when it is on, does the pooling."""

    def __init__(self, url: str, replica_url: str | None = None) -> None:
        import psycopg2  # Debian's python3-psycopg2; only the backends with a database need it

        self._driver = psycopg2
        self._url, self._replica_url = url, replica_url
        self._created = False

    def _connect(self, url: str) -> Any:
        try:
            connection = self._driver.connect(url, connect_timeout=3)
        except self._driver.Error as exc:
            raise DatabaseUnavailableError(f"{type(exc).__name__}: {str(exc).strip()}") from exc
        connection.autocommit = True
        return connection

    def _run(self, url: str, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        connection = self._connect(url)
        try:
            with connection.cursor() as cursor:
                if not self._created and url == self._url:
                    cursor.execute(
                        "CREATE TABLE IF NOT EXISTS notes (id bigserial PRIMARY KEY, text text NOT NULL, "
                        "replica text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
                    )
                    self._created = True
                cursor.execute(sql, args)
                return list(cursor.fetchall()) if cursor.description else []
        except self._driver.Error as exc:
            raise DatabaseUnavailableError(f"{type(exc).__name__}: {str(exc).strip()}") from exc
        finally:
            connection.close()

    def add(self, text: str, replica: str) -> int:
        rows = self._run(self._url, "INSERT INTO notes (text, replica) VALUES (%s, %s) RETURNING id", (text, replica))
        return int(rows[0][0])

    def latest(self, limit: int = 10) -> tuple[int, list[dict[str, Any]], str]:
        """The count, the latest rows, and where they were read (primary or replica)."""
        url, source = (self._replica_url, "replica") if self._replica_url else (self._url, "primary")
        rows = self._run(
            url,
            "SELECT (SELECT count(*) FROM notes), id, text, replica FROM notes ORDER BY id DESC LIMIT %s",
            (limit,),
        )
        count = int(rows[0][0]) if rows else 0
        return count, [{"id": r[1], "text": r[2], "replica": r[3]} for r in rows], source


def parse_sentinels(value: str) -> list[tuple[str, int]]:
    """REDIS_SENTINELS: host:port,host:port (a port is required)."""
    found = []
    for item in (part.strip() for part in value.split(",")):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"REDIS_SENTINELS must be host:port,host:port,..., not {value!r}")
        found.append((host, int(port)))
    return found


INDEX_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>webstack demo</title>
</head>
<body>
<h1>webstack demo</h1>
<p>Served by replica <code id="replica">{replica}</code>.</p>
<p>API hits: <code id="hits">?</code></p>
<script src="/static/app.js"></script>
</body>
</html>
"""

APP_JS = """// webstack demo front end: asks the back end for the hit counter.
(function () {
  fetch("/api/hits", {headers: {"Accept": "application/json"}})
    .then(function (r) { return r.json(); })
    .then(function (body) { document.getElementById("hits").textContent = body.hits + " (" + body.replica + ")"; })
    .catch(function (err) { document.getElementById("hits").textContent = "unavailable: " + err; });
})();
"""

Response = tuple[int, str, bytes, dict[str, str]]


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = (json.dumps(payload, separators=(",", ":")) + "\n").encode()
    return status, "application/json", body, headers or {}


class App:
    def __init__(
        self,
        *,
        role: str,
        replica: str,
        redis_url: str | None,
        sentinels: list[tuple[str, int]] | None = None,
        sentinel_master: str = "webstack",
        database_url: str | None = None,
        database_replica_url: str | None = None,
    ) -> None:
        if role not in ("backend", "frontend"):
            raise ValueError(f"APP_ROLE must be backend or frontend, not {role!r}")
        self.role = role
        self.replica = replica
        self.metrics = Metrics(replica, role)
        self.hits = HitCounter(redis_url if role == "backend" else None, sentinels, sentinel_master)
        self.routes: dict[tuple[str, str], Callable[[Handler, dict[str, list[str]]], Response]] = {
            ("GET", "/health"): lambda h, q: (200, "text/plain; charset=utf-8", b"ok\n", {}),
            ("GET", "/metrics"): lambda h, q: (
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                self.metrics.render().encode(),
                {},
            ),
        }
        if role == "backend":
            self.routes |= {
                ("GET", "/api/"): self.api_index,
                ("GET", "/api/hits"): self.api_hits,
                ("POST", "/api/auth/login"): self.api_login,
                ("GET", "/api/data"): self.api_data,
                ("GET", "/api/slow"): self.api_slow,
                ("GET", "/api/ws"): self.api_ws,
            }
            self.notes = Notes(database_url, database_replica_url) if database_url else None
            if self.notes is not None:
                self.routes |= {("POST", "/api/notes"): self.api_add_note, ("GET", "/api/notes"): self.api_notes}
        else:
            index = INDEX_HTML.format(replica=replica.replace("<", "&lt;").replace(">", "&gt;")).encode()
            page = (200, "text/html; charset=utf-8", index, {"Cache-Control": "no-cache"})
            script = (200, "application/javascript; charset=utf-8", APP_JS.encode(), {"Cache-Control": "max-age=300"})
            self.routes |= {
                ("GET", "/"): lambda h, q: page,
                ("GET", "/index.html"): lambda h, q: page,
                ("GET", "/static/app.js"): lambda h, q: script,
            }

    def api_index(self, handler: Handler, query: dict[str, list[str]]) -> Response:
        """What the API base URL (the stack's `endpoints.api` output) answers: who and what is here."""
        routes = sorted(path for method, path in self.routes if path.startswith("/api/") and path != "/api/")
        return json_response(200, {"service": "backend", "version": VERSION, "replica": self.replica, "routes": routes})

    def api_hits(self, handler: Handler, query: dict[str, list[str]]) -> Response:
        try:
            hits, replicated = self.hits.incr()
        except RedisUnavailableError as exc:
            log.warning("redis unavailable: %s", exc)
            return json_response(503, {"error": "redis unavailable", "replica": self.replica}, {"Retry-After": "1"})
        answer: dict[str, Any] = {"hits": hits, "replica": self.replica}
        if replicated is not None:
            answer["replicated"] = replicated
        return json_response(200, answer)

    def api_add_note(self, handler: Handler, query: dict[str, list[str]]) -> Response:
        assert self.notes is not None
        try:
            payload = json.loads(handler.body or b"{}")
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
            return json_response(400, {"error": 'the body must be JSON: {"text": "..."}', "replica": self.replica})
        try:
            note = self.notes.add(payload["text"][:1000], self.replica)
        except DatabaseUnavailableError as exc:
            log.warning("database unavailable: %s", exc)
            return json_response(503, {"error": "database unavailable", "replica": self.replica}, {"Retry-After": "1"})
        return json_response(201, {"id": note, "replica": self.replica})

    def api_notes(self, handler: Handler, query: dict[str, list[str]]) -> Response:
        assert self.notes is not None
        try:
            count, latest, source = self.notes.latest()
        except DatabaseUnavailableError as exc:
            log.warning("database unavailable: %s", exc)
            return json_response(503, {"error": "database unavailable", "replica": self.replica}, {"Retry-After": "1"})
        return json_response(200, {"count": count, "latest": latest, "source": source, "replica": self.replica})

    def api_login(self, handler: Handler, query: dict[str, list[str]]) -> Response:
        user = "demo"
        try:
            payload = json.loads(handler.body or b"{}")
            if isinstance(payload, dict) and isinstance(payload.get("username"), str):
                user = payload["username"][:64]
        except ValueError:
            return json_response(400, {"error": "the body must be JSON", "replica": self.replica})
        token = secrets.token_urlsafe(24)
        return json_response(200, {"ok": True, "user": user, "token": token, "replica": self.replica})

    def api_data(self, handler: Handler, query: dict[str, list[str]]) -> Response:
        items = [
            {
                "id": i,
                "name": f"item-{i:03d}",
                "description": "A demo record for the gzip and caching tests.",
                "price": i * 1.5,
            }
            for i in range(100)
        ]
        return json_response(200, {"replica": self.replica, "count": len(items), "items": items})

    def api_slow(self, handler: Handler, query: dict[str, list[str]]) -> Response:
        try:
            seconds = min(max(float(query.get("seconds", ["1"])[0]), 0.0), 30.0)
        except ValueError:
            return json_response(400, {"error": "seconds must be a number", "replica": self.replica})
        time.sleep(seconds)
        return json_response(200, {"slept": seconds, "replica": self.replica})

    def api_ws(self, handler: Handler, query: dict[str, list[str]]) -> Response:
        key = handler.headers.get("Sec-WebSocket-Key", "")
        upgrade = handler.headers.get("Upgrade", "").lower() == "websocket"
        if not upgrade or not key or handler.headers.get("Sec-WebSocket-Version") != "13":
            return json_response(
                400, {"error": "a WebSocket upgrade (version 13) is expected", "replica": self.replica}
            )
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        return 101, "", b"", {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": accept}


class Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for the requests in flight
    block_on_close = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App, keepalive_timeout: float) -> None:
        self.app = app
        self.keepalive_timeout = keepalive_timeout
        self.draining = threading.Event()
        # Never read: once a byte is written, it wakes every idle keep-alive connection.
        self.wake_reader, self._wake_writer = socket.socketpair()
        super().__init__(address, Handler)

    def drain(self) -> None:
        self.draining.set()
        self._wake_writer.send(b"x")

    def server_close(self) -> None:
        super().server_close()
        self.wake_reader.close()
        self._wake_writer.close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"webstack-demo/{VERSION}"
    timeout = 30  # socket timeout while a request is being read or written
    server: Server
    body = b""

    def handle(self) -> None:
        """Requests of one connection; between them, idle until a request, a drain or the keep-alive timeout."""
        first = True
        accepted = time.monotonic()
        self.close_connection = False
        while not self.close_connection:
            if not self._wait_for_request(first, accepted):
                break
            first = False
            self.handle_one_request()

    def _wait_for_request(self, first: bool, accepted: float) -> bool:
        deadline = time.monotonic() + self.server.keepalive_timeout
        while True:
            watch: list[Any] = [self.connection]
            if not self.server.draining.is_set():
                watch.append(self.server.wake_reader)
            elif not first or time.monotonic() - accepted > FIRST_REQUEST_GRACE_S:
                return False  # draining: an idle connection is closed
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            readable, _, _ = select.select(watch, [], [], min(remaining, 0.5))
            if self.connection in readable:
                return True

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        started = time.monotonic()
        app = self.server.app
        parts = urlsplit(self.path)
        try:
            self.body = self._read_body()
        except ValueError as exc:
            self.close_connection = True
            self._respond(*json_response(400, {"error": str(exc), "replica": app.replica}))
            return
        route = app.routes.get((method, parts.path))
        if route is None:
            allowed = sorted(m for m, p in app.routes if p == parts.path)
            if allowed:
                response = json_response(405, {"error": "method not allowed"}, {"Allow": ", ".join(allowed)})
            else:
                response = json_response(404, {"error": "not found", "path": parts.path, "replica": app.replica})
        else:
            try:
                response = route(self, parse_qs(parts.query))
            except Exception:
                log.exception("%s %s failed", method, parts.path)
                response = json_response(500, {"error": "internal error", "replica": app.replica})
        self._respond(*response)
        if parts.path != "/metrics":
            app.metrics.observe(response[0], None if response[0] == 101 else time.monotonic() - started)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            size_total = 0
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                size_total += size
                if size_total > MAX_BODY:
                    raise ValueError("request body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(length) if length else b""

    def _respond(self, status: int, content_type: str, body: bytes, headers: dict[str, str]) -> None:
        if status == 101:
            self.close_connection = True
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.flush()
            self._websocket()
            return
        if self.server.draining.is_set():
            self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _websocket(self) -> None:
        """Greets with the replica's name, then echoes text and binary messages; answers pings."""
        self._ws_send(0x1, json.dumps({"replica": self.server.app.replica}).encode())
        while True:
            readable, _, _ = select.select([self.connection, self.server.wake_reader], [], [], WS_IDLE_TIMEOUT_S)
            if self.connection not in readable:
                # draining (or idle for too long): going away
                self._ws_send(0x8, struct.pack("!H", 1001))
                return
            try:
                opcode, payload = self._ws_read()
            except (EOFError, OSError, ValueError):
                return
            if opcode == 0x8:
                self._ws_send(0x8, payload[:2])
                return
            if opcode == 0x9:
                self._ws_send(0xA, payload)
            elif opcode in (0x1, 0x2):
                self._ws_send(opcode, payload)

    def _ws_read(self) -> tuple[int, bytes]:
        def exact(size: int) -> bytes:
            data = self.rfile.read(size)
            if len(data) != size:
                raise EOFError("connection closed in the middle of a frame")
            return data

        first, second = exact(2)
        size = second & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", exact(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", exact(8))
        if size > MAX_FRAME:
            raise ValueError("frame too large")
        mask = exact(4) if second & 0x80 else b"\0\0\0\0"
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(exact(size)))
        return first & 0x0F, payload

    def _ws_send(self, opcode: int, payload: bytes) -> None:
        size = len(payload)
        if size < 126:
            head = bytes([0x80 | opcode, size])
        elif size < 1 << 16:
            head = bytes([0x80 | opcode, 126]) + struct.pack("!H", size)
        else:
            head = bytes([0x80 | opcode, 127]) + struct.pack("!Q", size)
        self.wfile.write(head + payload)
        self.wfile.flush()

    def version_string(self) -> str:
        return self.server_version

    def end_headers(self) -> None:
        # Every response, the error pages of http.server included, names its replica.
        self.send_header("X-Replica", self.server.app.replica)
        super().end_headers()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urlsplit(self.path).path if hasattr(self, "path") else "-"
        level = logging.DEBUG if path in ("/health", "/metrics") else logging.INFO
        # X-Request-ID: set by the edge per request, so one request is found across edge and app.
        request_id = self.headers.get("X-Request-ID", "-") if getattr(self, "headers", None) else "-"
        line = (self.address_string(), getattr(self, "requestline", ""), code, request_id)
        if getattr(self, "command", "GET") in ("GET", "HEAD", "OPTIONS"):
            log.log(level, '%s "%s" %s %s', *line)
        else:  # a request that may change something: always in the audit log
            audit.info('%s "%s" %s %s', *line)

    def log_message(self, format: str, *args: Any) -> None:
        log.warning("%s %s", self.address_string(), format % args)


def serve(app: App, host: str, port: int, *, keepalive_timeout: float, shutdown_delay: float) -> None:
    server = Server((host, port), app, keepalive_timeout)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("%s: draining", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    accept_loop = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="accept")
    accept_loop.start()
    log.info("demo app %s (%s, replica %s) listening on %s:%d", VERSION, app.role, app.replica, host, port)
    while not stop.wait(0.5):
        pass
    if shutdown_delay > 0:
        time.sleep(shutdown_delay)
    server.shutdown()  # no new connections
    accept_loop.join()
    server.drain()  # idle connections close, requests in flight finish with Connection: close
    server.server_close()  # joins the request threads
    log.info("stopped")


def main() -> int:
    level = os.environ.get("LOG_LEVEL", "info").upper()
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        app = App(
            role=os.environ.get("APP_ROLE", "backend"),
            replica=os.environ.get("WEBSTACK_REPLICA") or socket.gethostname(),
            redis_url=os.environ.get("REDIS_URL") or None,
            sentinels=parse_sentinels(os.environ["REDIS_SENTINELS"]) if os.environ.get("REDIS_SENTINELS") else None,
            sentinel_master=os.environ.get("REDIS_SENTINEL_MASTER") or "webstack",
            database_url=os.environ.get("DATABASE_URL") or None,
            database_replica_url=os.environ.get("DATABASE_REPLICA_URL") or None,
        )
        port = int(os.environ.get("PORT", "8000"))
        keepalive = float(os.environ.get("KEEPALIVE_TIMEOUT", "75"))
        delay = float(os.environ.get("SHUTDOWN_DELAY", "0"))
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    serve(app, os.environ.get("HOST", "0.0.0.0"), port, keepalive_timeout=keepalive, shutdown_delay=delay)
    return 0


if __name__ == "__main__":
    sys.exit(main())
