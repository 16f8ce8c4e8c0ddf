"""monthly-budget: the hosts' monthly cost against the stack's budget (stack config or pack config)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from components.config.stackfile import read_stack_file
from policy.cost_rules import monthly_budget
from policy.gate import run_gate
from policy.stack_config import config_source
from tests.policy.helpers import Reports, stack_args


def run_policy(stack: str, edit: Any = None, *, pack: dict[str, Any] | None = None) -> Reports:
    raw, secret_keys = read_stack_file(stack)
    raw = copy.deepcopy(raw)
    if edit is not None:
        edit(raw)
    reports = Reports()
    with config_source(raw, secret_keys):
        monthly_budget(stack_args([], config=pack or {}), reports)
    return reports


def budget(value: float | None) -> Any:
    def edit(raw: dict[str, Any]) -> None:
        raw["webstack:capacity"] = {} if value is None else {"monthlyBudget": value}

    return edit


@pytest.mark.parametrize("stack", ["local", "staging", "production", "production-k8s"])
def test_every_stack_file_is_within_its_budget(stack: str) -> None:
    assert not run_policy(stack)


def test_over_the_stack_budget_names_the_cost_the_budget_and_the_overrun() -> None:
    # seed 000's high-scale estimate tops out at five Business VPS, 149.95 a month.
    reports = run_policy("production", budget(149.95))
    (message,) = reports.messages
    assert "= 179.94 USD a month, 29.99 over the budget of 149.95 USD (webstack:capacity.monthlyBudget)" in message
    assert "edge-1 29.99" in message and "raised in the same pull request" in message


def test_exactly_the_budget_passes() -> None:
    assert not run_policy("production", budget(179.94))
    assert run_policy("production", budget(179.93))


def test_the_pack_configs_budget_applies_and_the_lower_wins() -> None:
    reports = run_policy("production", pack={"monthlyBudget": 150})
    assert "over the budget of 150.00 USD (the pack config's monthlyBudget)" in reports.text()
    assert not run_policy("production", budget(None), pack={"monthlyBudget": 200})
    reports = run_policy("production", budget(100), pack={"monthlyBudget": 150})
    assert "79.94 over the budget of 100.00 USD (webstack:capacity.monthlyBudget)" in reports.text()


def test_no_budget_no_check() -> None:
    def expensive(raw: dict[str, Any]) -> None:
        raw["webstack:capacity"] = {}
        for host in raw["webstack:hosts"]:
            host["plan"] = "hostinger-enterprise"

    assert not run_policy("production", expensive)


def test_an_unpriced_host_under_a_budget_is_reported() -> None:
    def ovh(raw: dict[str, Any]) -> None:
        raw["webstack:hosts"][5]["plan"] = "ovh-seed004-current"

    reports = run_policy("production", ovh)
    assert "hosts monitor-1 have no known monthly price" in reports.text()

    def ovh_without_a_budget(raw: dict[str, Any]) -> None:
        ovh(raw)
        budget(None)(raw)

    assert not run_policy("production", ovh_without_a_budget)


def test_a_budget_for_a_kubernetes_stack_cannot_be_held() -> None:
    reports = run_policy("production-k8s", pack={"monthlyBudget": 500})
    assert "does not know what the cluster's nodes cost" in reports.text()


def test_engine_json_values_are_read_like_the_program_reads_them() -> None:
    raw, secret_keys = read_stack_file("production")
    engine = {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}
    engine["webstack:capacity"] = json.dumps({"monthlyBudget": 100})
    reports = Reports()
    with config_source(engine, secret_keys):
        monthly_budget(stack_args([]), reports)
    assert "over the budget of 100.00 USD" in reports.text()


def test_the_offline_gate_fails_a_stack_over_its_budget() -> None:
    raw, secret_keys = read_stack_file("production")
    raw = copy.deepcopy(raw)
    budget(149.95)(raw)
    result = run_gate("production", raw=raw, secret_keys=set(secret_keys))
    assert not result.passed
    assert [v.policy for v in result.mandatory] == ["monthly-budget"]
