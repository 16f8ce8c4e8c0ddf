"""Capacity and monthly cost of a stack, from its stack file alone (no Pulumi, no mocks).

    python -m tools.capacity production                 # per host: placed / available; the cost
    python -m tools.capacity production --json          # {stack, capacity, monthlyCost}
    python -m tools.capacity production --base base.json --markdown
                                                        # against another checkout's --json

The figures are the stack outputs `capacity` and `monthlyCost` (components/capacity/),
computed from the validated config exactly as the program does before declaring anything.
`--base` compares with the `--json` of another checkout (the pull request workflow runs the
base branch's own code on its own stack file, then this on the head): `--markdown` is the
comment it posts. Exit status: 0; 2 when the stack config is invalid (a host that does not
fit is an invalid config: the message names it) or there is no such stack file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from components.capacity import CapacityReport, capacity_report, render_text
from components.config.stackfile import LOAD_ERRORS, load_error_message, read_stack_file
from components.load import load_stack_config

COMMENT_MARKER = "<!-- webstack-capacity:{stack} -->"


def report_of(stack: str) -> CapacityReport:
    """The capacity report of a stack file, from its validated config (ConfigError when invalid)."""
    raw, secret_keys = read_stack_file(stack)
    return capacity_report(load_stack_config(stack, raw, secret_keys, placeholder_secrets=True))


def figures(stack: str, report: CapacityReport) -> dict[str, Any]:
    """The stack's `capacity` and `monthlyCost`, as the program exports them."""
    return {"stack": stack, "capacity": report.capacity_output(), "monthlyCost": report.cost_output()}


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.2f}"


def _delta(now: float | None, before: float | None, unit: str = "", digits: int = 0) -> str:
    if now is None or before is None or round(now - before, 2) == 0:
        return ""
    change = now - before
    text = f"{change:+.{digits}f}" if digits else f"{round(change):+d}"
    return f" ({text}{unit})"


def _figure(host: dict[str, Any], base: dict[str, Any] | None, placed: str, available: str, digits: int) -> str:
    now = host["placed"][placed]
    before = base["placed"][placed] if base else None
    shown = f"{now:.{digits}f}" if digits else f"{now}"
    limit = host["available"][available] if host.get("available") else None
    text = f"{shown} / {limit}" if limit is not None else f"{shown} (not checked)"
    return text + _delta(now, before, digits=digits)


def markdown(head: dict[str, Any], base: dict[str, Any]) -> str:
    """The pull request comment: each host's figures and the cost, with changes against the base."""
    stack = head["stack"]
    cost, base_cost = head["monthlyCost"], base.get("monthlyCost")
    lines = [COMMENT_MARKER.format(stack=stack), f"### Capacity and monthly cost: `{stack}`", ""]
    total = cost["total"]
    text = f"Monthly cost: **{_money(total)} {cost['currency']}**"
    if base_cost is None:
        text += " (the base branch reports no cost)"
    else:
        before = base_cost.get("total")
        change = _delta(total, before, digits=2).strip(" ()")
        text += (
            f" (base: {_money(before)} {base_cost.get('currency', cost['currency'])}{', ' + change if change else ''})"
        )
    budget = cost["budget"]
    if budget is not None and total is not None:
        left = round(budget - total, 2)
        verdict = f"within it ({left:.2f} left)" if left >= 0 else f"**over it by {-left:.2f}**"
        text += f"; budget {budget:.2f}: {verdict}"
    elif budget is None:
        text += "; no budget (`webstack:capacity.monthlyBudget`)"
    if cost["unpriced"]:
        text += f"; unpriced: {', '.join(cost['unpriced'])}"
    lines += [text, ""]
    if not head["capacity"] and not (base.get("capacity") or {}):
        lines.append("No hosts (platform kubernetes: the cluster schedules every part).")
        return "\n".join(lines) + "\n"
    lines += [
        "| host | plan | memory MB at a deploy's peak / available | CPU limits / available | disk GB (estimated) / available | per month |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    base_hosts: dict[str, Any] = base.get("capacity") or {}
    base_prices: dict[str, Any] = (base_cost or {}).get("hosts") or {}
    for name, host in head["capacity"].items():
        before = base_hosts.get(name)
        label = name if before is not None or not base_hosts else f"{name} (new)"
        plan = host["plan"] or ("own size" if host["checked"] else "none")
        if before is not None and before.get("plan") != host["plan"]:
            plan += f" (was {before.get('plan') or 'none'})"
        price = cost["hosts"].get(name)
        lines.append(
            f"| {label} | {plan} | {_figure(host, before, 'memoryPeakMb', 'memoryMb', 0)} | "
            f"{_figure(host, before, 'cpus', 'cpus', 2)} | {_figure(host, before, 'diskGb', 'diskGb', 1)} | "
            f"{_money(price)}{_delta(price, base_prices.get(name), digits=2)} |"
        )
    for name in base_hosts:
        if name not in head["capacity"]:
            price = base_prices.get(name)
            lines.append(f"| ~~{name}~~ (removed) | | | | | {'-' + _money(price) if price else ''} |")
    lines += [
        "",
        "Placed: memory limits (app replicas twice: a deploy starts each successor beside it), CPU limits, "
        "disk estimates; available: the host's size less the reserve for the OS and Docker "
        "(`docs/capacity.md`).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack", help="stack name: local, staging, production (a Pulumi.<stack>.yaml)")
    parser.add_argument("--json", action="store_true", help="print {stack, capacity, monthlyCost} as JSON")
    parser.add_argument("--base", type=Path, help="another checkout's --json to compare with ({} or no file: none)")
    parser.add_argument("--markdown", action="store_true", help="print the comparison as a pull request comment")
    args = parser.parse_args(argv)
    try:
        report = report_of(args.stack)
    except LOAD_ERRORS as error:
        print(load_error_message(args.stack, error), file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(figures(args.stack, report), indent=2))
    elif args.markdown:
        base: dict[str, Any] = {}
        if args.base is not None and args.base.is_file() and args.base.read_text().strip():
            base = json.loads(args.base.read_text())
        print(markdown(figures(args.stack, report), base), end="")
    else:
        print(render_text(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
