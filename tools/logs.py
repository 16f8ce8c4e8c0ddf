"""Ask the log store (VictoriaLogs) the common questions, from a terminal.

    python -m tools.logs errors backend               # a service's errors of the last hour
    python -m tools.logs errors backend --since 24h
    python -m tools.logs request 7fe020cd5d4b54b4a48a0382a2bb511c   # one request, edge and back end
    python -m tools.logs replica backend 1            # one replica's lines of the last hour
    python -m tools.logs query '_time:10m {service="edge"} status:>=500'   # any LogsQL
    ... --url http://127.0.0.1:9428 --limit 200 --json

The store listens on the monitoring host's private address only. From a laptop, open a tunnel
first (the same one as for Prometheus; docs/logs.md):

    ssh -N -L 9428:<monitoring host's private address>:9428 deploy@<monitoring host>

`--url` defaults to $WEBSTACK_LOGS_URL, else http://127.0.0.1:9428 (the tunnel's end). The
queries are components/render/logs.py's, the ones docs/logs.md documents. Exit 0 with lines,
1 with none, 2 when the store cannot be asked.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any, TextIO
from urllib.parse import urlencode

from components.render.logs import errors_query, replica_query, request_query

DEFAULT_URL = "http://127.0.0.1:9428"


def build_query(args: argparse.Namespace) -> str:
    if args.command == "errors":
        return errors_query(args.service, since=args.since, stack=args.stack)
    if args.command == "request":
        return request_query(args.request_id, since=args.since or "1d")
    if args.command == "replica":
        return replica_query(args.service, args.replica, since=args.since)
    query: str = args.logsql
    return query


def fetch(url: str, query: str, limit: int) -> list[dict[str, Any]]:
    data = urlencode({"query": query, "limit": str(limit)}).encode()
    request = urllib.request.Request(f"{url.rstrip('/')}/select/logsql/query", data=data)
    with urllib.request.urlopen(request, timeout=120) as response:
        return [json.loads(line) for line in response.read().decode().splitlines() if line.strip()]


def line_text(row: dict[str, Any]) -> str:
    """time host service/replica message (the edge's JSON lines: status method uri request_id)."""
    where = row.get("service", "-") + (f"/{row['replica']}" if row.get("replica") else "")
    if "request_id" in row and "status" in row:
        message = (
            f"{row.get('status')} {row.get('method', '')} {row.get('uri', '')} "
            f"upstream={row.get('upstream_addr') or '-'} {row.get('request_time', '')}s id={row['request_id']}"
        )
    else:
        message = str(row.get("_msg", ""))
    return f"{row.get('_time', '')} {row.get('host', '-')} {where} {message}"


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.logs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("WEBSTACK_LOGS_URL", DEFAULT_URL), help="the store's URL")
    parser.add_argument("--limit", type=int, default=500, help="at most this many lines (default 500)")
    parser.add_argument("--json", action="store_true", help="the store's JSON lines, every field")
    commands = parser.add_subparsers(dest="command", required=True)
    errors = commands.add_parser("errors", help="a service's errors (error words, 5xx of the edge)")
    errors.add_argument("service")
    errors.add_argument("--since", default="1h", help="LogsQL duration (default 1h)")
    errors.add_argument("--stack", default=None, help="only this stack's lines")
    request = commands.add_parser("request", help="every line of one request id, oldest first")
    request.add_argument("request_id")
    request.add_argument("--since", default="1d", help="LogsQL duration (default 1d)")
    replica = commands.add_parser("replica", help="one replica's lines")
    replica.add_argument("service")
    replica.add_argument("replica")
    replica.add_argument("--since", default="1h", help="LogsQL duration (default 1h)")
    query = commands.add_parser("query", help="any LogsQL query")
    query.add_argument("logsql")
    args = parser.parse_args(argv)
    try:
        logsql = build_query(args)
    except ValueError as err:
        parser.error(str(err))
    try:
        rows = fetch(args.url, logsql, args.limit)
    except (urllib.error.URLError, OSError) as err:
        detail = err.read().decode(errors="replace") if isinstance(err, urllib.error.HTTPError) else str(err)
        print(f"tools.logs: cannot ask the store at {args.url} ({logsql}): {detail}", file=sys.stderr)
        return 2
    for row in rows:
        print(json.dumps(row) if args.json else line_text(row), file=out)
    if not rows:
        print(f"tools.logs: no lines for {logsql}", file=sys.stderr)
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
