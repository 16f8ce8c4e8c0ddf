"""Capacity and cost config: the plan catalogue, a host's size and price, `webstack:capacity`.

Pure: no Pulumi import. The catalogue (`components/capacity/plans.yaml`) lists the VPS plans
a host may name as its `plan`; a host may instead (or on top, overriding the plan's figures)
give its own `cpus`, `memoryMb`, `diskGb` and `monthlyPrice`. `webstack:capacity` holds what the
check and the cost report need besides: the reserve for the OS and Docker, how far CPU
limits may exceed the CPUs, the size of a database dump, the currency and the budget.
What is placed on each host, and whether it fits, is computed in `components.capacity`.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

CATALOGUE_FILE = Path(__file__).resolve().parents[1] / "capacity" / "plans.yaml"

PlanName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]  # ISO 4217
Cpus = Annotated[float, Field(gt=0, le=1024)]
MemoryMb = Annotated[int, Field(ge=256, le=16_777_216)]
DiskGb = Annotated[int, Field(ge=1, le=1_048_576)]
Price = Annotated[float, Field(ge=0, le=1_000_000)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


class Plan(_Model):
    """One VPS plan of a provider, with where its figures come from."""

    provider: Annotated[str, Field(min_length=1)]
    product: Annotated[str, Field(min_length=1)] | None  # the provider's own name; None when the source has none
    cpus: Cpus
    memory_mb: MemoryMb
    disk_gb: DiskGb
    monthly_price: Price | None  # None: the source gives no price
    currency: Currency | None = None  # required with a price
    price_source: Annotated[str, Field(min_length=10)]
    price_date: datetime.date | None  # the day the figures were read from their source

    @model_validator(mode="after")
    def _priced(self) -> Plan:
        if self.monthly_price is not None and (self.currency is None or self.price_date is None):
            raise ValueError("a plan with a monthlyPrice needs its currency and priceDate")
        return self


class PlanCatalogue(_Model):
    plans: Annotated[dict[PlanName, Plan], Field(min_length=1)]


class CatalogueError(Exception):
    """The catalogue file itself is broken: a mistake in the repository, not in a stack."""


@functools.cache
def load_catalogue(path: Path = CATALOGUE_FILE) -> PlanCatalogue:
    """The plan catalogue, validated (once per path)."""
    try:
        document = yaml.safe_load(path.read_text())
        return PlanCatalogue.model_validate(document)
    except (OSError, yaml.YAMLError, ValidationError) as error:
        raise CatalogueError(f"the plan catalogue {path} is invalid: {error}") from None


def plan_names() -> list[str]:
    return sorted(load_catalogue().plans)


def plan_problem(plan: str) -> str | None:
    """Why a host's `plan` is not usable (None: it is in the catalogue)."""
    if plan in load_catalogue().plans:
        return None
    return f"plan {plan!r} is not in the catalogue (components/capacity/plans.yaml); allowed: {', '.join(plan_names())}"


class SizedHost(Protocol):
    """The size fields of a host (components.config.HostConfig)."""

    @property
    def name(self) -> str: ...
    @property
    def connection(self) -> str: ...
    @property
    def plan(self) -> str | None: ...
    @property
    def cpus(self) -> float | None: ...
    @property
    def memory_mb(self) -> int | None: ...
    @property
    def disk_gb(self) -> int | None: ...
    @property
    def monthly_price(self) -> float | None: ...


def host_size_problems(hosts: Sequence[SizedHost]) -> list[tuple[str, str]]:
    """(key under webstack:, detail) for each host whose size fields do not make a size.

    Own figures override the plan's (a host on a plan at a negotiated price gives its
    `monthlyPrice`). Without a plan, `cpus`, `memoryMb` and `diskGb` come together. An ssh
    host needs a size (it is checked against it); a local one may go without (this machine).
    """
    problems: list[tuple[str, str]] = []
    for i, host in enumerate(hosts):
        own = {"cpus": host.cpus, "memoryMb": host.memory_mb, "diskGb": host.disk_gb}
        given = [k for k, v in own.items() if v is not None]
        if host.plan is None and given and len(given) < len(own):
            for missing in (k for k in own if k not in given):
                problems.append(
                    (
                        f"hosts[{i}].{missing}",
                        f"missing; a host without a plan gives cpus, memoryMb and diskGb together (host {host.name!r} "
                        f"gives {', '.join(given)})",
                    )
                )
        elif host.plan is None and not given and host.monthly_price is not None:
            problems.append(
                (
                    f"hosts[{i}].plan",
                    f"missing; host {host.name!r} gives a monthlyPrice without a size: a plan "
                    f"({', '.join(plan_names())}), or cpus, memoryMb and diskGb",
                )
            )
        elif host.connection == "ssh" and host.plan is None and not given:
            problems.append(
                (
                    f"hosts[{i}].plan",
                    f"missing; required for an ssh host, which is checked against what it has: a plan "
                    f"({', '.join(plan_names())}), or cpus, memoryMb and diskGb (host {host.name!r})",
                )
            )
    return problems


class ReserveConfig(_Model):
    """What each host keeps for the OS, Docker and the containers that have no CPU limit."""

    memory_mb: Annotated[int, Field(ge=0, le=1_048_576)] = 1024
    disk_gb: Annotated[int, Field(ge=0, le=1_048_576)] = 20
    cpus: Annotated[float, Field(ge=0, le=1024)] = 1.0


class CapacityConfig(_Model):
    """`webstack:capacity`: how the capacity check counts, and the monthly budget."""

    # CPU limits of the containers on a host may add up to this many times its CPUs (after the reserve).
    cpu_overcommit: Annotated[float, Field(ge=0.1, le=16)] = 1.0
    reserve: ReserveConfig = ReserveConfig()
    # The database dump the backup writes on its host before restic takes it (database: postgres or mongodb).
    database_dump_gb: Annotated[int, Field(ge=0, le=1_048_576)] = 10
    currency: Currency = "USD"
    # The stack's monthly budget in `currency`: the policy `monthly-budget` fails a preview over it.
    monthly_budget: Price | None = None
