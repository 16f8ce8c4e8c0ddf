"""Last: `pulumi destroy` of the fleet stack leaves no container on any host."""

from __future__ import annotations

from tools.fleet_stack import FleetStack

from .helpers import on


def test_destroy_leaves_no_container_on_any_host(stack: FleetStack) -> None:
    # Production protects Redis' data: a teardown unprotects it on purpose first.
    stack.pulumi("state", "unprotect", "--all", "--yes")
    stack.pulumi("destroy", "--yes", "--skip-preview")
    for host in stack.fleet.vps:
        left = on(stack.fleet, host.name, "docker ps -aq")
        assert left.split() == [], f"{host.name}: containers left: {left}"
