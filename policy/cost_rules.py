"""Cost: what a stack's hosts cost a month stays within its budget.

The cost is the program's own figure (components/capacity/, the `monthlyCost` output):
each host's plan price from the catalogue (components/capacity/plans.yaml) or its own
`monthlyPrice`, summed, read from the stack's config the way the program reads it. A
preview or an update sees the config the engine hands the pack; the offline gate passes
the config it ran with (policy/stack_config.py).
"""

from __future__ import annotations

import os

from pulumi_policy import ReportViolation, StackValidationArgs

from components.capacity import capacity_report
from components.config import ConfigError
from components.config.values import decode_config_value
from components.load import load_stack_config

from .common import Schema, settings
from .stack_config import current_stack_config

BUDGET_SCHEMA: Schema = {
    "monthlyBudget": {
        "type": "number",
        "minimum": 0,
        "description": "A monthly budget for the stack's hosts, in the stack's currency (webstack:capacity.currency, "
        "USD by default), set by whoever owns the pack config; when the stack config sets one too "
        "(webstack:capacity.monthlyBudget) the lower applies. No default: with neither, nothing is checked.",
    }
}


def monthly_budget(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """The hosts' monthly cost (each host's plan price from the catalogue, or its own monthlyPrice)
    is within the stack's budget (webstack:capacity.monthlyBudget, or this policy's monthlyBudget;
    the lower when both are set), and every host has a known price when there is a budget."""
    source = current_stack_config()
    if source is None:
        return
    raw, secret_keys = source
    pack_budget = settings(args.get_config(), BUDGET_SCHEMA)["monthlyBudget"]
    capacity = decode_config_value(raw.get("webstack:capacity"))
    if pack_budget is None and not (isinstance(capacity, dict) and capacity.get("monthlyBudget") is not None):
        return  # no budget anywhere: nothing to hold the cost to
    stack = os.environ.get("PULUMI_STACK", "").rsplit("/", 1)[-1] or "stack"
    try:
        config = load_stack_config(stack, raw, secret_keys, placeholder_secrets=True)
    except ConfigError as error:
        report_violation(f"stack config: cannot compute the monthly cost, the config is invalid: {error}", None)
        return
    cost = capacity_report(config).cost
    budgets = {
        "webstack:capacity.monthlyBudget": cost.budget,
        "the pack config's monthlyBudget": pack_budget,
    }
    given = {where: float(value) for where, value in budgets.items() if value is not None}
    if not given:
        return
    where, budget = min(given.items(), key=lambda item: item[1])
    fix = (
        "fix: fewer or smaller hosts (webstack:hosts[].plan), or a budget that covers them (" + where + ") "
        "raised in the same pull request"
    )
    if not cost.known:
        report_violation(
            f"stack config: a monthly budget of {budget:.2f} {cost.currency} ({where}) is set, but the program does "
            "not know what the cluster's nodes cost (platform kubernetes); fix: remove the budget.",
            None,
        )
        return
    if cost.unpriced:
        report_violation(
            f"stack config: hosts {', '.join(cost.unpriced)} have no known monthly price, so the cost cannot be held "
            f"to the budget of {budget:.2f} {cost.currency} ({where}); fix: a plan with a price in "
            f"components/capacity/plans.yaml, or the host's own monthlyPrice.",
            None,
        )
        return
    over = cost.with_budget(budget).over_budget
    if over is not None:
        report_violation(
            f"stack config: the hosts cost {cost.describe()} a month, {over:.2f} over the budget of {budget:.2f} "
            f"{cost.currency} ({where}); {fix}.",
            None,
        )
