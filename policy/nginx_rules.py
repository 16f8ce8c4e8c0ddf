"""Policies over the edge's nginx.conf: HTTPS only, TLS versions, HSTS, security headers, rate limits.

Each is a resource validation of the command resource that writes the edge config (see
`nginx_model.edge_config_text`); the config is parsed with crossplane. A config that is
not known yet (a preview where the upstream addresses are outputs) is skipped; a config
that does not parse is a violation of every nginx policy (none of them can vouch for it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from .common import Schema, is_unknown, plain, settings, subject
from .nginx_model import (
    PROXY_DIRECTIVES,
    Location,
    NginxParseError,
    Node,
    block,
    burst,
    children,
    edge_config_text,
    effective,
    http_block,
    is_tls,
    limit_req_zone_names,
    listens,
    locations,
    parse,
    proxy_target,
    server_label,
    servers,
    upstream_name,
    walk_all,
    zones,
)

AUTH_PATH_PATTERN = r"(^|/)(auth|oauth|login|logout|signin|sign-in|signup|sign-up|register|password|token|otp)(/|$|\.)"

AUTH_SCHEMA: Schema = {
    "authPathPattern": {
        "type": "string",
        "default": AUTH_PATH_PATTERN,
        "description": "Regular expression (searched in a location's path) that marks login and auth routes.",
    }
}


def _edge(args: ResourceValidationArgs, report: ReportViolation, policy_hint: str) -> list[Node] | None:
    """The parsed edge config of this resource, or None (not an edge config, or not known yet)."""
    text = edge_config_text(args.resource_type, plain(args.props))
    if text is None or is_unknown(text):
        return None
    try:
        return parse(text)
    except NginxParseError as error:
        report(
            f"{_who(args)}: the nginx config does not parse ({error}), so {policy_hint} cannot be verified; "
            "fix the config that components/render/nginx.py renders (nginx -t must accept it).",
            None,
        )
        return None


def _who(args: ResourceValidationArgs) -> str:
    return f"{subject(args.resource_type, args.name)} (edge nginx.conf)"


# --- HTTPS only ---------------------------------------------------------------------------------

_REDIRECT_CODES = ("301", "308")
_CONTENT_DIRECTIVES = (*PROXY_DIRECTIVES, "root", "alias", "try_files", "index")


def _is_acme(node: Node) -> bool:
    return node.get("directive") == "location" and any(".well-known/acme-challenge" in a for a in node.get("args", []))


def _redirect_problem(server: Node) -> str | None:
    """Why a port-80 server does more (or less) than a permanent redirect to https."""

    def content(nodes: list[Node]) -> str | None:
        for node in nodes:
            if _is_acme(node):
                continue
            directive = node.get("directive")
            if directive in _CONTENT_DIRECTIVES:
                return f"serves content over plain HTTP (`{directive}`)"
            if directive == "return" and node.get("args") and not str(node["args"][0]).startswith("3"):
                return f"answers over plain HTTP (`return {node['args'][0]}`)"
            found = content(block(node))
            if found:
                return found
        return None

    problem = content(block(server))
    if problem:
        return problem
    returns = children(block(server), "return")
    if not returns:
        for location in children(block(server), "location"):
            if location.get("args") in (["/"], ["=", "/"]):
                returns = children(block(location), "return")
    if not returns:
        return "has no `return 301 https://$host$request_uri;`"
    code, *rest = [str(a) for a in returns[0].get("args", [])] or [""]
    target = rest[0] if rest else ""
    if code not in _REDIRECT_CODES:
        return f"redirects with {code or 'no code'} (temporary), not 301"
    if not target.startswith("https://"):
        return f"redirects to {target or 'nothing'}, not to https://"
    if "$request_uri" not in target and not ("$uri" in target and "$args" in target):
        return "redirects without the path and query (`$request_uri` missing from the target)"
    return None


def nginx_https_only(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Every port-80 server of the edge only redirects (301) to https with path and query kept;
    every server that proxies app traffic listens with TLS; at least one TLS server exists."""
    main = _edge(args, report_violation, "HTTPS-only")
    if main is None:
        return
    all_servers = servers(main)
    if not any(is_tls(s) for s in all_servers):
        report_violation(
            f"{_who(args)}: no server listens with TLS, so the edge serves plain HTTP only; "
            "fix: a server with `listen 443 ssl http2;`, ssl_certificate and ssl_certificate_key.",
            None,
        )
    for server in all_servers:
        if is_tls(server):
            continue
        if any(listen.port == 80 for listen in listens(server)):
            problem = _redirect_problem(server)
            if problem:
                report_violation(
                    f"{_who(args)}: {server_label(server)} {problem}; fix: the port-80 server must only "
                    "`return 301 https://$host$request_uri;` (plus the https port when it is not 443).",
                    None,
                )
            continue
        proxied = [n for n in walk_all(block(server)) if n.get("directive") in PROXY_DIRECTIVES]
        if proxied:
            report_violation(
                f"{_who(args)}: {server_label(server)} proxies app traffic over plain HTTP; "
                "fix: serve it from the TLS server (`listen 443 ssl`), keep plain ports for redirects and "
                "private status only.",
                None,
            )


# --- TLS versions ---------------------------------------------------------------------------------

TLS_SCHEMA: Schema = {
    "allowedProtocols": {
        "type": "array",
        "items": {"type": "string", "enum": ["TLSv1.2", "TLSv1.3"]},
        "default": ["TLSv1.2", "TLSv1.3"],
        "description": "The TLS versions an ssl_protocols directive may list.",
    }
}


def nginx_tls_protocols(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Every TLS server of the edge has ssl_protocols (its own or the http block's) within
    TLSv1.2 and TLSv1.3, and no ssl_protocols anywhere allows an older version."""
    main = _edge(args, report_violation, "the TLS versions")
    if main is None:
        return
    allowed = set(settings(args.get_config(), TLS_SCHEMA)["allowedProtocols"])
    http = http_block(main)
    for node in walk_all(http):
        if node.get("directive") != "ssl_protocols":
            continue
        bad = [p for p in node.get("args", []) if p not in allowed]
        if bad:
            report_violation(
                f"{_who(args)}: `ssl_protocols {' '.join(node.get('args', []))}` allows {', '.join(bad)}; "
                f"fix: `ssl_protocols {' '.join(sorted(allowed))};`.",
                None,
            )
    for server in servers(main):
        if is_tls(server) and not effective([http, block(server)], "ssl_protocols"):
            report_violation(
                f"{_who(args)}: {server_label(server)} sets no ssl_protocols (nginx's default depends on its "
                f"version and may include TLSv1/TLSv1.1); fix: `ssl_protocols {' '.join(sorted(allowed))};` "
                "in the http block or the server.",
                None,
            )


# --- headers --------------------------------------------------------------------------------------


def _contexts(http: list[Node], server: Node) -> list[tuple[str, list[list[Node]]]]:
    """The server and each of its locations, with the levels their add_header comes from."""
    out: list[tuple[str, list[list[Node]]]] = [("the server block", [http, block(server)])]
    out += [(loc.label, loc.levels) for loc in locations(http, server)]
    return out


def _headers(levels: list[list[Node]]) -> dict[str, list[str]]:
    """Effective add_header in a context: lower-cased name -> its args after the name."""
    out: dict[str, list[str]] = {}
    for node in effective(levels, "add_header"):
        node_args = [str(a) for a in node.get("args", [])]
        if node_args:
            out[node_args[0].lower()] = node_args[1:]
    return out


HSTS_SCHEMA: Schema = {
    "minMaxAge": {
        "type": "integer",
        "minimum": 0,
        "default": 31_536_000,
        "description": "Least Strict-Transport-Security max-age, in seconds (a year by default).",
    }
}


def _hsts_problem(header: list[str] | None, min_max_age: int) -> str | None:
    if header is None:
        return "no Strict-Transport-Security header"
    value = header[0] if header else ""
    match = re.search(r"max-age=(\d+)", value, re.IGNORECASE)
    if not match:
        return "Strict-Transport-Security without max-age"
    if int(match.group(1)) < min_max_age:
        return f"Strict-Transport-Security max-age={match.group(1)} (< {min_max_age})"
    if "includesubdomains" not in value.lower():
        return "Strict-Transport-Security without includeSubDomains"
    if "always" not in header[1:]:
        return "Strict-Transport-Security without `always` (missing on error responses)"
    return None


def _per_context(
    args: ResourceValidationArgs,
    report: ReportViolation,
    main: list[Node],
    problem_of: Callable[[dict[str, list[str]]], list[str]],
    fix: str,
) -> None:
    http = http_block(main)
    for server in servers(main):
        if not is_tls(server):
            continue
        found: dict[str, list[str]] = {}
        for label, levels in _contexts(http, server):
            for problem in problem_of(_headers(levels)):
                found.setdefault(problem, []).append(label)
        for problem, where in found.items():
            overridden = [w for w in where if w != "the server block"]
            note = " (a location with its own add_header drops the server's headers)" if overridden else ""
            report(
                f"{_who(args)}: {server_label(server)} sends {problem} in {', '.join(where)}{note}; fix: {fix}",
                None,
            )


def nginx_hsts(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Every response of every TLS server carries HSTS: max-age at least a year (configurable),
    includeSubDomains, sent with `always`, in the server and in every location that sets headers."""
    main = _edge(args, report_violation, "HSTS")
    if main is None:
        return
    min_max_age = int(settings(args.get_config(), HSTS_SCHEMA)["minMaxAge"])

    def problems(headers: dict[str, list[str]]) -> list[str]:
        problem = _hsts_problem(headers.get("strict-transport-security"), min_max_age)
        return [problem] if problem else []

    _per_context(
        args,
        report_violation,
        main,
        problems,
        f'`add_header Strict-Transport-Security "max-age={max(min_max_age, 31_536_000)}; includeSubDomains" always;` '
        "(and edge.hstsMaxAge >= a year in the stack config); repeat it in every location that adds headers.",
    )


HEADERS_SCHEMA: Schema = {
    "requiredHeaders": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy", "Permissions-Policy"],
        "description": "Security headers every TLS response must carry (with `always`).",
    }
}

_HEADER_VALUES: dict[str, tuple[str, ...]] = {
    "x-frame-options": ("deny", "sameorigin"),
    "x-content-type-options": ("nosniff",),
}
_BAD_REFERRER = ("unsafe-url", "no-referrer-when-downgrade")


def nginx_security_headers(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Every response of every TLS server carries the security headers (X-Frame-Options DENY or
    SAMEORIGIN, X-Content-Type-Options nosniff, a safe Referrer-Policy, Permissions-Policy) with `always`."""
    main = _edge(args, report_violation, "the security headers")
    if main is None:
        return
    required = [str(h) for h in settings(args.get_config(), HEADERS_SCHEMA)["requiredHeaders"]]

    def problems(headers: dict[str, list[str]]) -> list[str]:
        out: list[str] = []
        for name in required:
            header = headers.get(name.lower())
            if header is None:
                out.append(f"no {name}")
                continue
            value = (header[0] if header else "").strip().lower()
            allowed = _HEADER_VALUES.get(name.lower())
            if allowed and value not in allowed:
                out.append(f"{name}: {value or 'empty'} (allowed: {', '.join(allowed)})")
            elif name.lower() == "referrer-policy" and value in _BAD_REFERRER:
                out.append(f"{name}: {value} (leaks full URLs)")
            elif "always" not in header[1:]:
                out.append(f"{name} without `always`")
        return out

    _per_context(
        args,
        report_violation,
        main,
        problems,
        "`add_header <name> <value> always;` for each of "
        + ", ".join(required)
        + " in the server block and in every location that adds its own headers.",
    )


# --- rate limits ------------------------------------------------------------------------------------


def _proxied(main: list[Node]) -> list[tuple[Node, Location, str]]:
    http = http_block(main)
    out: list[tuple[Node, Location, str]] = []
    for server in servers(main):
        for location in locations(http, server):
            target = proxy_target(location)
            if target is not None:
                out.append((server, location, target))
    return out


def nginx_rate_limit_coverage(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Every location that proxies to an app upstream is under limit_req (its own or inherited)
    with a zone that a limit_req_zone defines."""
    main = _edge(args, report_violation, "rate-limit coverage")
    if main is None:
        return
    defined = zones(http_block(main))
    for server, location, target in _proxied(main):
        limits = effective(location.levels, "limit_req")
        where = f"{server_label(server)} {location.label} (proxy to {upstream_name(target)})"
        if not limits:
            report_violation(
                f"{_who(args)}: {where} has no limit_req; fix: `limit_req zone=<zone> burst=<n> nodelay;` "
                "in the location (the api, login or frontend zone).",
                None,
            )
            continue
        for name in limit_req_zone_names(limits):
            if name not in defined:
                report_violation(
                    f"{_who(args)}: {where} uses limit_req zone={name}, which no limit_req_zone defines "
                    f"(defined: {', '.join(sorted(defined)) or 'none'}); fix: define the zone in the http block "
                    "or use a defined one.",
                    None,
                )


def _rate(location: Location, defined: dict[str, Any]) -> float | None:
    """The strictest rate (r/s) of the zones in force at a location, None when none is defined."""
    rates = [
        defined[n].rate_per_s for n in limit_req_zone_names(effective(location.levels, "limit_req")) if n in defined
    ]
    return min(rates) if rates else None


def nginx_login_rate_stricter(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Login and auth routes are limited by a stricter zone (a lower rate) than the API route
    they would otherwise fall under."""
    main = _edge(args, report_violation, "the login rate")
    if main is None:
        return
    pattern = re.compile(str(settings(args.get_config(), AUTH_SCHEMA)["authPathPattern"]))
    defined = zones(http_block(main))
    proxied = _proxied(main)
    for server, location, target in proxied:
        if not pattern.search(location.path):
            continue
        own = _rate(location, defined)
        if own is None:
            continue  # no limit at all: nginx-rate-limit-coverage reports it
        parents = [
            (loc, _rate(loc, defined))
            for srv, loc, tgt in proxied
            if srv is server
            and upstream_name(tgt) == upstream_name(target)
            and not pattern.search(loc.path)
            and location.path.startswith(loc.path)
        ]
        parents = [(loc, rate) for loc, rate in parents if rate is not None]
        if not parents:
            continue
        parent, parent_rate = max(parents, key=lambda item: len(item[0].path))
        if parent_rate is not None and own >= parent_rate:
            report_violation(
                f"{_who(args)}: auth route {location.label} is limited to {own:g} r/s, not stricter than "
                f"the API route {parent.label} ({parent_rate:g} r/s); fix: a login zone with a lower rate "
                "(edge.loginRate below edge.apiRate in the stack config).",
                None,
            )


MAXIMA_SCHEMA: Schema = {
    "maxRatePerSecond": {
        "type": "number",
        "minimum": 0,
        "default": 100,
        "description": "Highest rate (requests per second per client) any limit_req_zone may allow.",
    },
    "maxAuthRatePerSecond": {
        "type": "number",
        "minimum": 0,
        "default": 5,
        "description": "Highest rate of a zone that limits login and auth routes.",
    },
    "maxBurst": {
        "type": "integer",
        "minimum": 0,
        "default": 200,
        "description": "Highest burst of any limit_req.",
    },
    **AUTH_SCHEMA,
}


def nginx_rate_limit_maxima(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Rates and bursts stay within the configured maxima: every zone, a stricter maximum for
    zones that limit auth routes, and every limit_req burst."""
    main = _edge(args, report_violation, "the rate maxima")
    if main is None:
        return
    cfg = settings(args.get_config(), MAXIMA_SCHEMA)
    max_rate, max_auth, max_burst = (
        float(cfg["maxRatePerSecond"]),
        float(cfg["maxAuthRatePerSecond"]),
        int(cfg["maxBurst"]),
    )
    pattern = re.compile(str(cfg["authPathPattern"]))
    defined = zones(http_block(main))
    for zone in defined.values():
        if zone.rate_per_s <= 0:
            report_violation(f"{_who(args)}: limit_req_zone {zone.name} has no valid rate; fix: `rate=<n>r/s`.", None)
        elif zone.rate_per_s > max_rate:
            report_violation(
                f"{_who(args)}: limit_req_zone {zone.name} allows {zone.rate_per_s:g} r/s per client, above the "
                f"maximum {max_rate:g}; fix: lower the rate in the stack config (edge.apiRate / edge.frontendRate).",
                None,
            )
    auth_zones: set[str] = set()
    bursts: dict[str, int] = {}
    for _server, location, _target in _proxied(main):
        limits = effective(location.levels, "limit_req")
        if pattern.search(location.path):
            auth_zones.update(limit_req_zone_names(limits))
        for node in limits:
            for name in limit_req_zone_names([node]):
                bursts[name] = max(bursts.get(name, 0), burst(node))
    for name in sorted(auth_zones):
        auth_zone = defined.get(name)
        if auth_zone is not None and auth_zone.rate_per_s > max_auth:
            report_violation(
                f"{_who(args)}: limit_req_zone {name} limits auth routes to {auth_zone.rate_per_s:g} r/s per client, "
                f"above the maximum {max_auth:g}; fix: lower edge.loginRate in the stack config.",
                None,
            )
    for name, value in sorted(bursts.items()):
        if value > max_burst:
            report_violation(
                f"{_who(args)}: limit_req zone={name} has burst={value}, above the maximum {max_burst}; "
                "fix: lower the burst in the stack config.",
                None,
            )
