"""The edge's nginx.conf of every stack, run on Debian's nginx (package `nginx-light`).

Each stack's config is rendered by `components.render.nginx` for this machine (127.0.0.1
free ports, a self-signed certificate from openssl, a tmp dir for pid, logs and temp
files) in front of real replicas (`nginx_upstream`: one process per replica, as many as
the stack declares, each naming itself in its answers). The tests then check behaviour,
not text: the redirect, the TLS versions, the headers on every response, the rate
limits computed from the stack's config, the spread over replicas and the failover when
one dies, WebSocket, gzip, static caching, the body limit, /health, and the client IP
taken from CF-Connecting-IP only from a trusted peer.

Cloudflare's ranges are public addresses this machine cannot connect from, so the edge
also trusts 127.0.0.2 (`extra_trusted_proxies`), which stands in for a Cloudflare edge.
Rate-limit buckets are per client address: each test connects from its own loopback
address (127/8 is all local), or from the trusted peer with its own CF-Connecting-IP.
A missing tool fails the tests, never skips them.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import http.client
import json
import math
import os
import re
import socket
import ssl
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from components.config import RateLimit, StackConfig

from .nginx_harness import (
    TRUSTED_PEER,
    Client,
    Edge,
    Response,
    client_context,
    fresh_client_ip,
    fresh_source,
    make_certificate,
    read_head,
    stack_config,
    start_edge,
)
from .nginx_upstream import encode_frame, read_frame, websocket_accept

pytestmark = pytest.mark.timeout(90)

STACKS = ("local", "staging", "production")
ONE_YEAR = 365 * 24 * 3600
CLOCK_SLACK_S = 0.01
# A few of Cloudflare's published ranges (https://www.cloudflare.com/ips/).
SOME_CLOUDFLARE_RANGES = ("173.245.48.0/20", "104.16.0.0/13", "2606:4700::/32")


def security_headers(config: StackConfig) -> dict[str, str]:
    """What every HTTPS response must carry (seed 000's headers and the design's)."""
    return {
        "Strict-Transport-Security": f"max-age={config.edge.hsts_max_age}; includeSubDomains",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }


def assert_security_headers(response: Response, config: StackConfig, what: str) -> None:
    for name, value in security_headers(config).items():
        assert response.all(name) == [value], f"{what} (status {response.status}): {name} is {response.all(name)}"


@dataclass(frozen=True)
class Routes:
    """The routes of a stack, with the limit each one is under (from the stack config)."""

    api: str
    login: str
    websocket: str
    frontend: str
    api_service: str
    frontend_service: str

    def limits(self, config: StackConfig) -> dict[str, tuple[str, RateLimit]]:
        edge = config.edge
        return {
            "api": (self.api, edge.api_rate),
            "login": (self.login, edge.login_rate),
            "frontend": (self.frontend, edge.frontend_rate),
        }


def routes(config: StackConfig) -> Routes:
    api_name, api = next((n, s) for n, s in sorted(config.services.items()) if s.kind == "api")
    front_name, front = next((n, s) for n, s in sorted(config.services.items()) if s.kind == "frontend")
    assert api.login_paths and api.websocket_path, "every stack has a login route and a WebSocket route"
    return Routes(
        api=f"{api.path}items",
        login=api.login_paths[0],
        websocket=api.websocket_path,
        frontend=front.path,
        api_service=api_name,
        frontend_service=front_name,
    )


@pytest.fixture(scope="module", params=STACKS)
def edge(request: pytest.FixtureRequest) -> Iterator[Edge]:
    running = start_edge(request.param)
    try:
        yield running
    finally:
        running.stop()


# --- the config is accepted ---------------------------------------------------------------


def test_nginx_accepts_the_config(edge: Edge) -> None:
    checked = edge.nginx_test()
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr and "test is successful" in checked.stderr
    assert not re.search(r"\[(warn|error|crit|alert|emerg)\]", checked.stderr), checked.stderr
    # Running: nothing worse than the sandbox's file limit (the container raises it).
    started = [line for line in edge.errors().splitlines() if "setrlimit(RLIMIT_NOFILE" not in line]
    assert not [line for line in started if re.search(r"\[(error|crit|alert|emerg)\]", line)], started


def test_stub_status_for_the_exporter(edge: Edge) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", edge.status_port, timeout=10)
    conn.request("GET", "/stub_status")
    status = conn.getresponse()
    assert status.status == 200 and status.read().startswith(b"Active connections:")
    conn.request("GET", "/")
    other = conn.getresponse()
    assert other.status == 404
    other.read()
    conn.close()


# --- HTTP -> HTTPS ----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
def test_plain_http_answers_301_to_the_same_path_and_query(edge: Edge, method: str) -> None:
    public = edge.config.edge.https_port
    suffix = "" if public == 443 else f":{public}"
    paths = ["/", "/api/items?page=2&sort=-created&q=a%20b", "/static/app.js?v=3", "/health"]
    conn = http.client.HTTPConnection("127.0.0.1", edge.http_port, timeout=10, source_address=(fresh_source(), 0))
    for name in edge.config.server_names:
        for path in paths:
            conn.request(method, path, headers={"Host": name}, body=b"x" if method == "POST" else None)
            response = conn.getresponse()
            response.read()
            assert response.status == 301, (name, path)
            assert response.getheader("Location") == f"https://{name}{suffix}{path}"
            # RFC 6797 7.2: HSTS is never sent over plain HTTP.
            assert response.getheader("Strict-Transport-Security") is None
    conn.close()


# --- TLS --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def permissive_tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A Python TLS server that accepts TLS 1.0 and 1.1: proof that our client offers them."""
    crt, key = make_certificate(tmp_path_factory.mktemp("permissive"), ["localhost"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.load_cert_chain(str(crt), str(key))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            # The client under test ends the handshake its own way; only that matters.
            with contextlib.suppress(OSError, ssl.SSLError), context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


def _handshake(port: int, context: ssl.SSLContext) -> str | None:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        return tls.version()


def _pinned(cafile: Path, version: ssl.TLSVersion) -> ssl.SSLContext:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return client_context(cafile, version=version)


@pytest.mark.parametrize(
    ("version", "name"), [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")]
)
def test_tls_1_2_and_1_3_handshake(edge: Edge, version: ssl.TLSVersion, name: str) -> None:
    # The client verifies the certificate chain and the name (127.0.0.1 is in the SAN).
    assert _handshake(edge.https_port, _pinned(edge.certificate, version)) == name
    with Client(edge.https_port, _pinned(edge.certificate, version), host=edge.host) as client:
        response = client.get("/health")
    assert response.status == 200 and response.body == b"healthy\n"


@pytest.mark.parametrize(("version", "name"), [(ssl.TLSVersion.TLSv1, "TLSv1"), (ssl.TLSVersion.TLSv1_1, "TLSv1.1")])
def test_tls_1_0_and_1_1_are_refused(
    edge: Edge, permissive_tls_server: int, version: ssl.TLSVersion, name: str
) -> None:
    # The same client (save for verifying another certificate) does speak the old
    # protocol to a server that allows it...
    permissive = _pinned(edge.certificate, version)
    permissive.check_hostname = False
    permissive.verify_mode = ssl.CERT_NONE
    assert _handshake(permissive_tls_server, permissive) == name
    # ...so the refusal comes from the edge: a protocol_version alert.
    with pytest.raises(ssl.SSLError) as refused:
        _handshake(edge.https_port, _pinned(edge.certificate, version))
    assert refused.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION", refused.value


# --- headers on every response ----------------------------------------------------------


def test_security_headers_on_every_response_error_pages_included(edge: Edge) -> None:
    r = routes(edge.config)
    seen: list[tuple[str, Response]] = []
    with edge.client() as client:
        for label, path in [
            ("health", "/health"),
            ("api", r.api),
            ("front end", r.frontend),
            ("static asset", "/static/app.js"),
            ("app 404", f"{r.api.rsplit('/', 1)[0]}/status/404"),
            ("app 500", f"{r.api.rsplit('/', 1)[0]}/status/500"),
            ("front end 404", "/status/404"),
        ]:
            seen.append((label, client.get(path)))
    assert [s.status for _, s in seen] == [200, 200, 200, 200, 404, 500, 404]
    # nginx's own error pages: too large (413), too many (429), plain HTTP on the TLS port (400).
    limit = edge.config.edge.client_max_body_mb << 20
    with edge.tls_socket() as tls:
        tls.sendall(f"POST {r.api} HTTP/1.1\r\nHost: {edge.host}\r\nContent-Length: {limit + 1}\r\n\r\n".encode())
        status, headers, _ = read_head(tls)
    seen.append(("body too large", Response(status, headers, b"")))
    with edge.client() as client:
        _, login_limit = r.limits(edge.config)["login"]
        for _ in range(login_limit.burst + 10):
            last = client.get(r.login)
            if last.status == 429:
                break
    seen.append(("rate limited", last))
    with socket.create_connection(("127.0.0.1", edge.https_port), timeout=10) as raw:
        raw.sendall(f"GET / HTTP/1.1\r\nHost: {edge.host}\r\nConnection: close\r\n\r\n".encode())
        status, headers, _ = read_head(raw)
    seen.append(("plain HTTP to the TLS port", Response(status, headers, b"")))
    assert [s.status for _, s in seen[-3:]] == [413, 429, 400]
    for label, response in seen:
        assert_security_headers(response, edge.config, label)


# --- rate limits ------------------------------------------------------------------------


@dataclass
class Burst:
    statuses: list[int]
    times: list[float]  # when each answer arrived, seconds after the first request left
    last: Response

    @property
    def allowed(self) -> int:
        return self.statuses.count(200)


def burst(
    edge: Edge,
    path: str,
    limit: RateLimit,
    *,
    source: str | None = None,
    headers: Callable[[], dict[str, str]] = dict,
    refusals: int = 5,
) -> Burst:
    """Back-to-back requests from one client until `refusals` 429s (or a generous cap)."""
    cap = 3 * (limit.burst + 1) + 60
    statuses: list[int] = []
    times: list[float] = []
    with edge.client(source) as client:
        start = time.monotonic()
        while len(statuses) < cap and statuses.count(429) < refusals:
            last = client.get(path, headers())
            statuses.append(last.status)
            times.append(time.monotonic() - start)
    return Burst(statuses, times, last)


def assert_limited(result: Burst, limit: RateLimit, what: str) -> None:
    """nodelay: burst + 1 pass at once, then one more for each 1/rate seconds gone by."""
    assert set(result.statuses) <= {200, 429}, f"{what}: {Counter(result.statuses)}"
    assert result.statuses.count(429) >= 5, f"{what}: no refusals past the burst ({Counter(result.statuses)})"
    first = result.statuses.index(429)
    # Before the first refusal, at most rate * (time so far) tokens came back (time
    # plus 10 ms: nginx stamps requests with its cached clock); so the refusal comes
    # right after the burst, and a burst one larger or smaller than configured shows.
    refilled = math.floor(limit.rate * (result.times[first] + CLOCK_SLACK_S))
    assert limit.burst + 1 <= first <= limit.burst + 1 + refilled, (
        f"{what}: first 429 after {first} requests in {result.times[first]:.3f}s; "
        f"expected {limit.burst + 1}..{limit.burst + 1 + refilled}"
    )
    most = limit.burst + 1 + math.floor(limit.rate * (result.times[-1] + CLOCK_SLACK_S))
    assert result.allowed <= most, f"{what}: {result.allowed} passed in {result.times[-1]:.3f}s, at most {most}"


def test_a_burst_gets_429_past_the_configured_burst_and_login_sooner(edge: Edge) -> None:
    r = routes(edge.config)
    results: dict[str, Burst] = {}
    for zone, (path, limit) in r.limits(edge.config).items():
        results[zone] = burst(edge, path, limit)
        assert_limited(results[zone], limit, f"{edge.stack} {zone} {path}")
        assert_security_headers(results[zone].last, edge.config, f"429 on {path}")
    api, login = edge.config.edge.api_rate, edge.config.edge.login_rate
    assert login.burst < api.burst  # the stacks' config: login is the stricter zone
    assert results["login"].statuses.index(429) < results["api"].statuses.index(429)


def test_a_client_within_rate_and_burst_is_never_refused(edge: Edge) -> None:
    """The whole burst at once, then requests at half the rate: every one passes."""

    def client_at_half_rate(path: str, limit: RateLimit) -> list[int]:
        statuses: list[int] = []
        with edge.client() as client:
            statuses += [client.get(path).status for _ in range(limit.burst + 1)]
            start = time.monotonic()
            for i in range(1, 3):
                time.sleep(max(0.0, start + i * 2 / limit.rate - time.monotonic()))
                statuses.append(client.get(path).status)
        return statuses

    limits = routes(edge.config).limits(edge.config)
    with ThreadPoolExecutor(len(limits)) as pool:
        futures = {zone: pool.submit(client_at_half_rate, p, lim) for zone, (p, lim) in limits.items()}
    for zone, future in futures.items():
        statuses = future.result()
        assert statuses == [200] * len(statuses), f"{zone}: {statuses}"
        assert len(statuses) > limits[zone][1].burst + 1  # more than the burst alone would allow


# --- client IP from Cloudflare ----------------------------------------------------------


def test_trusted_proxies_are_cloudflare_only_where_the_stack_trusts_it(edge: Edge) -> None:
    trusted = set(re.findall(r"^\s*set_real_ip_from (\S+);", edge.conf_text, flags=re.MULTILINE))
    assert TRUSTED_PEER in trusted
    for cidr in SOME_CLOUDFLARE_RANGES:
        assert (cidr in trusted) == edge.config.edge.trust_cloudflare, cidr
    assert re.search(r"^\s*real_ip_header CF-Connecting-IP;", edge.conf_text, flags=re.MULTILINE)


def test_client_ip_comes_from_cf_connecting_ip_only_from_a_trusted_peer(edge: Edge) -> None:
    r = routes(edge.config)
    source = fresh_source()
    spoofed = edge.get(r.api, {"CF-Connecting-IP": "203.0.113.50", "X-Forwarded-For": "203.0.113.51"}, source=source)
    seen = spoofed.json()["headers"]
    assert seen["x-real-ip"] == source
    assert seen["x-forwarded-for"] == f"203.0.113.51, {source}"

    client_ip = fresh_client_ip()
    proxied = edge.get(r.api, {"CF-Connecting-IP": client_ip}, source=TRUSTED_PEER).json()["headers"]
    assert proxied["x-real-ip"] == client_ip
    assert proxied["x-forwarded-for"] == client_ip
    assert proxied["x-forwarded-proto"] == "https"

    path, limit = r.limits(edge.config)["login"]
    # From an untrusted peer, a new CF-Connecting-IP on every request changes nothing:
    # one bucket, the peer's, and 429s past its burst.
    spoofing = burst(edge, path, limit, source="127.0.0.1", headers=lambda: {"CF-Connecting-IP": fresh_client_ip()})
    assert_limited(spoofing, limit, "spoofed CF-Connecting-IP")
    # From the trusted peer, each client address has its own bucket...
    with edge.client(TRUSTED_PEER) as client:
        statuses = [
            client.get(path, {"CF-Connecting-IP": fresh_client_ip()}).status for _ in range(2 * (limit.burst + 1) + 5)
        ]
    assert statuses == [200] * len(statuses)
    # ...and one client behind it is limited on its own.
    one = fresh_client_ip()
    assert_limited(
        burst(edge, path, limit, source=TRUSTED_PEER, headers=lambda: {"CF-Connecting-IP": one}),
        limit,
        "one client via CF",
    )


# --- load balancing ---------------------------------------------------------------------


def test_requests_spread_over_every_upstream(edge: Edge) -> None:
    r = routes(edge.config)
    for service, path, limit in [
        (r.api_service, r.api, edge.config.edge.api_rate),
        (r.frontend_service, r.frontend, edge.config.edge.frontend_rate),
    ]:
        replicas = edge.config.services[service].replicas
        n = min(4 * replicas, limit.burst + 1)
        with edge.client() as client:
            answered = Counter(client.get(path).upstream for _ in range(n))
        assert set(answered) == {f"{service}-{i}" for i in range(replicas)}, answered
        assert max(answered.values()) - min(answered.values()) <= 1, answered


FAILOVER = [
    (stack, service)
    for stack in STACKS
    for service, s in sorted(stack_config(stack).services.items())
    if s.replicas > 1
]


@dataclass(frozen=True)
class Outcome:
    started: float
    ended: float
    status: int  # 0: the connection broke
    upstream: str | None


@pytest.mark.parametrize("how", ["graceful stop", "crash"])
@pytest.mark.parametrize(("stack", "service"), FAILOVER)
def test_one_upstream_stops_mid_run_and_requests_keep_succeeding(stack: str, service: str, how: str) -> None:
    """Three clients loop on the service's route; one replica stops (SIGTERM) or dies (SIGKILL)."""
    edge = start_edge(stack, status=False)
    try:
        config = edge.config
        path = f"{config.services[service].path}items" if config.services[service].kind == "api" else "/"
        replicas = edge.upstreams[service]
        victim = replicas[0]
        done = threading.Event()
        outcomes: list[Outcome] = []
        lock = threading.Lock()

        def client_loop() -> None:
            # Many clients behind a Cloudflare-like peer: a fresh client IP per request.
            client = edge.client(TRUSTED_PEER)
            while not done.is_set():
                started = time.monotonic()
                try:
                    response = client.get(path, {"CF-Connecting-IP": fresh_client_ip()})
                    outcome = Outcome(started, time.monotonic(), response.status, response.upstream)
                except (http.client.HTTPException, OSError):
                    outcome = Outcome(started, time.monotonic(), 0, None)
                    client.close()
                    client = edge.client(TRUSTED_PEER)
                with lock:
                    outcomes.append(outcome)
            client.close()

        threads = [threading.Thread(target=client_loop) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.6)
        stop_started = time.monotonic()
        if how == "crash":
            victim.kill()
        else:
            victim.stop()
        gone = time.monotonic()
        time.sleep(1.2)
        done.set()
        for t in threads:
            t.join(30)

        failed = [o for o in outcomes if o.status != 200]
        if how == "crash":
            # A crash cuts the answers the replica was sending (their head may already be
            # on its way to the client): only requests in flight at that moment may fail.
            in_flight = [o for o in failed if o.started <= gone and o.ended >= stop_started]
            assert failed == in_flight and len(failed) <= len(threads), failed
        else:
            assert not failed, f"requests failed around the stop: {failed[:20]}"
        after = [o.upstream for o in outcomes if o.started > gone]
        before = [o.upstream for o in outcomes if o.ended < stop_started]
        assert victim.name in before
        assert victim.name not in after
        assert set(after) == {u.name for u in replicas[1:]}, Counter(after)
        assert len(after) > 50, f"too few requests after the stop to tell: {len(after)}"
        # Passive health check: after max_fails refused connects the replica is skipped,
        # instead of every request paying a failed connect first.
        log = edge.errors()
        refused = [
            line
            for line in log.splitlines()
            if "connect() failed" in line and f'upstream: "http://{victim.address}' in line
        ]
        workers = os.cpu_count() or 1
        assert refused, log[:3000]
        assert len(refused) <= 3 * workers + len(threads), f"{len(refused)} connects to the dead replica:\n{log[:3000]}"
        assert "upstream server temporarily disabled" in log

        # Every replica down: the edge answers 502 (with its headers), and /health still 200.
        for upstream in replicas[1:]:
            upstream.kill()
        down = edge.get(path, {"CF-Connecting-IP": fresh_client_ip()}, source=TRUSTED_PEER)
        assert down.status == 502
        assert_security_headers(down, config, "502 with every replica down")
        health = edge.get("/health")
        assert (health.status, health.body) == (200, b"healthy\n")
    finally:
        edge.stop()


# --- WebSocket, gzip, static assets, body limit, /health --------------------------------


def test_websocket_upgrade_passes_through(edge: Edge) -> None:
    r = routes(edge.config)
    key = base64.b64encode(os.urandom(16)).decode()
    with edge.tls_socket() as tls:
        tls.sendall(
            (
                f"GET {r.websocket} HTTP/1.1\r\nHost: {edge.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        status, headers, rest = read_head(tls)
        head = {k.lower(): v for k, v in headers}
        assert status == 101, headers
        assert head["upgrade"].lower() == "websocket" and head["connection"].lower() == "upgrade"
        assert head["sec-websocket-accept"] == websocket_accept(key)
        assert head["x-upstream"].startswith(f"{r.api_service}-")
        assert rest == b""
        stream = tls.makefile("rb")
        for opcode, payload in [(0x1, f"hello from {edge.stack}".encode()), (0x2, os.urandom(70_000))]:
            tls.sendall(encode_frame(opcode, payload, mask=os.urandom(4)))
            assert read_frame(stream) == (opcode, payload)
        tls.sendall(encode_frame(0x8, b"\x03\xe8", mask=os.urandom(4)))
        assert read_frame(stream) == (0x8, b"\x03\xe8")
        stream.close()


def test_json_is_gzipped(edge: Edge) -> None:
    r = routes(edge.config)
    with edge.client() as client:
        plain = client.get(r.api)
        packed = client.get(r.api, {"Accept-Encoding": "gzip"})
        asset = client.get("/static/app.js", {"Accept-Encoding": "gzip"})
    assert plain.header("Content-Type") == "application/json" and plain.header("Content-Encoding") is None
    assert len(plain.body) > 1024
    assert packed.header("Content-Encoding") == "gzip"
    assert "Accept-Encoding" in (packed.header("Vary") or "")
    assert len(packed.body) < len(plain.body) / 2
    document = json_of(gzip.decompress(packed.body))
    assert document["path"] == r.api and document["upstream"].startswith(r.api_service)
    assert asset.header("Content-Encoding") == "gzip" and gzip.decompress(asset.body).startswith(b"/* webstack")


def json_of(data: bytes) -> dict[str, Any]:
    value = json.loads(data)
    assert isinstance(value, dict)
    return value


def test_static_assets_carry_long_cache_headers(edge: Edge) -> None:
    r = routes(edge.config)
    with edge.client() as client:
        assets = [client.get(p) for p in ("/static/app.js", "/static/app.js?v=42", "/assets/logo.svg")]
        page = client.get(r.frontend)
        api_js = client.get(f"{r.api.rsplit('/', 1)[0]}/report.js")
    for asset in assets:
        assert asset.status == 200
        # One Cache-Control, the edge's, replacing the app's `no-cache`.
        (cache,) = asset.all("Cache-Control")
        directives = {d.strip() for d in cache.split(",")}
        assert {"public", "immutable"} <= directives, cache
        max_age = next(int(d.split("=")[1]) for d in directives if d.startswith("max-age="))
        assert max_age >= ONE_YEAR
        assert asset.all("Expires") == []
        assert_security_headers(asset, edge.config, "static asset")
    # Pages and API responses are not cached for a year (an API path ending in .js neither).
    for other in (page, api_js):
        assert other.status == 200
        assert not any("immutable" in v or "max-age=31536000" in v for v in other.all("Cache-Control"))
    assert api_js.upstream and api_js.upstream.startswith(r.api_service)


def test_an_oversized_body_gets_413_and_one_at_the_limit_passes(edge: Edge) -> None:
    r = routes(edge.config)
    limit = edge.config.edge.client_max_body_mb << 20
    before = sum(u.requests_served() for u in edge.upstreams[r.api_service])
    with edge.tls_socket() as tls:
        tls.sendall(
            f"POST {r.api} HTTP/1.1\r\nHost: {edge.host}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {limit + 1}\r\n\r\n".encode()
            + b"x" * 65536
        )
        status, headers, _ = read_head(tls)
    assert status == 413
    assert_security_headers(Response(status, headers, b""), edge.config, "413")
    assert sum(u.requests_served() for u in edge.upstreams[r.api_service]) == before
    with edge.client() as client:
        accepted = client.request("POST", r.api, {"Content-Type": "application/octet-stream"}, b"x" * limit)
    assert accepted.status == 200
    assert accepted.json()["body_bytes"] == limit


def test_health_answers_without_touching_upstreams(edge: Edge) -> None:
    def served() -> dict[str, int]:
        return {u.name: u.requests_served() for replicas in edge.upstreams.values() for u in replicas}

    before = served()
    with edge.client() as client:
        answers = [client.get("/health") for _ in range(10)]
    for answer in answers:
        assert (answer.status, answer.body) == (200, b"healthy\n")
        assert (answer.header("Content-Type") or "").startswith("text/plain")
        assert answer.upstream is None
        assert_security_headers(answer, edge.config, "/health")
    assert served() == before
