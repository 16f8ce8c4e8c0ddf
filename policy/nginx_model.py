"""The edge's nginx.conf as the program declares it, parsed with crossplane (not grepped).

The config text reaches the edge host as the `stdin` of a command resource whose `create`
writes it to `.../nginx.conf` (`edge-conf`, `command:remote:Command` on VPS stacks,
`command:local:Command` on local). `edge_config_text` finds it on a resource; `parse`
turns it into crossplane's payload; the helpers below answer the questions the policies
ask (which servers, which listen ports, the effective value of a directive in a location
with nginx's inheritance rules).
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import crossplane

from .common import UNKNOWN, is_unknown

COMMAND_TYPES = frozenset({"command:remote:Command", "command:local:Command"})
_WRITES_NGINX_CONF = re.compile(r"nginx\.conf\b")

Node = dict[str, Any]


class NginxParseError(Exception):
    """The config text is not a valid nginx config."""


def edge_config_text(resource_type: str, props: Mapping[str, Any]) -> Any:
    """The nginx config a command resource writes, UNKNOWN when not known yet, else None."""
    if resource_type not in COMMAND_TYPES:
        return None
    create = props.get("create")
    if not isinstance(create, str) or not _WRITES_NGINX_CONF.search(create) or "stdin" not in props:
        return None
    stdin = props.get("stdin")
    if is_unknown(stdin):
        return UNKNOWN
    return stdin if isinstance(stdin, str) else None


@functools.lru_cache(maxsize=32)
def _parse_cached(text: str) -> tuple[Node, ...]:
    fd, path = tempfile.mkstemp(prefix="webstack-policy-", suffix=".conf")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        payload = crossplane.parse(path, single=True, comments=False, catch_errors=True)
    finally:
        os.unlink(path)
    if payload.get("status") != "ok" or not payload.get("config"):
        errors = [e for c in payload.get("config", []) for e in c.get("errors", [])] or payload.get("errors", [])
        detail = "; ".join(f"line {e.get('line')}: {e.get('error')}" for e in errors) or "no config"
        raise NginxParseError(detail)
    return tuple(payload["config"][0]["parsed"])


def parse(text: str) -> list[Node]:
    """The main context's directives (crossplane nodes: directive, args, block)."""
    return list(_parse_cached(text))


def children(nodes: list[Node], directive: str) -> list[Node]:
    return [n for n in nodes if n.get("directive") == directive]


def block(node: Node) -> list[Node]:
    value = node.get("block")
    return value if isinstance(value, list) else []


def http_block(main: list[Node]) -> list[Node]:
    http = children(main, "http")
    return block(http[0]) if http else []


def servers(main: list[Node]) -> list[Node]:
    return children(http_block(main), "server")


def listen_port(arg: str) -> int | None:
    """The port of a listen address: `80`, `*:80`, `[::]:443`, `127.0.0.1` (port 80)."""
    if arg.startswith("unix:"):
        return None
    if arg.isdigit():
        return int(arg)
    match = re.search(r":(\d+)$", arg)
    if match:
        return int(match.group(1))
    return 80


@dataclass(frozen=True)
class Listen:
    port: int | None
    ssl: bool


def listens(server: Node) -> list[Listen]:
    found = [
        Listen(port=listen_port(n["args"][0]), ssl=any(a in ("ssl", "quic") for a in n["args"][1:]))
        for n in children(block(server), "listen")
        if n.get("args")
    ]
    return found or [Listen(port=80, ssl=False)]  # nginx's default: *:80


def is_tls(server: Node) -> bool:
    legacy = any(n.get("args") == ["on"] for n in children(block(server), "ssl"))
    return legacy or any(listen.ssl for listen in listens(server))


def server_label(server: Node) -> str:
    names: list[str] = next((n["args"] for n in children(block(server), "server_name")), [])
    ports = ", ".join(f"{lst.port}{' ssl' if lst.ssl else ''}" for lst in listens(server))
    return f"server (listen {ports}{'; ' + ' '.join(names) if names else ''})"


@dataclass
class Location:
    """A location and the chain of contexts above it (http, server, outer locations)."""

    node: Node
    levels: list[list[Node]] = field(default_factory=list)  # http, server, ..., this location

    @property
    def path(self) -> str:
        args = self.node.get("args", [])
        return str(args[-1]) if args else ""

    @property
    def label(self) -> str:
        return "location " + " ".join(self.node.get("args", []))

    @property
    def directives(self) -> list[Node]:
        return self.levels[-1]


def locations(http: list[Node], server: Node) -> Iterator[Location]:
    """Every location of a server, nested ones included, with its inheritance chain."""

    def walk(nodes: list[Node], chain: list[list[Node]]) -> Iterator[Location]:
        for node in children(nodes, "location"):
            levels = [*chain, block(node)]
            yield Location(node=node, levels=levels)
            yield from walk(block(node), levels)

    yield from walk(block(server), [http, block(server)])


def effective(levels: list[list[Node]], directive: str) -> list[Node]:
    """The directives in force at the innermost level: nginx inherits `add_header`,
    `limit_req`, `ssl_protocols`... from the level above only when a level sets none."""
    for nodes in reversed(levels):
        found = children(nodes, directive)
        if found:
            return found
    return []


def walk_all(nodes: list[Node]) -> Iterator[Node]:
    for node in nodes:
        yield node
        yield from walk_all(block(node))


PROXY_DIRECTIVES = ("proxy_pass", "grpc_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass")


def proxy_target(location: Location) -> str | None:
    """Where a location proxies to (the first *_pass of its own block), else None."""
    for directive in PROXY_DIRECTIVES:
        found = children(location.directives, directive)
        if found and found[0].get("args"):
            return str(found[0]["args"][0])
    return None


def upstream_name(target: str) -> str:
    """`http://backend` -> `backend`; `http://10.0.0.1:80/x` -> `10.0.0.1:80`."""
    rest = target.split("://", 1)[-1]
    return rest.split("/", 1)[0]


@dataclass(frozen=True)
class Zone:
    name: str
    rate_per_s: float
    size: str


def zones(http: list[Node]) -> dict[str, Zone]:
    """limit_req_zone definitions: name -> rate per second."""
    out: dict[str, Zone] = {}
    for node in children(http, "limit_req_zone"):
        name, size, rate = None, "", 0.0
        for arg in node.get("args", []):
            match = re.fullmatch(r"zone=([^:]+):(\S+)", arg)
            if match:
                name, size = match.group(1), match.group(2)
            match = re.fullmatch(r"rate=(\d+(?:\.\d+)?)r/([sm])", arg)
            if match:
                value = float(match.group(1))
                rate = value if match.group(2) == "s" else value / 60.0
        if name:
            out[name] = Zone(name=name, rate_per_s=rate, size=size)
    return out


def limit_req_zone_names(nodes: list[Node]) -> list[str]:
    names: list[str] = []
    for node in nodes:
        for arg in node.get("args", []):
            if arg.startswith("zone="):
                names.append(arg[len("zone=") :])
    return names


def burst(node: Node) -> int:
    for arg in node.get("args", []):
        if arg.startswith("burst="):
            try:
                return int(arg[len("burst=") :])
            except ValueError:
                return 0
    return 0
