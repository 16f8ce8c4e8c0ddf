"""Deploys under load on the local stack, with the real engine: what a user waits for and what
their clients see.

    ./venv/bin/python -m bench.rolling.run        # prints a table, writes results.md

`scripts/up.sh local` deploys the stack in a throwaway copy of the project (the engine and
the plugins come from engine/build.sh, the images from images/build.sh; both cached). Then,
under a paced load through the edge (tools/load.py: GET /, /api/data and /static/app.js at
24 requests/s, each on its own TLS connection), in this order: a quiet phase, a rolling
deploy of the back end (0.1.0 to 0.1.1), a deploy of an image whose health check fails, the
rollback, a back-end replica's process killed (until Docker has it healthy again), a replica
stopped with `docker kill` and brought back by `pulumi up --refresh`, and an edge config change
(a reload). Each phase reports the wall time of its `pulumi up` (or of the recovery),
the requests sent during it, how many failed, and their latency. The stack is destroyed at
the end.
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from components.config.stackfile import PROJECT_DIR
from tools.load import LoadReport
from tools.local_stack import DEMO_APP, LOAD_RATE, LocalStack, broken_release, deploy, docker, release, wait_healthy

RESULTS = Path(__file__).with_name("results.md")
QUIET_S = 20.0


def engine_bin() -> Path:
    done = subprocess.run(
        [str(PROJECT_DIR / "engine" / "build.sh"), "core", "docker", "random", "command"],
        capture_output=True,
        text=True,
        timeout=3600,
        check=True,
    )
    return Path(done.stdout.strip().splitlines()[-1])


def under_load(stack: LocalStack, action: Callable[[], str]) -> tuple[str, float, LoadReport]:
    """Run `action` under the paced load: (what it says, its wall time, the load during it)."""
    with stack.load() as load:
        time.sleep(3)
        started = time.monotonic()
        said = action()
        ended = time.monotonic()
        time.sleep(3)
    load.stop()
    return said, ended - started, load.report(since=started, until=ended)


def up(stack: LocalStack, *args: str, expect_ok: bool = True) -> str:
    done, _ = stack.up(*args)
    if (done.returncode == 0) != expect_ok:
        raise RuntimeError(f"pulumi up exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return "exit 0" if done.returncode == 0 else f"exit {done.returncode}, as expected"


def phases(stack: LocalStack) -> list[tuple[str, str, float, LoadReport]]:
    rows: list[tuple[str, str, float, LoadReport]] = []

    def quiet() -> str:
        time.sleep(QUIET_S)
        return "-"

    def roll(image: str, expect_ok: bool = True) -> Callable[[], str]:
        def action() -> str:
            stack.set_config("services.backend.image", image)
            return up(stack, expect_ok=expect_ok)

        return action

    def crash() -> str:
        victim = stack.container_name("app-backend-0")
        os.kill(int(docker("inspect", "--format", "{{.State.Pid}}", victim).stdout), signal.SIGKILL)
        started = time.monotonic()
        wait_healthy(victim)
        return f"restarted by Docker, healthy after {time.monotonic() - started:.1f} s; then {up(stack, '--refresh')}"

    def docker_kill() -> str:
        docker("kill", stack.container_name("app-backend-0"))
        return up(stack, "--refresh")

    def edge_change() -> str:
        stack.set_config("edge.apiRate.burst", "30")
        return up(stack)

    good, broken = release("0.1.1"), broken_release("0.1.2")
    for name, action in (
        ("quiet (no deploy)", quiet),
        ("rolling deploy, back end 0.1.0 -> 0.1.1", roll(good)),
        ("deploy of an image whose health check fails (0.1.2)", roll(broken, expect_ok=False)),
        (f"rollback to {DEMO_APP}:0.1.1", roll(good)),
        ("a back-end replica's process killed (SIGKILL), restarted by Docker, then pulumi up --refresh", crash),
        ("a back-end replica stopped (docker kill), then pulumi up --refresh", docker_kill),
        ("edge config change (api burst 20 -> 30): nginx reload", edge_change),
    ):
        said, seconds, report = under_load(stack, action)
        rows.append((name, said, seconds, report))
        print(f"{name}: {seconds:.1f} s, {report}", flush=True)
    return rows


def main() -> None:
    bin_dir = engine_bin()
    subprocess.run(["bash", str(PROJECT_DIR / "images" / "build.sh")], check=True)
    with tempfile.TemporaryDirectory(prefix="webstack-bench-rolling-") as tmp:
        stack = deploy(Path(tmp), bin_dir)
        try:
            rows = phases(stack)
        finally:
            stack.pulumi("destroy", "--yes", "--skip-preview", check=False)
    version = subprocess.run([str(bin_dir / "pulumi"), "version"], capture_output=True, text=True).stdout.strip()
    lines = [
        "# Deploys under load on the local stack (real engine, local Docker)",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Machine: {platform.machine()}, 2 cores shared, "
        f"load average {Path('/proc/loadavg').read_text().split()[0]} at the end; pulumi {version} built here. "
        f"`scripts/up.sh local` from a warm cache took {stack.up_seconds:.0f} s. Load: {LOAD_RATE:.0f} requests/s "
        "(GET /, /api/data, /static/app.js), each on a new TLS connection; figures are for the requests "
        "due while the step ran.",
        "",
        "| step | outcome | seconds | requests | failed | p50 ms | p99 ms | max ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {name} | {said} | {seconds:.1f} | {r.requests} | {r.failed} | {r.p50_ms:.1f} | {r.p99_ms:.1f} "
            f"| {r.max_ms:.1f} |"
            for name, said, seconds, r in rows
        ),
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
