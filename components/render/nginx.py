"""The edge's nginx.conf, built as a crossplane payload and emitted by crossplane.build.

Pure: no Pulumi import. `edge_spec` turns the stack config plus the resolved upstream
addresses into an `EdgeSpec`; `render_nginx_conf` turns a spec into text. Building the
config as data (not a text template) keeps quoting right and lets the policy pack parse
the same structure back with crossplane.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import crossplane

from components.config import EdgeConfig, ServiceConfig

# Cloudflare's published edge ranges (https://www.cloudflare.com/ips/, read 2026-11).
CLOUDFLARE_RANGES: tuple[str, ...] = (
    "173.245.48.0/20",
    "103.21.244.0/22",
    "103.22.200.0/22",
    "103.31.4.0/22",
    "141.101.64.0/18",
    "108.162.192.0/18",
    "190.93.240.0/20",
    "188.114.96.0/20",
    "197.234.240.0/22",
    "198.41.128.0/17",
    "162.158.0.0/15",
    "104.16.0.0/13",
    "104.24.0.0/14",
    "172.64.0.0/13",
    "131.0.72.0/22",
    "2400:cb00::/32",
    "2606:4700::/32",
    "2803:f800::/32",
    "2405:b500::/32",
    "2405:8100::/32",
    "2a06:98c0::/29",
    "2c0f:f248::/32",
)

# Networks allowed to read stub_status: the exporter sits on a private network.
PRIVATE_RANGES: tuple[str, ...] = ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")

STATIC_ASSET_RE = r"\.(?:js|css|png|jpg|jpeg|gif|ico|svg|webp|avif|woff2?|ttf|eot|map)$"

GZIP_TYPES = (
    "text/plain",
    "text/css",
    "text/xml",
    "text/javascript",
    "application/javascript",
    "application/json",
    "application/xml",
    "application/rss+xml",
    "image/svg+xml",
)

TLS_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)

RouteKind = Literal["api", "login", "websocket", "frontend"]

# The access log: one JSON object per line (log_format escape=json), each value a string, so
# that the log shipper and LogsQL read fields instead of parsing text (docs/logs.md). Names
# stay clear of the shipper's own fields (host, stack, service, replica): `http_host` is the
# request's Host. remote_addr is the client after the real-IP module (CF-Connecting-IP from
# Cloudflare's ranges); request_id is the X-Request-ID the upstream got and the client sees.
# upstream_* hold one value per upstream tried ("10.0.0.5:8000, 10.0.0.6:8000"), "" when none.
ACCESS_LOG_FIELDS: tuple[tuple[str, str], ...] = (
    ("time", "$time_iso8601"),
    ("request_id", "$request_id"),
    ("remote_addr", "$remote_addr"),
    ("method", "$request_method"),
    ("uri", "$request_uri"),
    ("protocol", "$server_protocol"),
    ("http_host", "$host"),
    ("status", "$status"),
    ("body_bytes_sent", "$body_bytes_sent"),
    ("request_time", "$request_time"),
    ("upstream_addr", "$upstream_addr"),
    ("upstream_status", "$upstream_status"),
    ("upstream_connect_time", "$upstream_connect_time"),
    ("upstream_response_time", "$upstream_response_time"),
    ("http_referer", "$http_referer"),
    ("http_user_agent", "$http_user_agent"),
)


def access_log_format() -> str:
    """The `log_format edge escape=json` string: {"time":"$time_iso8601",...}."""
    return "{" + ",".join(f'"{name}":"{variable}"' for name, variable in ACCESS_LOG_FIELDS) + "}"


@dataclass(frozen=True)
class RateZone:
    name: str
    rate_per_s: int
    burst: int


@dataclass(frozen=True)
class Upstream:
    name: str
    servers: tuple[str, ...]
    keepalive: int = 64
    max_fails: int = 3
    fail_timeout_s: int = 30


@dataclass(frozen=True)
class Route:
    path: str
    upstream: str
    zone: str
    kind: RouteKind


@dataclass(frozen=True)
class NginxRuntime:
    """Where nginx keeps its files: the container's layout by default, a tmp dir in tests."""

    user: str | None = "nginx"
    pid: str = "/var/run/nginx.pid"
    error_log: str = "/var/log/nginx/error.log"
    access_log: str = "/var/log/nginx/access.log"
    mime_types: str = "/etc/nginx/mime.types"
    temp_dir: str | None = None


@dataclass(frozen=True)
class EdgeSpec:
    server_names: tuple[str, ...]
    http_listen: str
    https_listen: str
    redirect_port: int
    certificate: str
    certificate_key: str
    zones: tuple[RateZone, ...]
    upstreams: tuple[Upstream, ...]
    routes: tuple[Route, ...]
    client_max_body_mb: int = 20
    worker_connections: int = 4096
    hsts_max_age: int = 31_536_000
    trusted_proxies: tuple[str, ...] = ()
    status_listen: str | None = "8081"
    runtime: NginxRuntime = field(default_factory=NginxRuntime)


def security_headers(hsts_max_age: int) -> list[tuple[str, str]]:
    return [
        ("Strict-Transport-Security", f"max-age={hsts_max_age}; includeSubDomains"),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ]


class Site(Protocol):
    """What the edge serves: its settings, the services behind it, the names it answers to
    (a StackConfig is one; the edge component passes its own slice)."""

    @property
    def edge(self) -> EdgeConfig: ...
    @property
    def services(self) -> Mapping[str, ServiceConfig]: ...
    @property
    def server_names(self) -> list[str]: ...


def edge_spec(
    config: Site,
    servers: dict[str, list[str]],
    *,
    certificate: str = "/etc/nginx/tls/edge.crt",
    certificate_key: str = "/etc/nginx/tls/edge.key",
    http_listen: str = "80",
    https_listen: str = "443",
    runtime: NginxRuntime | None = None,
    extra_trusted_proxies: tuple[str, ...] = (),
) -> EdgeSpec:
    """The edge of a stack: one upstream per service, a rate-limited route per path.

    `servers` maps a service name to its replicas' "address:port". The listen
    addresses are the container's; `redirect_port` is the public https port that
    port 80 redirects to.
    """
    edge = config.edge
    zones = (
        RateZone("api", edge.api_rate.rate, edge.api_rate.burst),
        RateZone("login", edge.login_rate.rate, edge.login_rate.burst),
        RateZone("frontend", edge.frontend_rate.rate, edge.frontend_rate.burst),
    )
    upstreams = tuple(Upstream(name, tuple(servers[name])) for name in sorted(config.services))
    routes: list[Route] = []
    for name in sorted(config.services):
        service = config.services[name]
        if service.kind == "frontend":
            routes.append(Route(service.path, name, "frontend", "frontend"))
            continue
        routes.append(Route(service.path, name, "api", "api"))
        routes += [Route(path, name, "login", "login") for path in service.login_paths]
        if service.websocket_path:
            routes.append(Route(service.websocket_path, name, "api", "websocket"))
    trusted = (CLOUDFLARE_RANGES if edge.trust_cloudflare else ()) + extra_trusted_proxies
    return EdgeSpec(
        server_names=tuple(config.server_names),
        http_listen=http_listen,
        https_listen=https_listen,
        redirect_port=edge.https_port,
        certificate=certificate,
        certificate_key=certificate_key,
        zones=zones,
        upstreams=upstreams,
        routes=tuple(routes),
        client_max_body_mb=edge.client_max_body_mb,
        worker_connections=edge.worker_connections,
        hsts_max_age=edge.hsts_max_age,
        trusted_proxies=trusted,
        runtime=runtime or NginxRuntime(),
    )


def _d(directive: str, *args: str | int, block: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"directive": directive, "args": [str(a) for a in args]}
    if block is not None:
        node["block"] = block
    return node


def _headers(spec: EdgeSpec, extra: tuple[tuple[str, str], ...] = ()) -> list[dict[str, Any]]:
    # add_header is not inherited into a location that sets its own, so every
    # location that adds one repeats the whole set (and `always` covers error pages).
    # X-Request-ID: the id the upstream got too, so a client's report finds both log lines.
    headers = [*security_headers(spec.hsts_max_age), ("X-Request-ID", "$request_id"), *extra]
    return [_d("add_header", k, v, "always") for k, v in headers]


def _proxy(upstream: str, *, websocket: bool = False) -> list[dict[str, Any]]:
    connection = "$connection_upgrade" if websocket else ""
    block = [
        _d("proxy_pass", f"http://{upstream}"),
        _d("proxy_http_version", "1.1"),
        _d("proxy_set_header", "Host", "$host"),
        _d("proxy_set_header", "X-Real-IP", "$remote_addr"),
        _d("proxy_set_header", "X-Forwarded-For", "$proxy_add_x_forwarded_for"),
        _d("proxy_set_header", "X-Forwarded-Proto", "$scheme"),
        _d("proxy_set_header", "X-Request-ID", "$request_id"),
        _d("proxy_set_header", "Connection", connection),
    ]
    if websocket:
        block += [
            _d("proxy_set_header", "Upgrade", "$http_upgrade"),
            _d("proxy_read_timeout", "3600s"),
            _d("proxy_send_timeout", "3600s"),
            _d("proxy_buffering", "off"),
        ]
    return block


def _location(spec: EdgeSpec, route: Route, zones: dict[str, RateZone]) -> dict[str, Any]:
    zone = zones[route.zone]
    limit = _d("limit_req", f"zone={zone.name}", f"burst={zone.burst}", "nodelay")
    block = [limit, *_proxy(route.upstream, websocket=route.kind == "websocket")]
    if route.kind == "frontend" and route.path == "/":
        static = _d(
            "location",
            "~*",
            STATIC_ASSET_RE,
            block=[
                limit,
                *_proxy(route.upstream),
                # One Cache-Control, the edge's: `expires` would add a second one
                # (max-age only), and the app's own would contradict it.
                _d("proxy_hide_header", "Cache-Control"),
                _d("proxy_hide_header", "Expires"),
                *_headers(spec, (("Cache-Control", "public, max-age=31536000, immutable"),)),
            ],
        )
        block.append(static)
    # ^~ keeps the static-asset regex from capturing API paths such as /api/x.js.
    modifier = ["^~"] if route.kind in ("api", "login", "websocket") else []
    return _d("location", *modifier, route.path, block=block)


def nginx_payload(spec: EdgeSpec) -> list[dict[str, Any]]:
    """The whole config as a crossplane payload (a list of directive nodes)."""
    rt = spec.runtime
    zones = {z.name: z for z in spec.zones}
    main: list[dict[str, Any]] = []
    if rt.user:
        main.append(_d("user", rt.user))
    main += [
        _d("worker_processes", "auto"),
        _d("worker_rlimit_nofile", 65535),
        _d("pid", rt.pid),
        _d("error_log", rt.error_log, "warn"),
        _d(
            "events",
            block=[_d("worker_connections", spec.worker_connections), _d("multi_accept", "on")],
        ),
    ]
    http: list[dict[str, Any]] = [
        _d("include", rt.mime_types),
        _d("default_type", "application/octet-stream"),
        _d("server_tokens", "off"),
        _d("log_format", "edge", "escape=json", access_log_format()),
        # Buffered access log: one write per 64k instead of one per request.
        _d("access_log", rt.access_log, "edge", "buffer=64k", "flush=1s"),
        _d("sendfile", "on"),
        _d("tcp_nopush", "on"),
        _d("tcp_nodelay", "on"),
        _d("keepalive_timeout", "65s"),
        _d("keepalive_requests", 10000),
        _d("client_max_body_size", f"{spec.client_max_body_mb}m"),
        _d("gzip", "on"),
        _d("gzip_vary", "on"),
        _d("gzip_proxied", "any"),
        _d("gzip_comp_level", 5),
        _d("gzip_min_length", 1024),
        _d("gzip_types", *GZIP_TYPES),
    ]
    if rt.temp_dir:
        http += [
            _d(f"{kind}_temp_path", f"{rt.temp_dir}/{kind}")
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        ]
    if spec.trusted_proxies:
        http += [_d("set_real_ip_from", cidr) for cidr in spec.trusted_proxies]
        http += [_d("real_ip_header", "CF-Connecting-IP")]
    http += [
        _d("limit_req_zone", "$binary_remote_addr", f"zone={z.name}:10m", f"rate={z.rate_per_s}r/s") for z in spec.zones
    ]
    http += [
        _d("limit_req_status", 429),
        _d("limit_req_log_level", "warn"),
        _d("map", "$http_upgrade", "$connection_upgrade", block=[_d("default", "upgrade"), _d("", "close")]),
        # Upstreams sit on the host's Docker network or the private network (sub-millisecond):
        # a connect that takes a second goes to a dead replica or host, so try the next one.
        # Measured on the local stack: a stopped replica cost up to 5 s with 5s here.
        _d("proxy_connect_timeout", "1s"),
        _d("proxy_send_timeout", "30s"),
        _d("proxy_read_timeout", "30s"),
        # Not http_503: a 503 is the app's own answer (a shared dependency such as Redis is
        # away), another replica would say the same, and as a counted failure it ejected
        # every replica for fail_timeout: a Redis failover of 8 s became 30 s of 502s.
        _d("proxy_next_upstream", "error", "timeout", "http_502", "http_504"),
        _d("proxy_next_upstream_tries", 3),
        _d("ssl_protocols", "TLSv1.2", "TLSv1.3"),
        _d("ssl_ciphers", TLS_CIPHERS),
        _d("ssl_prefer_server_ciphers", "off"),
        _d("ssl_session_cache", "shared:SSL:20m"),
        _d("ssl_session_timeout", "1d"),
        _d("ssl_session_tickets", "off"),
    ]
    for upstream in spec.upstreams:
        servers = [
            _d("server", s, f"max_fails={upstream.max_fails}", f"fail_timeout={upstream.fail_timeout_s}s")
            for s in upstream.servers
        ]
        http.append(
            _d(
                "upstream",
                upstream.name,
                block=[_d("least_conn"), *servers, _d("keepalive", upstream.keepalive)],
            )
        )
    names = list(spec.server_names)
    port_suffix = "" if spec.redirect_port == 443 else f":{spec.redirect_port}"
    http.append(
        _d(
            "server",
            block=[
                _d("listen", spec.http_listen, "default_server", "reuseport"),
                _d("server_name", *names),
                _d("return", 301, f"https://$host{port_suffix}$request_uri"),
            ],
        )
    )
    https: list[dict[str, Any]] = [
        # reuseport: one accept queue per worker, so the kernel spreads connections
        # evenly; with one shared queue (and multi_accept) a single worker takes a burst
        # of new keep-alive connections and the others sit idle.
        _d("listen", spec.https_listen, "ssl", "http2", "default_server", "reuseport"),
        _d("server_name", *names),
        _d("ssl_certificate", spec.certificate),
        _d("ssl_certificate_key", spec.certificate_key),
        *_headers(spec),
        _d(
            "location",
            "=",
            "/health",
            block=[
                _d("access_log", "off"),
                _d("default_type", "text/plain"),
                *_headers(spec),
                _d("return", 200, "healthy\n"),
            ],
        ),
    ]
    https += [_location(spec, route, zones) for route in spec.routes]
    http.append(_d("server", block=https))
    if spec.status_listen:
        allow = [_d("allow", cidr) for cidr in PRIVATE_RANGES]
        http.append(
            _d(
                "server",
                block=[
                    _d("listen", spec.status_listen),
                    _d("access_log", "off"),
                    _d(
                        "location",
                        "=",
                        "/stub_status",
                        block=[_d("stub_status"), *allow, _d("deny", "all")],
                    ),
                    _d("location", "/", block=[_d("return", 404)]),
                ],
            )
        )
    main.append(_d("http", block=http))
    return main


def render_nginx_conf(spec: EdgeSpec) -> str:
    return crossplane.build(nginx_payload(spec), indent=4, tabs=False, header=False) + "\n"
