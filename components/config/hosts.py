"""`webstack:hosts`: the machines of a docker stack, each a VPS over SSH or the local engine.

Pure: no Pulumi import. A host's address (and private address) is an IP address or a DNS
host name; its size and price come from a plan of the catalogue
(components/capacity/plans.yaml) or its own figures (components/config/capacity.py). Names
that must exist and addresses that must be unique across hosts are checked in
components/config/checks.py.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from components.config.base import Model, Name, Port, ip_or_host_name
from components.config.capacity import Cpus, DiskGb, MemoryMb, PlanName, Price, plan_problem


class HostConfig(Model):
    """One machine: a VPS reached over SSH, or the local Docker engine."""

    name: Name
    connection: Literal["ssh", "local"] = "ssh"
    address: str
    private_address: str | None = None
    ssh_user: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")] = "root"
    ssh_port: Port = 22
    deploy_user: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")] = "deploy"
    # What the host has and costs (components/config/capacity.py, docs/capacity.md): a plan of
    # the catalogue (components/capacity/plans.yaml), its own figures, or both (own figures win).
    plan: PlanName | None = None
    cpus: Cpus | None = None
    memory_mb: MemoryMb | None = None
    disk_gb: DiskGb | None = None
    monthly_price: Price | None = None

    @field_validator("address", "private_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return value if value is None else ip_or_host_name(value)

    @field_validator("plan")
    @classmethod
    def _plan(cls, value: str | None) -> str | None:
        problem = None if value is None else plan_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @property
    def internal_address(self) -> str:
        """Where other hosts reach this one: the private network when there is one."""
        return self.private_address or self.address
