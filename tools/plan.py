"""Offline plan: run a stack's program under mocks and print its resource tree.

    python -m tools.plan local            # the tree with key inputs, secrets masked
    python -m tools.plan production --json

No engine, no cloud account, no network. Secrets are printed as [secret]; secrets
that are not set (or encrypted in the stack file) use offline placeholders. After the
tree: each host's capacity (placed / available) and the monthly cost, then the outputs.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from components.capacity import capacity_report, render_text
from components.config.stackfile import LOAD_ERRORS, load_error_message
from tools.offline import Declared, OfflineRun, Secret, run_offline

# The inputs worth showing per resource type; the rest is in --json.
KEY_INPUTS: dict[str, tuple[str, ...]] = {
    "docker:index/container:Container": ("name", "image", "ports", "memory", "cpus", "user", "restart"),
    "docker:index/remoteImage:RemoteImage": ("name",),
    "docker:index/volume:Volume": ("name",),
    "docker:index/network:Network": ("name",),
    "pulumi:providers:docker": ("host",),
    "command:remote:Command": ("connection",),
    "command:local:Command": ("create",),
    "random:index/randomPassword:RandomPassword": ("length",),
    "cloudflare:index/dnsRecord:DnsRecord": ("name", "type", "content", "proxied"),
    "cloudflare:index/zoneSetting:ZoneSetting": ("settingId", "value"),
    "cloudflare:index/ruleset:Ruleset": ("phase",),
    "cloudflare:index/originCaCertificate:OriginCaCertificate": ("hostnames", "requestType"),
}


def masked(value: Any) -> Any:
    if isinstance(value, Secret):
        return "[secret]"
    if isinstance(value, float) and value.is_integer():
        return int(value)  # mocks hand numbers back as floats
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def _summary(resource: Declared) -> str:
    keys = KEY_INPUTS.get(resource.type, ())
    parts = []
    for key in keys:
        if key in resource.inputs and resource.inputs[key] not in (None, [], {}):
            value = masked(resource.inputs[key])
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if key == "connection" and isinstance(value, dict):
                value = f"{value.get('user')}@{value.get('host')}"
            if key == "create" and isinstance(value, str):
                value = value.splitlines()[0][:60]
            if key == "ports" and isinstance(value, list):
                value = [f"{p.get('ip')}:{p.get('external') or '*'}->{p.get('internal')}" for p in value]
            parts.append(f"{key}={json.dumps(value) if not isinstance(value, str) else value}")
    flags = [
        f for f, on in (("protect", resource.protect), ("delete-before-replace", resource.delete_before_replace)) if on
    ]
    if any(isinstance(v, Secret) for v in resource.inputs.values()):
        flags.append("secret inputs")
    text = "  ".join(parts)
    return text + (f"  [{', '.join(flags)}]" if flags else "")


def render_tree(run: OfflineRun) -> str:
    lines = [
        f"stack {run.stack} ({run.config.environment}, platform {run.config.platform}): {len(run.resources)} resources"
    ]
    by_parent: dict[str, list[Declared]] = {}
    for r in run.resources:
        by_parent.setdefault(r.parent, []).append(r)
    roots = [r for r in run.resources if not any(p.urn == r.parent for p in run.resources)]

    def walk(resource: Declared, depth: int) -> None:
        short = resource.type.replace(":index/", ":").split(":")
        kind = short[0] + ":" + short[-1] if len(short) > 1 else resource.type
        lines.append(f"{'  ' * depth}{kind} {resource.name}  {_summary(resource)}".rstrip())
        for child in by_parent.get(resource.urn, []):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 1)
    lines.append("counts: " + ", ".join(f"{k}={v}" for k, v in run.counts().items()))
    lines.append(render_text(capacity_report(run.config)))
    lines.append("outputs:")
    for key, value in run.outputs.items():
        lines.append(f"  {key}: {json.dumps(masked(value))}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack", help="stack name: local, staging, production (a Pulumi.<stack>.yaml)")
    parser.add_argument("--json", action="store_true", help="print resources and outputs as JSON")
    args = parser.parse_args(argv)
    try:
        run = run_offline(args.stack)
    except LOAD_ERRORS as error:
        print(load_error_message(args.stack, error), file=sys.stderr)
        return 2
    if args.json:
        document = {
            "stack": run.stack,
            "resources": [
                {"type": r.type, "name": r.name, "parent": r.parent, "protect": r.protect, "inputs": masked(r.inputs)}
                for r in run.resources
            ],
            "outputs": masked(run.outputs),
        }
        print(json.dumps(document, indent=2, default=str))
    else:
        print(render_tree(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
