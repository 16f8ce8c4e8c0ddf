"""The command line: `python -m tools.fleet up [--edge NAME] [--no-push] [--image TAG...]`,
`status`, `env` and `down [--purge]` (see the package's docstring).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import tools.fleet
from tools.fleet.common import FleetError, say
from tools.fleet.hosts import DEFAULT_EDGE, VPS_NAMES
from tools.fleet.lifecycle import env_exports, load, start, status, stop


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.fleet", description=(tools.fleet.__doc__ or "").split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the fleet (idempotent)")
    up.add_argument("--edge", default=DEFAULT_EDGE, choices=VPS_NAMES, help="the host that also publishes 80 and 443")
    up.add_argument("--no-push", action="store_true", help="do not push the local images to the registry")
    up.add_argument(
        "--image", action="append", default=[], metavar="TAG", help="push this local image too (repeatable)"
    )
    down = commands.add_parser("down", help="remove the hosts, their volumes and the network")
    down.add_argument("--purge", action="store_true", help="also delete the keys, CA and password in the state dir")
    commands.add_parser("status", help="each host and whether SSH answers")
    commands.add_parser("env", help="shell exports for the running fleet")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            fleet = start(edge=args.edge, push=not args.no_push, extra_images=args.image)
            for host in fleet.hosts:
                print(f"{host.name:<10} {host.public:<11} {host.private:<12} ports {','.join(map(str, host.ports))}")
            print(f"registry   {fleet.registry} (hosts: {fleet.registry_private}), {len(fleet.images)} images")
        elif args.command == "down":
            stop(purge=args.purge)
        elif args.command == "status":
            rows = status()
            for host, state, ssh_ok in rows:
                print(
                    f"{host.name:<10} {host.public:<11} {host.private:<12} {state:<8} ssh {'yes' if ssh_ok else 'no'}"
                )
            return 0 if all(ok for _, _, ok in rows) else 1
        elif args.command == "env":
            print(env_exports(load()), end="")
    except FleetError as exc:
        say(f"ERROR: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
