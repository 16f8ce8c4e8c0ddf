"""What the hosts cost a month: pure, no Pulumi import.

`MonthlyCost` is the hosts' monthly prices in the stack's currency (`webstack:capacity.currency`),
their total, and the budget the policy `monthly-budget` holds it to (policy/cost_rules.py).
Sums are taken in cents, so that the total is what the prices add up to on an invoice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


def _cents(value: float) -> int:
    return round(value * 100)


@dataclass(frozen=True)
class MonthlyCost:
    currency: str
    hosts: dict[str, float | None]  # None: no price known
    budget: float | None
    known: bool = True  # False on platform kubernetes: the program does not know the cluster's cost

    @property
    def unpriced(self) -> list[str]:
        return [name for name, price in self.hosts.items() if price is None]

    @property
    def total(self) -> float | None:
        if not self.known:
            return None
        return sum(_cents(p) for p in self.hosts.values() if p is not None) / 100

    @property
    def over_budget(self) -> float | None:
        """By how much the total exceeds the budget (None: within it, or no budget or total)."""
        total = self.total
        if self.budget is None or total is None or _cents(total) <= _cents(self.budget):
            return None
        return (_cents(total) - _cents(self.budget)) / 100

    def with_budget(self, budget: float | None) -> MonthlyCost:
        return replace(self, budget=budget)

    def output(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "hosts": dict(self.hosts),
            "total": self.total,
            "budget": self.budget,
            "unpriced": self.unpriced,
        }

    def describe(self) -> str:
        parts = " + ".join(f"{name} {'unpriced' if p is None else f'{p:.2f}'}" for name, p in self.hosts.items())
        return f"{parts} = {self.total:.2f} {self.currency}" if self.total is not None else parts
