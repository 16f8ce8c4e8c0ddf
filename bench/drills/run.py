"""The failure drills on the fleet, measured: what users see when a machine or the data is lost.

    ./venv/bin/python -m bench.drills.run        # about 20 min; prints the figures, writes results.md

Runs the drills of tests/fleet (test_survival_drills.py, test_survival_restore.py) as the
tests run them: the fleet up (tools/fleet/), `production` deployed onto its six bare hosts,
a paced load through edge-1, then each failure. The tests assert what must hold (no GET
fails when an app host dies, no acknowledged INCR is lost in a failover, the restored keys
are identical); this collects what they measured (the `drill | name | value` lines) into
results.md, with the date and the machine. The stack is destroyed at the end; the fleet is
left running (`python -m tools.fleet down` removes it).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from components.config.stackfile import PROJECT_DIR

RESULTS = Path(__file__).with_name("results.md")
DRILLS = ["tests/fleet/test_survival_drills.py", "tests/fleet/test_survival_restore.py", "tests/fleet/test_teardown.py"]
MARK = "drill | "


def figures(output: str) -> list[tuple[str, str]]:
    """(name, value) of each `drill | name | value` line, in order, each once."""
    found: list[tuple[str, str]] = []
    for line in output.splitlines():
        if line.startswith(MARK):
            name, _, value = line.removeprefix(MARK).partition(" | ")
            if (name.strip(), value.strip()) not in found:
                found.append((name.strip(), value.strip()))
    return found


def main() -> int:
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *DRILLS, "-s", "-q", "-p", "no:cacheprovider"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    measured = figures(done.stdout)
    outcome = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "(no output)"
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started))
    lines = [
        "# Failure drills on the fleet (`production` on six bare hosts, real engine)",
        "",
        f"Run {when}. Machine: {platform.machine()}, {os.cpu_count()} cores shared, load average "
        f"{os.getloadavg()[0]:.2f} at the end. Tests: {outcome}.",
        "Load: paced requests through edge-1 (8 GET/s and 0.8 POST/s when an app host is lost, "
        "8 INCR/s when the Redis primary is), each on a new TLS connection.",
        "",
        "| drill: measurement | value |",
        "| --- | --- |",
        *[f"| {name} | {value} |" for name, value in measured],
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))
    if done.returncode != 0:
        print(done.stdout[-6000:], done.stderr[-3000:], file=sys.stderr)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
