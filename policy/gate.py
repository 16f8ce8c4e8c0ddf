"""The offline policy gate: the pack's policies over a mocked run of a stack, no Pulumi CLI.

    python -m policy.gate production                      # policy/config/production.json
    python -m policy.gate local --config policy/config/local.json
    python -m policy.gate staging --json

Runs the program under the recording mocks (tools/offline.py), hands every declared
resource to every policy the way the engine would (engine property names, secrets in
plaintext, props behind the unknown-checking proxy; stack policies get the whole resource
graph with parents and dependencies), honours the stack's pack config (enforcement level
per policy, properties) and prints each violation: level, policy, resource, message.
Exit status: 0 when no mandatory violation, 1 when there is one, 2 when the stack config or
the pack config is invalid or the program fails under the mocks.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from components.config import ConfigError
from components.config.stackfile import PROJECT_DIR, read_stack_file
from tools.offline import Declared, reveal, run_offline

from .packconfig import PackConfigError, PolicySettings, config_path, load, resolve
from .registry import PACK_ENFORCEMENT, POLICIES
from .stack_config import config_source

STACK = "stack"


class ProgramError(Exception):
    """The program itself failed under the mocks (before any policy ran)."""


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str
    resource: str  # "type 'name'", or "stack" for a stack-wide violation
    urn: str
    message: str


def _options(resource: Declared) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=resource.protect,
        ignore_changes=[],
        delete_before_replace=resource.delete_before_replace,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=resource.parent or None,
    )


def engine_props(resource: Declared) -> Any:
    """Inputs as the engine hands them to a policy: plaintext secrets, unknown-checking proxy."""
    return unknown_checking_proxy(reveal(resource.inputs))


def _providers(resources: Sequence[Declared]) -> dict[str, PolicyProviderResource]:
    by_urn = {r.urn: r for r in resources}
    out: dict[str, PolicyProviderResource] = {}
    for r in resources:
        if r.provider:
            urn = r.provider.rsplit("::", 1)[0]
            provider = by_urn.get(urn)
            if provider is not None:
                out[r.provider] = PolicyProviderResource(
                    provider.type, engine_props(provider), provider.urn, provider.name
                )
    return out


def stack_resources(resources: Sequence[Declared]) -> list[PolicyResource]:
    """The resource graph a stack policy gets: parents and dependencies linked."""
    providers = _providers(resources)
    built = {
        r.urn: PolicyResource(
            r.type, engine_props(r), r.urn, r.name, _options(r), providers.get(r.provider), None, [], {}
        )
        for r in resources
    }
    for r in resources:
        resource = built[r.urn]
        resource.parent = built.get(r.parent)
        resource.dependencies = [built[d] for d in r.dependencies if d in built]
    return list(built.values())


def evaluate(
    resources: Sequence[Declared],
    settings: Mapping[str, PolicySettings],
    *,
    stack_config: tuple[Mapping[str, Any], Collection[str]] | None = None,
    policies: Sequence[Policy] = POLICIES,
) -> list[Violation]:
    """Every violation the policies report on these resources under these settings."""
    violations: list[Violation] = []
    by_urn = {r.urn: r for r in resources}
    providers = _providers(resources)

    def collector(policy: Policy, level: str, default: Declared | None) -> Any:
        def report(message: str, urn: str | None = None) -> None:
            target = by_urn.get(urn) if urn else default
            label = f"{target.type} '{target.name}'" if target is not None else STACK
            violations.append(Violation(policy.name, level, label, target.urn if target else "", message))

        return report

    graph = stack_resources(resources)
    for policy in policies:
        setting = settings.get(policy.name, PolicySettings(PACK_ENFORCEMENT))
        if setting.level == EnforcementLevel.DISABLED:
            continue
        level = EnforcementLevel.MANDATORY if setting.level == EnforcementLevel.REMEDIATE else setting.level
        try:
            if isinstance(policy, ResourceValidationPolicy):
                for resource in resources:
                    args = ResourceValidationArgs(
                        resource.type,
                        engine_props(resource),
                        resource.urn,
                        resource.name,
                        _options(resource),
                        providers.get(resource.provider),
                        dict(setting.properties),
                    )
                    policy.validate(args, collector(policy, level.value, resource))
            elif isinstance(policy, StackValidationPolicy):
                stack_args = StackValidationArgs(graph, dict(setting.properties))
                if stack_config is not None:
                    with config_source(*stack_config):
                        policy.validate(stack_args, collector(policy, level.value, None))
                else:
                    policy.validate(stack_args, collector(policy, level.value, None))
        except UnknownValueError as error:  # the engine turns this into an advisory diagnostic
            violations.append(
                Violation(policy.name, EnforcementLevel.ADVISORY.value, STACK, "", f"can't run policy: {error.message}")
            )
    return violations


@dataclass(frozen=True)
class GateResult:
    stack: str
    config_file: str | None
    resources: int
    violations: list[Violation]

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.level == EnforcementLevel.MANDATORY.value]

    @property
    def passed(self) -> bool:
        return not self.mandatory


def pack_settings(stack: str, path: Path | None = None) -> tuple[dict[str, PolicySettings], Path | None]:
    """The stack's pack config (its policy/config/<stack>.json unless a path is given), resolved."""
    chosen = path if path is not None else config_path(stack)
    document = load(chosen) if chosen.is_file() else {}
    if path is not None and not chosen.is_file():
        raise PackConfigError(f"no pack config at {chosen}")
    return resolve(POLICIES, document, PACK_ENFORCEMENT), chosen if chosen.is_file() else None


def run_gate(
    stack: str,
    *,
    config: Path | None = None,
    raw: Mapping[str, Any] | None = None,
    secret_keys: set[str] | None = None,
) -> GateResult:
    """Run the program of a stack under mocks (its stack file, or the given raw config) and the pack over it."""
    settings, used = pack_settings(stack, config)
    if raw is None:
        raw, secret_keys = read_stack_file(stack)
    keys = set(secret_keys or set())
    try:
        run = run_offline(stack, raw=raw, secret_keys=keys)
    except ConfigError:
        raise
    except Exception as error:
        raise ProgramError(
            f"the program of stack {stack!r} failed under mocks: {type(error).__name__}: {error}"
        ) from error
    violations = evaluate(run.resources, settings, stack_config=(raw, keys))
    shown = None
    if used is not None:
        shown = str(used.relative_to(PROJECT_DIR)) if used.is_relative_to(PROJECT_DIR) else str(used)
    return GateResult(stack, shown, len(run.resources), violations)


def render(result: GateResult) -> str:
    lines = [
        f"policy gate: stack {result.stack}, {result.resources} resources, {len(POLICIES)} policies "
        f"(pack config: {result.config_file or 'none, every policy mandatory'})"
    ]
    for v in result.violations:
        # Messages name their resource already; the stack-wide ones get it prefixed.
        text = v.message if v.message.startswith(v.resource) else f"{v.resource}: {v.message}"
        lines.append(f"[{v.level}] {v.policy}: {text}")
    advisory = len(result.violations) - len(result.mandatory)
    verdict = "PASS" if result.passed else "FAIL"
    lines.append(f"{verdict}: {len(result.mandatory)} mandatory, {advisory} advisory violation(s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack", help="local, staging or production (a Pulumi.<stack>.yaml)")
    parser.add_argument("--config", type=Path, help="pack config JSON (default: policy/config/<stack>.json)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    try:
        result = run_gate(args.stack, config=args.config)
    except (ConfigError, PackConfigError, ProgramError) as error:
        print(error, file=sys.stderr)
        return 2
    except FileNotFoundError as error:
        print(f"no stack file for {args.stack!r}: {error.filename}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({**asdict(result), "passed": result.passed}, indent=2))
    else:
        print(render(result))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
