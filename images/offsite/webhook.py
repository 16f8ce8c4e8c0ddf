"""A webhook receiver for the fleet's offsite-1: each POST body is appended to a file as one
JSON line (the body itself when it is JSON, else a JSON string of it) and answered 200.
GET / answers 200 with the number of lines received since the start (a health check)."""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
RECEIVED = 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=9099)
    parser.add_argument("--log", default="/var/log/webhook.jsonl")
    args = parser.parse_args()

    class Handler(BaseHTTPRequestHandler):
        server_version = "webhook-receiver"

        def do_POST(self) -> None:
            global RECEIVED
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                line = json.dumps(json.loads(body), separators=(",", ":"), sort_keys=True)
            except ValueError:
                line = json.dumps(body.decode("utf-8", "replace"))
            with LOCK, open(args.log, "a", encoding="utf-8") as log:
                log.write(line + "\n")
                RECEIVED += 1
            self._answer(b'{"status":"ok"}\n')

        def do_GET(self) -> None:
            self._answer(json.dumps({"received": RECEIVED}).encode() + b"\n")

        def _answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # to the journal, one line each
            print(f"{self.address_string()} {format % args}", flush=True)

    ThreadingHTTPServer(("", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
