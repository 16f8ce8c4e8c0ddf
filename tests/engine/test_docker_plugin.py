"""pulumi-resource-docker as built here (engine/plugins/docker: the upstream Terraform provider
bridged with pulumi-docker 5.2.0's tokens) driven by the pulumi-docker SDK through the real
engine, on the local Docker engine: the resources and fields the program's docker platform
uses (RemoteImage of a local image, Network, Volume, Container with a published loopback
port, env, a volume mount, uploads, healthcheck, labels) come up, answer, stay unchanged on a
second preview, are replaced on a change, and are all gone after destroy.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path

import pytest

from components.config.stackfile import PROJECT_DIR
from tests.images.helpers import free_port
from tools.sandbox import install_plugins

from .conftest import Project, docker, engine_with, local_images, pulumi

pytestmark = pytest.mark.timeout(3600)

# Names unique to this run, all labelled: a run killed half way (its destroy never ran) leaves
# resources that would clash with a fixed name; the next run sweeps them by the label first.
PREFIX = f"webstack-plugin-test-{os.getpid()}"
LABEL = "webstack.test=plugin"

PROGRAM = """
import pulumi
import pulumi_docker as docker

from components.targets.containers import container_defaults, http_healthcheck, uploads

config = pulumi.Config()
image = docker.RemoteImage("image", name={image!r}, keep_locally=True)
network = docker.Network("net", name="{prefix}-net", labels=[{{"label": "webstack.test", "value": "plugin"}}])
volume = docker.Volume("data", name="{prefix}-data", labels=[{{"label": "webstack.test", "value": "plugin"}}])
# The defaults every webstack container gets (restart, labelled logs, limits, no-new-privileges).
defaults = container_defaults(memory_mb=128, stack="plugin-test", service="backend", replica="0", cpus=0.5)
defaults["labels"] = [*defaults["labels"], docker.ContainerLabelArgs(label="webstack.test", value="plugin")]
container = docker.Container(
    "app",
    name="{prefix}-app",
    image=image.image_id,
    envs=[f"WEBSTACK_REPLICA={{config.require('replica')}}", "APP_ROLE=backend"],
    ports=[docker.ContainerPortArgs(internal=8000, external={port}, ip="127.0.0.1")],
    networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network.name, aliases=["app"])],
    volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path="/data")],
    uploads=uploads({{"/etc/webstack/greeting.txt": "hello from the plugin\\n"}}),
    healthcheck=http_healthcheck("http://127.0.0.1:8000/health", interval_s=2),
    wait=True,
    wait_timeout=90,
    **defaults,
    opts=pulumi.ResourceOptions(delete_before_replace=True),
)
pulumi.export("container", container.name)
pulumi.export("imageId", image.image_id)
"""


@pytest.fixture(scope="module")
def demo_image() -> str:
    return local_images("demo-app")["demo-app"]


@pytest.fixture(scope="module")
def docker_bin(engine_bin: Path) -> Path:
    return engine_with("docker")


def sweep_leftovers() -> list[str]:
    """Remove what an earlier, killed run of this test left (containers, then networks and
    volumes, by label); the names removed."""
    removed: list[str] = []
    for kind, listing, remove in (
        ("container", ("ps", "-a"), ("rm", "--force", "--volumes")),
        ("network", ("network", "ls"), ("network", "rm")),
        ("volume", ("volume", "ls"), ("volume", "rm", "--force")),
    ):
        names = docker(*listing, "-q", "--filter", f"label={LABEL}").stdout.split()
        if names:
            done = docker(*remove, *names)
            assert done.returncode == 0, f"could not remove an earlier run's {kind}s {names}: {done.stderr}"
            removed += [f"{kind} {name}" for name in names]
    return removed


def _get(url: str) -> tuple[int, dict[str, str], str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, dict(response.headers), response.read().decode()


def test_containers_networks_and_volumes_through_the_built_plugin(
    tmp_path: Path, docker_bin: Path, demo_image: str
) -> None:
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    (tmp_path / "state").mkdir()
    port = free_port()
    (project_dir / "Pulumi.yaml").write_text(
        f"name: plugin-test\nruntime:\n  name: python\n  options:\n    virtualenv: {PROJECT_DIR / 'venv'}\n"
    )
    (project_dir / "__main__.py").write_text(PROGRAM.format(image=demo_image, prefix=PREFIX, port=port))
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PULUMI_HOME": str(tmp_path / "home"),
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_CONFIG_PASSPHRASE": "plugin-test",
        "PYTHONPATH": str(PROJECT_DIR),
    }
    # The plugins into PULUMI_HOME, the CLI and its language host on PATH (engine/install-plugins.sh).
    env["PATH"] = f"{install_plugins(docker_bin, env)}:{env['PATH']}"
    project: Project = (project_dir, env)
    swept = sweep_leftovers()
    if swept:
        print(f"\nleft by an earlier run, removed: {', '.join(swept)}")
    pulumi(project, "stack", "init", "dev")
    pulumi(project, "config", "set", "replica", "first")
    try:
        pulumi(project, "up", "--yes", "--skip-preview")
        outputs = json.loads(pulumi(project, "stack", "output", "--json").stdout)
        assert outputs["container"] == f"{PREFIX}-app"
        assert outputs["imageId"].startswith("sha256:")

        status, headers, body = _get(f"http://127.0.0.1:{port}/health")
        assert (status, body) == (200, "ok\n")
        assert headers["X-Replica"] == "first"
        inspect = json.loads(docker("inspect", f"{PREFIX}-app").stdout)[0]
        assert inspect["State"]["Health"]["Status"] == "healthy"
        assert inspect["HostConfig"]["Memory"] == inspect["HostConfig"]["MemorySwap"] == 128 * 1024 * 1024
        assert inspect["HostConfig"]["NanoCpus"] == 500_000_000
        assert inspect["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
        assert inspect["HostConfig"]["LogConfig"] == {
            "Type": "json-file",
            "Config": {"max-file": "3", "max-size": "10m", "labels": "webstack.stack,webstack.service,webstack.replica"},
        }
        assert inspect["HostConfig"]["SecurityOpt"] == ["no-new-privileges:true"]
        assert inspect["HostConfig"]["PortBindings"]["8000/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
        labels = inspect["Config"]["Labels"]
        assert labels["webstack.test"] == "plugin"
        assert (labels["webstack.stack"], labels["webstack.service"], labels["webstack.replica"]) == (
            "plugin-test",
            "backend",
            "0",
        )
        assert {m["Name"] for m in inspect["Mounts"] if m["Type"] == "volume"} == {f"{PREFIX}-data"}
        assert "app" in inspect["NetworkSettings"]["Networks"][f"{PREFIX}-net"]["Aliases"]
        uploaded = docker("exec", f"{PREFIX}-app", "cat", "/etc/webstack/greeting.txt")
        assert uploaded.stdout == "hello from the plugin\n"

        pulumi(project, "preview", "--expect-no-changes")

        pulumi(project, "config", "set", "replica", "second")
        pulumi(project, "up", "--yes", "--skip-preview")
        deadline = time.monotonic() + 30
        while _get(f"http://127.0.0.1:{port}/health")[1].get("X-Replica") != "second":
            assert time.monotonic() < deadline, "the container was not replaced with the new env"
            time.sleep(0.5)
        pulumi(project, "preview", "--expect-no-changes")
    finally:
        pulumi(project, "destroy", "--yes", "--skip-preview", check=False)
    assert docker("ps", "-aq", "--filter", f"name={PREFIX}-app").stdout.strip() == ""
    assert docker("network", "ls", "-q", "--filter", f"name={PREFIX}-net").stdout.strip() == ""
    assert docker("volume", "ls", "-q", "--filter", f"name={PREFIX}-data").stdout.strip() == ""
    assert docker("image", "inspect", demo_image).returncode == 0, "keep_locally: the image stays"
