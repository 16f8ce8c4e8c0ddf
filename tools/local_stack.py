"""The local stack deployed by `scripts/up.sh local` in a throwaway copy of the project, and
what the engine tests and bench/rolling do with it: requests through the edge, deploys under
a paced load, demo-app images to roll to, the containers in the state."""

from __future__ import annotations

import http.client
import json
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.load import LoadReport, PacedLoad, Target, VerifiedConnection
from tools.sandbox import Project, copy_project, pulumi

STACK = "local"
HTTPS, HTTP = 8443, 8080
HOST = "localhost"
DEMO_APP = "webstack-local/demo-app"
# Under the edge's per-client limits (API 10 r/s, front end 50 r/s): a third of it is API.
LOAD = [Target("GET", "/"), Target("GET", "/api/data"), Target("GET", "/static/app.js")]
LOAD_RATE = 24.0


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300)


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


@dataclass
class LocalStack:
    project: Project
    up_output: str
    up_seconds: float

    @property
    def directory(self) -> Path:
        return self.project[0]

    @property
    def cafile(self) -> Path:
        """The edge's self-signed certificate: clients verify against it."""
        return self.directory / ".webstack" / STACK / "edge" / "tls" / "edge.crt"

    def pulumi(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = pulumi(self.project, *args, "--stack", STACK, timeout=1800)
        if check and done.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)}:\n{done.stdout}\n{done.stderr}")
        return done

    def set_config(self, path: str, value: str) -> None:
        self.pulumi("config", "set", "--path", f"webstack:{path}", value)

    def up(self, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
        """`pulumi up` (not checked) and its wall time."""
        started = time.monotonic()
        done = self.pulumi("up", "--yes", "--skip-preview", *args, check=False)
        return done, time.monotonic() - started

    def up_under_load(self, *args: str) -> tuple[subprocess.CompletedProcess[str], float, LoadReport]:
        """`pulumi up` while the paced load runs (from 3 s before to 3 s after): what it said,
        its wall time, and what the clients saw."""
        with self.load() as load:
            time.sleep(3)
            done, seconds = self.up(*args)
            time.sleep(3)
        return done, seconds, load.stop()

    def load(self, rate: float = LOAD_RATE) -> PacedLoad:
        return PacedLoad(HTTPS, targets=LOAD, rate=rate, cafile=self.cafile, host=HOST)

    def state(self) -> dict[str, Any]:
        return json.loads(self.pulumi("stack", "export").stdout)

    def resources(self, type_: str) -> list[dict[str, Any]]:
        return [r for r in self.state()["deployment"]["resources"] if r["type"] == type_]

    def containers(self) -> dict[str, str]:
        """Resource name -> container id, from the state."""
        return {r["urn"].rsplit("::", 1)[1]: r["id"] for r in self.resources("docker:index/container:Container")}

    def container_name(self, resource_name: str) -> str:
        containers = self.resources("docker:index/container:Container")
        return next(r["outputs"]["name"] for r in containers if r["urn"].endswith(f"::{resource_name}"))

    def request(self, method: str, path: str, *, body: bytes | None = None, https: bool = True) -> Reply:
        if https:
            context = ssl.create_default_context(cafile=str(self.cafile))
            conn: http.client.HTTPConnection = VerifiedConnection(
                "127.0.0.1", HTTPS, server_name=HOST, context=context, timeout=15
            )
        else:
            conn = http.client.HTTPConnection("127.0.0.1", HTTP, timeout=15)
        try:
            conn.request(method, path, body=body, headers={"Host": HOST if https else f"{HOST}:{HTTP}"})
            response = conn.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            conn.close()

    def api_versions(self, tries: int = 6) -> set[str]:
        """The demo-app versions the back end's replicas answer with."""
        return {json.loads(self.request("GET", "/api/").body)["version"] for _ in range(tries)}


def deploy(root: Path, bin_dir: Path, *, policy_venv: Path | None = None) -> LocalStack:
    """`scripts/up.sh local` in a copy of the project under `root`, with the local image set.
    Refuses to start when a local stack's containers exist already (same names and ports)."""
    clash = docker("ps", "-aq", "--filter", f"name=^webstack-{STACK}-")
    if clash.stdout.strip():
        raise RuntimeError(
            f"containers named webstack-{STACK}-* exist already (a local stack deployed from a checkout?): "
            "destroy it first (pulumi destroy --stack local); this deploys the same names and ports"
        )
    project = copy_project(root, bin_dir)
    directory, env = project
    if policy_venv is not None:
        (directory / "policy" / "venv").symlink_to(policy_venv)
    # The first run's choice of images, which up.sh writes into the stack's config
    # (webstack:imageSource); every later command runs the plain CLI without it.
    env.pop("WEBSTACK_IMAGE_SOURCE", None)
    started = time.monotonic()
    done = subprocess.run(
        ["bash", "scripts/up.sh", STACK],
        cwd=directory,
        env={**env, "WEBSTACK_IMAGE_SOURCE": "local"},
        capture_output=True,
        text=True,
        timeout=3000,
    )
    stack = LocalStack(project, done.stdout + done.stderr, time.monotonic() - started)
    if done.returncode != 0:
        stack.pulumi("destroy", "--yes", "--skip-preview", check=False)
        raise RuntimeError(f"scripts/up.sh {STACK}:\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}")
    return stack


def build_demo_app(tag: str, *edits: str) -> str:
    """A demo-app image made from 0.1.0 by sed edits of app.py (each must change the file)."""
    image = f"{DEMO_APP}:{tag}"
    steps = " && ".join(f"sed -i '{edit}' /app/app.py" for edit in edits)
    dockerfile = (
        f"FROM {DEMO_APP}:0.1.0\nUSER root\n"
        f"RUN cp /app/app.py /tmp/before && {steps} && ! cmp -s /tmp/before /app/app.py && rm /tmp/before\n"
        "USER 10001:10001\n"
    )
    done = subprocess.run(["docker", "build", "-q", "-t", image, "-"], input=dockerfile, text=True, capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"docker build {image}: {done.stderr}")
    return image


def release(version: str) -> str:
    """The demo app at `version` (e.g. 0.1.1): only its version string differs."""
    return build_demo_app(version, f's/^VERSION = "0.1.0"$/VERSION = "{version}"/')


def broken_release(version: str) -> str:
    """The demo app at `version` whose health check answers 503: a deploy of it must stop."""
    return build_demo_app(
        f"{version}-broken",
        f's/^VERSION = "0.1.0"$/VERSION = "{version}"/',
        's|("GET", "/health"): lambda h, q: (200,|("GET", "/health"): lambda h, q: (503,|',
    )


def wait_healthy(name: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        inspected = json.loads(docker("inspect", name).stdout or "[{}]")[0].get("State", {})
        if inspected.get("Running") and inspected.get("Health", {}).get("Status") == "healthy":
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} is not healthy after {timeout:.0f} s: {inspected}")
        time.sleep(0.5)
