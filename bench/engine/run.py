"""How long the real engine takes on production-k8s, the one full stack it can run here.

    ./venv/bin/python -m bench.engine.run        # prints a table, writes results.md

The engine, the kubernetes and the random plugins come from engine/build.sh (built once,
not timed). In a throwaway copy of the project, the stack renders its manifests to a folder
(render-to-directory: no cluster, no Cloudflare, see README "Kubernetes"), and each step is
timed as a user runs it: a preview of the new stack, the first `up` (every object created
and written), then no-change previews and ups (the steady state of a deploy pipeline), the
policy pack on top of a preview, and a one-replica change. Median of RUNS per step.
"""

from __future__ import annotations

import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from components.config.stackfile import PROJECT_DIR
from tools.sandbox import Project, checked, copy_project, init_render_stack, pulumi

RESULTS = Path(__file__).with_name("results.md")
STACK = "production-k8s"
RUNS = 3


def engine_bin() -> Path:
    done = checked(
        subprocess.run(
            [str(PROJECT_DIR / "engine" / "build.sh"), "core", "kubernetes", "random"],
            capture_output=True,
            text=True,
            timeout=3600,
        )
    )
    return Path(done.stdout.strip().splitlines()[-1])


def policy_venv(root: Path) -> Path:
    venv = root / "policy-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "-r", str(PROJECT_DIR / "policy" / "requirements.txt")],
        check=True,
    )
    return venv


def timed(step: Callable[[], subprocess.CompletedProcess[str]]) -> float:
    started = time.perf_counter()
    checked(step())
    return time.perf_counter() - started


def median_of(step: Callable[[], subprocess.CompletedProcess[str]]) -> tuple[float, list[float]]:
    runs = [timed(step) for _ in range(RUNS)]
    return statistics.median(runs), runs


def main() -> None:
    bin_dir = engine_bin()
    with tempfile.TemporaryDirectory(prefix="webstack-bench-engine-") as tmp:
        root = Path(tmp)
        project: Project = copy_project(root, bin_dir, passphrase="bench-engine")
        (project[0] / "policy" / "venv").symlink_to(policy_venv(root))
        out = root / "manifests"
        init_render_stack(project, STACK, out)

        def run(*args: str) -> Callable[[], subprocess.CompletedProcess[str]]:
            return lambda: pulumi(project, *args, "--stack", STACK)

        rows: list[tuple[str, float, list[float]]] = []
        first_preview = timed(run("preview"))
        rows.append(("preview, new stack (first run: plugins start cold)", first_preview, [first_preview]))
        first_up = timed(run("up", "--yes", "--skip-preview"))
        rows.append(("up, everything created and rendered", first_up, [first_up]))
        manifests = len(list(out.rglob("*.yaml")))
        resources = pulumi(project, "stack", "--show-urns", "--stack", STACK).stdout.count("urn:pulumi:")
        rows.append(("preview, no changes", *median_of(run("preview", "--expect-no-changes"))))
        rows.append(("up, no changes", *median_of(run("up", "--yes", "--skip-preview"))))
        pack = ("--policy-pack", "policy", "--policy-pack-config", f"policy/config/{STACK}.json")
        rows.append(("preview with the policy pack", *median_of(run("preview", *pack))))
        checked(
            pulumi(project, "config", "set", "--path", "webstack:services.frontend.replicas", "3", "--stack", STACK)
        )
        change = timed(run("up", "--yes", "--skip-preview"))
        rows.append(("up, one replica count changed", change, [change]))

    version = checked(subprocess.run([str(bin_dir / "pulumi"), "version"], capture_output=True, text=True))
    lines = [
        "# The real engine on production-k8s (render to a directory)",
        "",
        f"Machine: {platform.machine()}, CPython {platform.python_version()}, 2 cores shared; pulumi "
        f"{version.stdout.strip()} built here, kubernetes and random plugins built here; "
        f"{resources} resources in the state, {manifests} manifests written. Median of {RUNS} runs where "
        "there are several.",
        "",
        "| step | seconds | runs |",
        "| --- | ---: | --- |",
        *(f"| {name} | {value:.2f} | {', '.join(f'{r:.2f}' for r in runs)} |" for name, value, runs in rows),
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
