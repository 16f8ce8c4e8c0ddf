"""Shared fixtures of the policy tests: cached mocked runs, resource edits, args builders."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import crossplane
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

from components.config.stackfile import read_stack_file
from policy.gate import Violation, evaluate, pack_settings
from policy.nginx_model import parse
from tools.offline import Declared, OfflineRun, Secret, reveal, run_offline

STACKS = ("local", "staging", "production")
CONTAINER = "docker:index/container:Container"


@functools.cache
@functools.cache
def _base(stack: str) -> OfflineRun:
    return run_offline(stack)


def base_run(stack: str) -> OfflineRun:
    """The stack's mocked run, cached: never mutate it (use base_resources for a copy)."""
    return _base(stack)


def base_resources(stack: str) -> list[Declared]:
    """A private copy of the stack's declared resources (the mocked run is cached per stack)."""
    return copy.deepcopy(_base(stack).resources)


def base_config(stack: str) -> tuple[dict[str, Any], set[str]]:
    raw, secret_keys = read_stack_file(stack)
    return copy.deepcopy(raw), set(secret_keys)


def named(resources: list[Declared], name: str) -> Declared:
    return next(r for r in resources if r.name == name)


def violations(
    stack: str,
    resources: list[Declared],
    *,
    stack_config: tuple[Mapping[str, Any], set[str]] | None = None,
) -> list[Violation]:
    settings, _ = pack_settings(stack)
    return evaluate(resources, settings, stack_config=stack_config or base_config(stack))


def fired(stack: str, resources: list[Declared], **kwargs: Any) -> set[str]:
    return {v.policy for v in violations(stack, resources, **kwargs)}


def run_config(
    stack: str, edit: Callable[[dict[str, Any]], None]
) -> tuple[list[Declared], tuple[dict[str, Any], set[str]]]:
    """Run the program on an edited copy of the stack's config; return its resources and the config."""
    raw, secret_keys = base_config(stack)
    edit(raw)
    run = run_offline(stack, raw=raw, secret_keys=secret_keys)
    return run.resources, (raw, secret_keys)


# --- editing declared inputs ----------------------------------------------------------------------


def set_input(resource: Declared, key: str, value: Any) -> None:
    """Replace an input, keeping it secret when it was (as the program would)."""
    if isinstance(resource.inputs.get(key), Secret):
        resource.inputs[key] = Secret(value)
    else:
        resource.inputs[key] = value


def plain_input(resource: Declared, key: str) -> Any:
    return reveal(resource.inputs.get(key))


def edit_env(resource: Declared, env: Mapping[str, str | None]) -> None:
    """Set (or with None, remove) container env vars."""
    current = [e for e in plain_input(resource, "envs") or [] if e.partition("=")[0] not in env]
    current += [f"{k}={v}" for k, v in env.items() if v is not None]
    set_input(resource, "envs", current)


def edge_conf(resources: list[Declared]) -> Declared:
    return named(resources, "edge-conf")


def nginx_text(resources: list[Declared]) -> str:
    return str(plain_input(edge_conf(resources), "stdin"))


def edit_nginx(resources: list[Declared], edit: Callable[[list[dict[str, Any]]], None]) -> None:
    """Edit the edge config as crossplane data (a deep copy of the parsed payload), then rebuild it."""
    payload = copy.deepcopy(parse(nginx_text(resources)))
    edit(payload)
    set_input(edge_conf(resources), "stdin", crossplane.build(payload, indent=4, tabs=False, header=False) + "\n")


def http(payload: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return next(n for n in payload if n["directive"] == "http")["block"]


def servers_of(payload: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [n for n in http(payload) if n["directive"] == "server"]


def tls_server(payload: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return next(
        s for s in servers_of(payload) if any("ssl" in d["args"] for d in s["block"] if d["directive"] == "listen")
    )["block"]


def location(server: list[dict[str, Any]], *args: str) -> list[dict[str, Any]]:
    return next(n for n in server if n["directive"] == "location" and n["args"] == list(args))["block"]


# --- args for calling one policy directly -------------------------------------------------------------


def options(parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent)


def resource_args(
    resource_type: str, props: Mapping[str, Any], *, name: str = "res", config: Mapping[str, Any] | None = None
) -> ResourceValidationArgs:
    """Args as the engine builds them: props behind the unknown-checking proxy."""
    urn = f"urn:pulumi:test::webstack::{resource_type}::{name}"
    return ResourceValidationArgs(
        resource_type, unknown_checking_proxy(copy.deepcopy(dict(props))), urn, name, options(), None, config
    )


def stack_args(
    resources: Sequence[tuple[str, str, Mapping[str, Any]]], *, config: Mapping[str, Any] | None = None
) -> StackValidationArgs:
    built = [
        PolicyResource(
            t,
            unknown_checking_proxy(copy.deepcopy(dict(p))),
            f"urn:pulumi:test::webstack::{t}::{n}",
            n,
            options(),
            None,
            None,
            [],
            {},
        )
        for t, n, p in resources
    ]
    return StackValidationArgs(built, config)


class Reports:
    """A report_violation that keeps the messages."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.urns: list[str | None] = []

    def __call__(self, message: str, urn: str | None = None) -> None:
        self.messages.append(message)
        self.urns.append(urn)

    def __bool__(self) -> bool:
        return bool(self.messages)

    def text(self) -> str:
        return "\n".join(self.messages)


def walk(nodes: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every directive node of a crossplane payload, depth first."""
    for node in nodes:
        yield node
        yield from walk(node.get("block") or [])


def plain_server(payload: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The port-80 server's block."""
    return next(
        s["block"]
        for s in servers_of(payload)
        if any(d["args"][:1] == ["80"] for d in s["block"] if d["directive"] == "listen")
    )


def directives(payload: list[dict[str, Any]], name: str, *first_args: str) -> list[dict[str, Any]]:
    """Every `name` directive whose args start with first_args."""
    return [n for n in walk(payload) if n["directive"] == name and n["args"][: len(first_args)] == list(first_args)]


def remove_directives(payload: list[dict[str, Any]], name: str, *first_args: str) -> None:
    doomed = {id(n) for n in directives(payload, name, *first_args)}
    assert doomed, (name, first_args)
    for node in [*walk(payload), {"block": payload}]:
        block = node.get("block")
        if block:
            block[:] = [n for n in block if id(n) not in doomed]
