"""The capacity report of a stack: every host's figures, the monthly cost, and what does not fit.

`capacity_report(config)` is what the config loader checks before any resource is declared
(its `problems()`), what the stack exports (the outputs `capacity` and `monthlyCost`), and
what the offline plan and tools/capacity.py print (text.py). On platform kubernetes there
are no hosts: the cluster schedules every part, and the docker-only keys of
`webstack:capacity` are refused. Pure: no Pulumi import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from components.capacity.cost import MonthlyCost
from components.capacity.hosts import NAMESPACE, HostCapacity, host_size
from components.capacity.placement import placements
from components.config.capacity import CapacityConfig

if TYPE_CHECKING:
    from components.config import StackConfig


@dataclass(frozen=True)
class CapacityReport:
    hosts: tuple[HostCapacity, ...]
    cost: MonthlyCost
    price_problems: tuple[tuple[str, str], ...] = ()
    platform_problems: tuple[tuple[str, str], ...] = ()

    def problems(self) -> list[tuple[str, str]]:
        found = [*self.platform_problems, *self.price_problems]
        for host in self.hosts:
            found += host.problems()
        return found

    def capacity_output(self) -> dict[str, Any]:
        return {h.name: h.output() for h in self.hosts}

    def cost_output(self) -> dict[str, Any]:
        return self.cost.output()


_DOCKER_ONLY = ("cpu_overcommit", "reserve", "database_dump_gb", "monthly_budget")


def capacity_report(config: StackConfig) -> CapacityReport:
    """Every host's placed and available figures, the monthly cost, and what does not fit."""
    capacity = config.capacity
    currency = capacity.currency
    if config.platform != "docker":
        problems = tuple(
            (
                f"{NAMESPACE}:capacity.{CapacityConfig.model_fields[field].alias or field}",
                "not used on platform kubernetes (the cluster schedules every part and the program does not know "
                "what its nodes cost); allowed: no such key",
            )
            for field in _DOCKER_ONLY
            if field in capacity.model_fields_set
        )
        return CapacityReport((), MonthlyCost(currency, {}, None, known=False), platform_problems=problems)
    placed = placements(config)
    hosts: list[HostCapacity] = []
    prices: dict[str, float | None] = {}
    price_problems: list[tuple[str, str]] = []
    for index, host in enumerate(config.hosts):
        size = host_size(host, currency)
        hosts.append(HostCapacity(host.name, index, size, tuple(placed[host.name]), capacity))
        if size is None or size.monthly_price is None:
            # This machine costs nothing more; a remote host with no known price is unpriced.
            prices[host.name] = 0.0 if host.connection == "local" and host.monthly_price is None else None
        elif size.currency != currency:
            prices[host.name] = None
            price_problems.append(
                (
                    f"{NAMESPACE}:hosts[{index}].plan",
                    f"plan {size.plan} is priced in {size.currency}, not in the stack's currency {currency} "
                    "(webstack:capacity.currency); allowed: a plan priced in "
                    f"{currency}, or the host's own monthlyPrice in {currency}",
                )
            )
        else:
            prices[host.name] = size.monthly_price
    cost = MonthlyCost(currency, prices, capacity.monthly_budget)
    return CapacityReport(tuple(hosts), cost, tuple(price_problems))
