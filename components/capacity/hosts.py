"""Each host's size and whether what is placed on it fits: pure, no Pulumi import.

A host's size is its `plan` of the catalogue (plans.yaml, beside this module), overridden by
its own figures; `HostCapacity` sums what is placed on it (placement.py) and compares that
with the size less the reserve for the OS and Docker (`webstack:capacity.reserve`):

- memory: every container's memory limit at a deploy's peak (the app replicas are replaced
  start-before-stop, so a roll runs each one twice for a moment);
- CPUs: every container's CPU limit (the app replicas'; the infrastructure containers have
  none, and the host's CPU reserve stands for them), against the CPUs times `cpuOvercommit`;
- disk: the estimates of what the containers keep on the host, and their rotated logs.

Over on any of them is a problem, keyed by the host's entry in `webstack:hosts`. A host
without a size (a `connection: local` host that declares none: this machine) is not checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from components.capacity.placement import Placement
from components.config.capacity import CapacityConfig, load_catalogue

if TYPE_CHECKING:
    from components.config import HostConfig

NAMESPACE = "webstack"


def figure(value: float) -> str:
    """A figure as the messages and the text print it: at most two decimals, no trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _listing(items: list[Placement], unit: str, amount: Callable[[Placement], Any]) -> str:
    return ", ".join(f"{p.name} {figure(amount(p))} {unit}" for p in items)


@dataclass(frozen=True)
class HostSize:
    cpus: float
    memory_mb: int
    disk_gb: int
    monthly_price: float | None
    currency: str | None
    plan: str | None

    def describe(self) -> str:
        what = f"plan {self.plan}" if self.plan else "its own size"
        return f"{what}: {figure(self.cpus)} vCPU, {self.memory_mb} MB memory, {self.disk_gb} GB disk"


def host_size(host: HostConfig, currency: str) -> HostSize | None:
    """A host's size and price: its plan's figures, overridden by its own; None when it has neither."""
    plan = load_catalogue().plans[host.plan] if host.plan is not None else None
    if plan is None and host.cpus is None:
        return None
    cpus = host.cpus if host.cpus is not None else plan.cpus if plan else None
    memory = host.memory_mb if host.memory_mb is not None else plan.memory_mb if plan else None
    disk = host.disk_gb if host.disk_gb is not None else plan.disk_gb if plan else None
    assert cpus is not None and memory is not None and disk is not None  # validated: together, or a plan
    price: float | None = None
    price_currency: str | None = None
    if host.monthly_price is not None:
        price, price_currency = host.monthly_price, currency
    elif plan is not None:
        price, price_currency = plan.monthly_price, plan.currency
    return HostSize(cpus, memory, disk, price, price_currency, host.plan)


@dataclass(frozen=True)
class HostCapacity:
    """One host: what is placed on it and what it has."""

    name: str
    index: int  # in webstack:hosts
    size: HostSize | None
    placed: tuple[Placement, ...]
    capacity: CapacityConfig

    @property
    def checked(self) -> bool:
        return self.size is not None

    @property
    def memory_mb(self) -> int:
        return sum(p.memory_mb for p in self.placed)

    @property
    def memory_peak_mb(self) -> int:
        """Memory during a deploy: every app replica's successor running beside it."""
        return self.memory_mb + sum(p.memory_mb for p in self.placed if p.rolls)

    @property
    def cpus(self) -> float:
        return sum(p.cpus for p in self.placed if p.cpus is not None)

    @property
    def disk_gb(self) -> float:
        return sum(p.disk_gb for p in self.placed)

    @property
    def available_memory_mb(self) -> int | None:
        return None if self.size is None else self.size.memory_mb - self.capacity.reserve.memory_mb

    @property
    def available_cpus(self) -> float | None:
        if self.size is None:
            return None
        return max(0.0, self.size.cpus - self.capacity.reserve.cpus) * self.capacity.cpu_overcommit

    @property
    def available_disk_gb(self) -> int | None:
        return None if self.size is None else self.size.disk_gb - self.capacity.reserve.disk_gb

    def problems(self) -> list[tuple[str, str]]:
        """(key, detail) for each resource the host is over on."""
        if self.size is None:
            return []
        key = f"{NAMESPACE}:hosts[{self.index}]"
        reserve = self.capacity.reserve
        out: list[tuple[str, str]] = []
        memory_available = self.available_memory_mb
        assert memory_available is not None
        if self.memory_peak_mb > memory_available:
            rolling = [p for p in self.placed if p.rolls]
            during = ""
            if rolling:
                extra = self.memory_peak_mb - self.memory_mb
                during = f"; a deploy starts each app replica's successor beside it: +{extra} MB"
            out.append(
                (
                    key,
                    f"host {self.name!r} ({self.size.describe()}) is over its memory by "
                    f"{self.memory_peak_mb - memory_available} MB: {self.memory_peak_mb} MB placed at a deploy's peak, "
                    f"{memory_available} MB available ({self.size.memory_mb} MB less {reserve.memory_mb} MB for the OS "
                    f"and Docker); on it: {_listing(list(self.placed), 'MB', lambda p: p.memory_mb)}{during}; "
                    f"allowed: at most {memory_available} MB: fewer or smaller containers on it (services.<name>."
                    "replicas, memoryMb or hosts; redis.maxmemoryMb; the hosts Redis, monitoring and backup run on), "
                    "a plan with more memory, or another host",
                )
            )
        disk_available = self.available_disk_gb
        assert disk_available is not None
        if self.disk_gb > disk_available:
            out.append(
                (
                    key,
                    f"host {self.name!r} ({self.size.describe()}) is over its disk by "
                    f"{figure(self.disk_gb - disk_available)} GB: {figure(self.disk_gb)} GB placed (estimated), "
                    f"{disk_available} GB available ({self.size.disk_gb} GB less {reserve.disk_gb} GB for the OS, "
                    f"Docker and its images); on it: {_listing(list(self.placed), 'GB', lambda p: p.disk_gb)}; "
                    f"allowed: at most {disk_available} GB: a shorter monitoring.retentionDays, a smaller "
                    "redis.maxmemoryMb or capacity.databaseDumpGb, a plan with more disk, or another host",
                )
            )
        cpus_available = self.available_cpus
        assert cpus_available is not None
        if self.cpus > cpus_available + 1e-9:
            limited = [p for p in self.placed if p.cpus is not None]
            out.append(
                (
                    key,
                    f"host {self.name!r} ({self.size.describe()}) is over its CPUs by "
                    f"{figure(self.cpus - cpus_available)}: CPU limits of {figure(self.cpus)} placed, "
                    f"{figure(cpus_available)} available (({figure(self.size.cpus)} vCPU less {figure(reserve.cpus)} "
                    f"reserved) x capacity.cpuOvercommit {figure(self.capacity.cpu_overcommit)}); on it: "
                    f"{_listing(limited, 'CPU', lambda p: p.cpus)}; allowed: at most {figure(cpus_available)}: fewer "
                    "replicas or smaller services.<name>.cpus on it, a plan with more vCPUs, another host, or a "
                    "higher capacity.cpuOvercommit",
                )
            )
        return out

    def output(self) -> dict[str, Any]:
        return {
            "plan": self.size.plan if self.size else None,
            "checked": self.checked,
            "placed": {
                "memoryMb": self.memory_mb,
                "memoryPeakMb": self.memory_peak_mb,
                "cpus": round(float(self.cpus), 2),
                "diskGb": round(self.disk_gb, 1),
            },
            "available": (
                {
                    "memoryMb": self.available_memory_mb,
                    "cpus": round(float(self.available_cpus or 0.0), 2),
                    "diskGb": self.available_disk_gb,
                }
                if self.checked
                else None
            ),
            "containers": [p.name for p in self.placed],
        }
