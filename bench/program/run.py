"""How the program's run time and memory grow with hosts and replicas (under mocks).

    ./venv/bin/python -m bench.program.run            # prints a table, writes results.md

Each point builds a production-shaped config with N app hosts and R back-end replicas
(front end at R/2), runs the whole program under recording mocks (config validation,
all six components, rendering every file, resolving every output) in a fresh process,
and reports the median wall time of 3 runs and the peak RSS. This is the program's own
cost, the part `pulumi preview` adds to the providers' work.
"""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).with_name("results.md")
POINTS = [(2, 3), (4, 12), (8, 24), (16, 48), (32, 96)]
RUNS = 3

CHILD = r"""
import copy, json, resource, sys, time
t0 = time.perf_counter()
import components.stack  # the SDKs (pulumi_cloudflare alone is large): timed apart
from components.config.stackfile import read_stack_file
from tools.offline import run_offline
imports = time.perf_counter() - t0
hosts, replicas = int(sys.argv[1]), int(sys.argv[2])
raw, secrets = read_stack_file("production")
raw = copy.deepcopy(raw)
apps = [f"app-{i + 1}" for i in range(hosts)]
raw["webstack:hosts"] = [h for h in raw["webstack:hosts"] if not h["name"].startswith("app-")] + [
    {"name": name, "address": f"198.51.100.{i + 1}", "privateAddress": f"10.1.{i // 250}.{i % 250 + 1}",
     "plan": "hostinger-business"}
    for i, name in enumerate(apps)
]
raw["webstack:services"]["backend"].update(replicas=replicas, hosts=apps)
raw["webstack:services"]["frontend"].update(replicas=max(1, replicas // 2), hosts=apps)
start = time.perf_counter()
run = run_offline("production", raw=raw, secret_keys=secrets)
elapsed = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "imports": imports, "resources": len(run.resources), "peak_mb": peak_mb}))
"""


def measure(hosts: int, replicas: int) -> dict[str, float]:
    samples = []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(hosts), str(replicas)],
            check=True,
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        ).stdout
        samples.append(json.loads(out.strip().splitlines()[-1]))
    return {
        "seconds": statistics.median(s["seconds"] for s in samples),
        "resources": samples[0]["resources"],
        "peak_mb": max(s["peak_mb"] for s in samples),
        "imports": statistics.median(s["imports"] for s in samples),
    }


def main() -> None:
    rows = []
    for hosts, replicas in POINTS:
        result = measure(hosts, replicas)
        rows.append((hosts, replicas, result))
        print(f"{hosts:>3} app hosts {replicas:>4} replicas: {result['resources']:>5} resources "
              f"{result['seconds']:6.2f} s  {result['peak_mb']:6.0f} MB", flush=True)
    base = rows[0][2]
    lines = [
        "# Program run time under mocks",
        "",
        f"Machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
        "2 cores shared; median of 3 fresh processes per point.",
        "",
        "| app hosts | back-end replicas | resources | program (s) | per resource (ms) | SDK imports (s) | peak RSS (MB) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for hosts, replicas, r in rows:
        lines.append(
            f"| {hosts} | {replicas} | {r['resources']} | {r['seconds']:.2f} | "
            f"{1000 * r['seconds'] / r['resources']:.1f} | {r['imports']:.2f} | {r['peak_mb']:.0f} |"
        )
    growth = rows[-1][2]["seconds"] / base["seconds"]
    size = rows[-1][2]["resources"] / base["resources"]
    lines += ["", f"From the smallest to the largest point: {size:.1f}x the resources, {growth:.1f}x the time."]
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
