"""Run the program under Pulumi mocks and record what it declares: no engine, no network.

Used by the offline plan (`tools/plan.py`), the tests and the offline policy gate. The
recording monitor keeps what mocks normally drop: each resource's parent, provider,
protect and delete-before-replace options, and which inputs are secret.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.config import StackConfig
from components.config.stackfile import PROJECT_DIR, read_stack_file
from components.load import load_stack_config

PROJECT = "webstack"


@dataclass(frozen=True)
class Secret:
    """A value that is secret in the program (an input or an output)."""

    value: Any


@dataclass
class Declared:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    provider: str
    protect: bool
    delete_before_replace: bool
    retain_on_delete: bool
    dependencies: list[str]
    inputs: dict[str, Any]  # secret values wrapped in Secret

    @property
    def plain_inputs(self) -> dict[str, Any]:
        return reveal(self.inputs)


@dataclass
class OfflineRun:
    stack: str
    config: StackConfig
    resources: list[Declared]
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_token: str) -> list[Declared]:
        return [r for r in self.resources if r.type == type_token]

    def named(self, name: str) -> Declared:
        return next(r for r in self.resources if r.name == name)

    def children_of(self, urn: str) -> list[Declared]:
        return [r for r in self.resources if r.parent == urn]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.resources:
            counts[r.type] = counts.get(r.type, 0) + 1
        return dict(sorted(counts.items()))


def reveal(value: Any) -> Any:
    """The value with every Secret marker removed."""
    if isinstance(value, Secret):
        return reveal(value.value)
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def _from_rpc(value: Any) -> Any:
    if rpc.is_rpc_secret(value):
        return Secret(_from_rpc(rpc.unwrap_rpc_secret(value)))
    if isinstance(value, dict):
        return {k: _from_rpc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_rpc(v) for v in value]
    if isinstance(value, pulumi.Asset | pulumi.Archive):
        return repr(value)
    return value


def _fake(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


class RecordingMocks(pulumi.runtime.Mocks):
    """Echo inputs as outputs, filling in what real providers compute."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ == "docker:index/container:Container":
            if not state.get("name"):
                state["name"] = f"{args.name}-{_fake(args.name)[:7]}"  # the provider's autoname
            for port in state.get("ports") or []:
                if not port.get("external"):  # Docker picks a free port
                    port["external"] = 30000 + int(_fake(f"{args.name}:{port.get('internal')}")[:6], 16) % 20000
        if args.typ == "docker:index/remoteImage:RemoteImage":
            state["imageId"] = f"sha256:{_fake(str(state.get('name')))}"
            state["repoDigest"] = f"{state.get('name')}@sha256:{_fake('digest' + str(state.get('name')))}"
        if args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = _fake(f"password:{args.name}")[: int(state.get("length", 32))]
        if args.typ.startswith("command:") and "stdout" not in state:
            port_slot = re.match(r"for port in (\d+) ", str(state.get("create", "")))
            if port_slot:  # an app replica's port slot (components/app_tier.py): both free, the first
                state["stdout"] = port_slot.group(1) + "\n"
            else:
                state["stdout"] = "-----BEGIN CERTIFICATE REQUEST-----\nMOCK\n-----END CERTIFICATE REQUEST-----\n"
        if args.typ == "cloudflare:index/originCaCertificate:OriginCaCertificate":
            state["certificate"] = "-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n"
        if args.typ == "docker:index/network:Network":
            state.setdefault("name", args.name)
            if not state.get("ipamConfigs"):  # Docker picks a subnet from its pools, as here
                octet = 18 + int(_fake(f"subnet:{args.name}")[:4], 16) % 200
                state["ipamConfigs"] = [{"subnet": f"172.{octet}.0.0/16", "gateway": f"172.{octet}.0.1"}]
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.declared: list[Declared] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = _from_rpc(rpc.deserialize_properties(request.object, keep_unknowns=True))
            self.declared.append(
                Declared(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent,
                    custom=request.custom,
                    provider=request.provider,
                    protect=bool(request.protect),
                    delete_before_replace=bool(request.deleteBeforeReplace),
                    retain_on_delete=bool(request.retainOnDelete),
                    dependencies=list(request.dependencies),
                    inputs=inputs,
                )
            )
        return response


async def _resolve(value: Any) -> Any:
    if isinstance(value, pulumi.Output):
        inner = await value.future(with_unknowns=True)
        resolved = await _resolve(inner)
        return Secret(resolved) if await value.is_secret() else resolved
    if isinstance(value, dict):
        return {k: await _resolve(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [await _resolve(v) for v in value]
    return value


def engine_config(raw: Mapping[str, Any]) -> dict[str, str]:
    """Config as the engine passes it: strings, structured values as JSON."""
    import json

    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}


def run_program(
    stack: str,
    program: Callable[[], Any],
    *,
    raw: Mapping[str, Any] | None = None,
    secret_keys: set[str] | None = None,
) -> tuple[list[Declared], Any]:
    """Run any Pulumi program under recording mocks; return what it declared and returned."""
    monitor = RecordingMonitor(RecordingMocks())
    pulumi.runtime.set_mocks(RecordingMocks(), project=PROJECT, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(engine_config(raw or {}), sorted(secret_keys or set()))
    holder: dict[str, Any] = {}

    async def body() -> None:
        holder["result"] = await _resolve(program())

    _sync_await(run_pulumi_func(body))
    return monitor.declared, holder.get("result")


def run_offline(
    stack: str,
    *,
    raw: Mapping[str, Any] | None = None,
    secret_keys: set[str] | None = None,
    project_dir: Path = PROJECT_DIR,
    image_source: str | None = None,
) -> OfflineRun:
    """Validate a stack's config (file or given) and declare it under mocks; `image_source`
    sets webstack:imageSource over the file's."""
    from components.stack import build_stack

    if raw is None:
        raw, file_secrets = read_stack_file(stack, project_dir)
        secret_keys = file_secrets if secret_keys is None else secret_keys
    if image_source is not None:
        raw = {**raw, "webstack:imageSource": image_source}
    config = load_stack_config(stack, raw, secret_keys or set(), placeholder_secrets=True)
    declared, outputs = run_program(stack, lambda: build_stack(config, stack), raw=raw, secret_keys=secret_keys)
    return OfflineRun(stack=stack, config=config, resources=declared, outputs=outputs or {})
