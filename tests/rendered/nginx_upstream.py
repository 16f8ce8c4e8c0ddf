"""A small app server that stands in for one replica behind the edge in the nginx tests.

Run as a script (stdlib only): `python nginx_upstream.py NAME`. It binds 127.0.0.1 on a
free port, prints `READY <port>` and serves until killed:

- every response names the replica (header `X-Upstream`, field `upstream` in JSON);
- `GET/POST/...` on any path: a JSON body (over 1 KiB, so the edge may gzip it) that
  echoes the method, path, query, request headers and the size of the request body;
- `.../status/<code>`: the same JSON with that status code (an error from the app);
- `/static/...`: a JavaScript file with `Cache-Control: no-cache` (a front end's asset);
- `Upgrade: websocket`: an RFC 6455 handshake, then every text/binary frame is echoed
  back, pings are answered, a close frame is returned and the connection closed;
- `/__stats` (asked directly, never through the edge): how many requests it served.

`UpstreamProcess` starts one such server as a child process; `stop` is a graceful stop
(SIGTERM: no new connections, in-flight requests finish, idle keep-alive connections are
closed), `kill` a crash (SIGKILL).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, urlsplit

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
STATUS_RE = re.compile(r"/status/(\d{3})$")
STATIC_JS = ("/* webstack test asset */\n" + "export const answer = () => 42;\n" * 64).encode()


def websocket_accept(key: str) -> str:
    """The Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455, 4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def websocket_handshake(sock: socket.socket, host: str, path: str) -> tuple[IO[bytes], bytes]:
    """A client's opening handshake on a connected socket: (the stream to read frames from,
    the response head), the head checked for 101 and the right Sec-WebSocket-Accept."""
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    stream = sock.makefile("rb")
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += stream.read(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    assert f"Sec-WebSocket-Accept: {websocket_accept(key)}".encode() in head, head
    return stream, head


def encode_frame(opcode: int, payload: bytes, *, mask: bytes | None = None) -> bytes:
    """One final frame; clients mask (RFC 6455, 5.3), servers do not."""
    head = bytes([0x80 | opcode])
    mask_bit = 0x80 if mask is not None else 0
    size = len(payload)
    if size < 126:
        head += bytes([mask_bit | size])
    elif size < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", size)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", size)
    if mask is None:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _read_exact(stream: IO[bytes] | io.BufferedIOBase, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            raise EOFError("connection closed in the middle of a frame")
        data += chunk
    return data


def read_frame(stream: IO[bytes] | io.BufferedIOBase) -> tuple[int, bytes]:
    """(opcode, unmasked payload) of one frame; fragmented messages are not needed here."""
    first, second = _read_exact(stream, 2)
    size = second & 0x7F
    if size == 126:
        (size,) = struct.unpack("!H", _read_exact(stream, 2))
    elif size == 127:
        (size,) = struct.unpack("!Q", _read_exact(stream, 8))
    mask = _read_exact(stream, 4) if second & 0x80 else None
    payload = _read_exact(stream, size)
    if mask is not None:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return first & 0x0F, payload


class _State:
    """Per server: requests served, and the connections a graceful stop has to drain."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.draining = False
        self.idle: set[socket.socket] = set()
        self.busy = 0
        self.drained = threading.Event()

    def bump(self) -> None:
        with self.lock:
            self.requests += 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Head and body go out in two writes: without TCP_NODELAY, Nagle and delayed ACKs
    # hold the body back 40 ms on every keep-alive request.
    disable_nagle_algorithm = True
    server_version = "webstack-test-upstream"
    name = "upstream"
    state = _State()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def setup(self) -> None:
        super().setup()
        with self.state.lock:
            self.state.idle.add(self.connection)

    def finish(self) -> None:
        with self.state.lock:
            self.state.idle.discard(self.connection)
        super().finish()

    def handle_one_request(self) -> None:
        # The request line is read while the connection still counts as idle (a drain
        # may close it then, as any server closes an idle keep-alive connection).
        super().handle_one_request()
        with self.state.lock:
            if self.state.draining:
                self.close_connection = True

    def _busy(self, busy: bool) -> None:
        with self.state.lock:
            if busy:
                self.state.idle.discard(self.connection)
                self.state.busy += 1
            else:
                self.state.busy -= 1
                if not self.state.draining:
                    self.state.idle.add(self.connection)

    def _body(self) -> int:
        size = int(self.headers.get("Content-Length") or 0)
        left = size
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 16))
            if not chunk:
                break
            left -= len(chunk)
        return size - left

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("X-Upstream", self.name)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        if self.state.draining:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        self._busy(True)
        try:
            self._answer()
        finally:
            self._busy(False)

    def _answer(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/__stats":
            self._body()
            self._send(200, json.dumps({"requests": self.state.requests}).encode(), "application/json")
            return
        self.state.bump()
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self._websocket()
            return
        received = self._body()
        if url.path.startswith("/static/"):
            # Like many front-end servers: no caching of its own (the edge must decide).
            self._send(200, STATIC_JS, "application/javascript", {"Cache-Control": "no-cache"})
            return
        match = STATUS_RE.search(url.path)
        status = int(match.group(1)) if match else 200
        document = {
            "upstream": self.name,
            "method": self.command,
            "path": url.path,
            "query": dict(parse_qsl(url.query, keep_blank_values=True)),
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body_bytes": received,
            # Enough repetitive content for the edge's gzip (min length 1 KiB) to matter.
            "items": [{"id": i, "name": f"item-{i}", "tags": ["alpha", "beta", "gamma"]} for i in range(40)],
        }
        self._send(status, json.dumps(document).encode(), "application/json")

    def _websocket(self) -> None:
        key = self.headers.get("Sec-WebSocket-Key", "")
        self.send_response(101, "Switching Protocols")
        self.send_header("X-Upstream", self.name)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", websocket_accept(key))
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        try:
            while True:
                opcode, payload = read_frame(self.rfile)
                if opcode == 0x8:  # close: answer with a close frame and stop
                    self.wfile.write(encode_frame(0x8, payload[:2]))
                    self.wfile.flush()
                    return
                if opcode == 0x9:  # ping
                    self.wfile.write(encode_frame(0xA, payload))
                elif opcode in (0x1, 0x2):
                    self.wfile.write(encode_frame(opcode, payload))
                self.wfile.flush()
        except (EOFError, OSError):
            return

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle  # noqa: N815


def serve(name: str) -> None:
    state = _State()
    handler = type("NamedHandler", (Handler,), {"name": name, "state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.request_queue_size = 256

    def drain() -> None:
        # A graceful stop, as an app server does on SIGTERM: stop accepting, let each
        # request in flight finish (its answer says `Connection: close`), close the idle
        # keep-alive connections, then exit.
        with state.lock:
            state.draining = True
        server.shutdown()
        server.server_close()
        with state.lock:
            for conn in state.idle:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with state.lock:
                if state.busy == 0:
                    break
            time.sleep(0.01)
        state.drained.set()

    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=drain, daemon=True).start())
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.05)
    state.drained.wait(15)


class UpstreamProcess:
    """One replica, as a child process; `kill` drops it the way a crashed container goes."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), name],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("READY "):
            self.kill()
            raise RuntimeError(f"upstream {name} did not start (said {line!r})")
        self.port = int(line.split()[1])
        self.address = f"127.0.0.1:{self.port}"

    def requests_served(self) -> int:
        with urllib.request.urlopen(f"http://{self.address}/__stats", timeout=5) as response:
            count: int = json.load(response)["requests"]
            return count

    def stop(self) -> None:
        """A graceful stop (SIGTERM, as `docker stop` sends): in-flight requests finish."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        finally:
            self.kill()

    def kill(self) -> None:
        """A crash (SIGKILL): the kernel closes every connection, in-flight ones included."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


if __name__ == "__main__":
    serve(sys.argv[1] if len(sys.argv) > 1 else f"upstream-{os.getpid()}")
