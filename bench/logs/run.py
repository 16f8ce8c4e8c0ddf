"""How many lines per second the log store takes on this machine, and what a million lines cost.

    ./venv/bin/python -m bench.logs.run              # prints a table, writes results.md
    ./venv/bin/python -m bench.logs.run --lines 2000000 --shipped 400000

Two measurements, on the real binaries the tests use (images/gobin.sh) and Debian's syslog-ng:

1. the store alone: `--lines` lines (default 1,000,000: the edge's JSON access lines and back-end
   text lines, half each, over 12 streams = 2 hosts x 6 replicas) posted to /insert/jsonline in
   batches of 5,000 from 2 client threads; then flushed, and after the store settled, the data
   folder's size and the store's peak resident memory (VmHWM);
2. the whole path: `--shipped` lines written into Docker json-file logs of 6 containers, read by
   syslog-ng with the rendered shipper config and posted to the store, timed until the store
   counts them all (what one host's shipper sustains).

Measured, not asserted; the machine is shared (2 cores), so the figures move by 10-20 %.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

from components.render.logs import STREAM_FIELDS, ShipperSpec
from tests.rendered.logs_servers import ContainerLog, LogStore, Shipper, go_binary, wait_until

RESULTS = Path(__file__).with_name("results.md")
ADDRESS = "127.0.0.81"
BATCH = 5000


def request_id(i: int) -> str:
    """As random as nginx's $request_id (which compresses far less than a counter would)."""
    return hashlib.md5(str(i).encode()).hexdigest()


def edge_line(i: int) -> dict[str, str]:
    access = {
        "time": "2026-12-02T06:00:00+00:00",
        "request_id": request_id(i),
        "remote_addr": f"203.0.113.{i % 250}",
        "method": "GET",
        "uri": f"/api/items/{i % 5000}?page={i % 7}",
        "protocol": "HTTP/2.0",
        "http_host": "example.com",
        "status": "200" if i % 50 else "502",
        "body_bytes_sent": str(1000 + i % 4000),
        "request_time": "0.004",
        "upstream_addr": f"10.0.0.{11 + i % 3}:8000",
        "upstream_status": "200" if i % 50 else "502",
        "upstream_connect_time": "0.000",
        "upstream_response_time": "0.003",
        "http_referer": "",
        "http_user_agent": "Mozilla/5.0 (X11; Linux x86_64) bench",
    }
    return {"_msg": json.dumps(access, separators=(",", ":")), **access}


def backend_line(i: int) -> dict[str, str]:
    return {"_msg": f'10.0.0.10 "GET /api/items/{i % 5000} HTTP/1.1" 200 {request_id(i)}', "stream": "stderr"}


def batches(total: int) -> list[bytes]:
    """The request bodies (made before the clock starts), `BATCH` lines each."""
    bodies: list[bytes] = []
    for start in range(0, total, BATCH):
        lines = []
        for i in range(start, min(total, start + BATCH)):
            row = edge_line(i) if i % 2 else backend_line(i)
            replica = str(i % 6)
            row |= {
                "host": f"app-{i % 2 + 1}",
                "stack": "production",
                "service": "edge" if i % 2 else "backend",
                "replica": replica,
            }
            lines.append(json.dumps(row, separators=(",", ":")))
        bodies.append(("\n".join(lines) + "\n").encode())
    return bodies


def post(url: str, bodies: list[bytes]) -> None:
    target = f"{url}/insert/jsonline?{urlencode({'_stream_fields': ','.join(STREAM_FIELDS)})}"
    for body in bodies:
        request = urllib.request.Request(target, data=body, headers={"Content-Type": "application/stream+json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            assert response.status == 200


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def store_alone(binary: Path, work: Path, total: int) -> dict[str, float]:
    bodies = batches(total)
    raw_bytes = sum(len(b) for b in bodies)
    store = LogStore(binary, ADDRESS, work)
    store.start()
    try:
        halves = [bodies[0::2], bodies[1::2]]
        started = time.perf_counter()
        threads = [threading.Thread(target=post, args=(store.url, half)) for half in halves]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        store.flush()
        count = store.count("*")
        assert count == total, f"{count} of {total} lines in the store"
        time.sleep(10)  # background merges settle
        store.flush()
        assert store.process is not None
        rss = peak_rss_kib(store.process.pid)
        disk = du(store.data)
    finally:
        store.stop()
    return {
        "lines": total,
        "seconds": seconds,
        "lines_per_s": total / seconds,
        "raw_mb": raw_bytes / 1e6,
        "disk_mb": disk / 1e6,
        "disk_mb_per_million": disk / 1e6 / (total / 1e6),
        "peak_rss_mb": rss / 1024,
    }


def shipped(binary: Path, work: Path, total: int) -> dict[str, float]:
    containers = work / "containers"
    for folder in ("store", "shipper", "containers"):
        (work / folder).mkdir()
    store = LogStore(binary, ADDRESS, work / "store")
    spec = ShipperSpec(
        host="app-1",
        stack="production",
        store_url=store.url,
        containers_dir=str(containers),
        state_dir=str(work / "shipper"),
    )
    shipper = Shipper(spec, work / "shipper")
    logs = [ContainerLog(containers, "production", "backend", str(i)) for i in range(6)]
    per = total // len(logs)
    # Written before the shipper starts: it then reads them as fast as it can.
    for log in logs:
        messages = [f'10.0.0.10 "GET /api/items/{i} HTTP/1.1" 200 {request_id(i)}' for i in range(per)]
        for start in range(0, per, 10_000):
            log.write(*messages[start : start + 10_000], stream="stderr")
    store.start()
    try:
        started = time.perf_counter()
        shipper.start()
        last = [0]

        def done() -> bool:
            store.flush()
            last[0] = store.count("*")
            return last[0] >= per * len(logs)

        wait_until(done, timeout=1800, what=f"{per * len(logs)} shipped lines", interval=1)
        seconds = time.perf_counter() - started
        assert shipper.process is not None
        shipper_rss = peak_rss_kib(shipper.process.pid)
    finally:
        shipper.stop()
        store.stop()
    return {
        "lines": per * len(logs),
        "seconds": seconds,
        "lines_per_s": per * len(logs) / seconds,
        "shipper_peak_rss_mb": shipper_rss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--shipped", type=int, default=300_000)
    args = parser.parse_args()
    binary = go_binary("victoria-logs")
    work = Path(tempfile.mkdtemp(prefix="webstack-bench-logs-"))
    try:
        (work / "alone").mkdir()
        alone = store_alone(binary, work / "alone", args.lines)
        print(json.dumps({"store_alone": alone}))
        (work / "shipped").mkdir()
        path = shipped(binary, work / "shipped", args.shipped)
        print(json.dumps({"shipped": path}))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    version = subprocess.run([str(binary), "-version"], capture_output=True, text=True).stdout.strip()
    text = f"""# Log store throughput (bench/logs)

Machine: {platform.machine()}, {os.cpu_count()} cores shared, {version}, Debian's syslog-ng
{subprocess.run(["syslog-ng", "--version"], capture_output=True, text=True).stdout.split()[2]};
`./venv/bin/python -m bench.logs.run --lines {args.lines} --shipped {args.shipped}` on {time.strftime("%Y-%m-%d")}.

| path | lines | seconds | lines/s | disk per million lines | peak memory |
| --- | ---: | ---: | ---: | ---: | ---: |
| into the store (/insert/jsonline, 2 clients, batches of {BATCH}) | {alone["lines"]:,.0f} | {alone["seconds"]:.1f} | {alone["lines_per_s"]:,.0f} | {alone["disk_mb_per_million"]:.1f} MB ({alone["raw_mb"] / (alone["lines"] / 1e6):.0f} MB as JSON) | store {alone["peak_rss_mb"]:.0f} MB |
| Docker json-file logs -> syslog-ng -> the store (one host's shipper) | {path["lines"]:,.0f} | {path["seconds"]:.1f} | {path["lines_per_s"]:,.0f} | | syslog-ng {path["shipper_peak_rss_mb"]:.0f} MB |

Half the lines are the edge's JSON access lines (16 fields each, every field stored), half back-end
text lines, over 12 streams (host, stack, service, replica); request ids are random hex, as
nginx's are, and the rest repeats as real traffic does (paths, statuses, upstreams). Disk is the
data folder after a flush and 10 s of merges. The store's rate is with its client on the same two
cores; the shipper's is syslog-ng reading six containers' files it had not seen yet.
"""
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
