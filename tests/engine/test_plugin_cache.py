"""The resource plugins built here, in Pulumi's plugin cache instead of on PATH
(engine/install-plugins.sh, run by tools/sandbox.engine_env for every sandbox): a program using
them runs without a single "using pulumi-resource-X from $PATH" warning."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from components.config.stackfile import PROJECT_DIR
from tools.sandbox import engine_env

from .conftest import Project, engine_with, pulumi

pytestmark = pytest.mark.timeout(1800)

PASSPHRASE = "plugin-cache-test"
BUNDLED = {"pulumi-resource-pulumi-python", "pulumi-resource-pulumi-nodejs"}
PROGRAM = """import pulumi
import pulumi_random as random
from pulumi_command import local

password = random.RandomPassword("password", length=20, special=False)
hello = local.Command("hello", create="echo hello")
pulumi.export("length", password.result.apply(len))
pulumi.export("hello", hello.stdout)
"""


@pytest.fixture(scope="module")
def plugin_engine() -> Path:
    """The build's bin dir with the random and command plugins (engine/build.sh core random command)."""
    return engine_with("random", "command")


def sdk_plugin_version(name: str) -> str:
    """The plugin version the SDK pulumi_<name> in the project's venv asks the engine for."""
    done = subprocess.run(
        [
            str(PROJECT_DIR / "venv" / "bin" / "python"),
            "-c",
            "import importlib.util, sys; print(importlib.util.find_spec(sys.argv[1]).submodule_search_locations[0])",
            f"pulumi_{name}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    version: str = json.loads((Path(done.stdout.strip()) / "pulumi-plugin.json").read_text())["version"]
    return version


def tiny_project(root: Path, bin_dir: Path) -> Project:
    directory = root / "project"
    directory.mkdir(parents=True)
    (directory / "Pulumi.yaml").write_text(
        f"name: plugin-cache\nruntime:\n  name: python\n  options:\n    virtualenv: {PROJECT_DIR / 'venv'}\n"
    )
    (directory / "__main__.py").write_text(PROGRAM)
    return directory, engine_env(root, bin_dir, PASSPHRASE)


def installed(project: Project) -> dict[str, dict[str, str]]:
    """`pulumi plugin ls`: resource plugin name -> its entry (version, size, installTime, ...)."""
    listing = json.loads(pulumi(project, "plugin", "ls", "--output", "json").stdout)
    return {entry["name"]: entry for entry in listing if entry["kind"] == "resource"}


def test_plugins_in_the_cache_and_no_path_warnings(tmp_path: Path, plugin_engine: Path) -> None:
    project = tiny_project(tmp_path, plugin_engine)
    _, env = project
    path_dir = Path(env["PATH"].split(":")[0])
    assert path_dir != plugin_engine and path_dir.parent == plugin_engine.parent, path_dir
    on_path = {p.name for p in path_dir.iterdir()}
    assert {"pulumi", "pulumi-language-python", "pulumi-language-python-exec"} <= on_path, on_path
    assert not {name for name in on_path if name.startswith("pulumi-resource-")} - BUNDLED, on_path

    # Every plugin of the build, at the version its SDK asks for.
    built = {p.name.removeprefix("pulumi-resource-") for p in plugin_engine.glob("pulumi-resource-*")} - {
        name.removeprefix("pulumi-resource-") for name in BUNDLED
    }
    assert {"random", "command"} <= built, built
    cache = installed(project)
    for name in built:
        assert name in cache and cache[name]["version"] == sdk_plugin_version(name), (name, cache)

    pulumi(project, "stack", "init", "dev")
    done = pulumi(project, "up", "--yes")
    output = done.stdout + done.stderr
    assert "from $PATH" not in output and "warning:" not in output, output
    assert pulumi(project, "stack", "output", "hello").stdout.strip() == "hello"
    assert pulumi(project, "stack", "output", "length", "--show-secrets").stdout.strip() == "20"

    # Already installed: a second sandbox setup on the same PULUMI_HOME installs nothing again.
    again = engine_env(tmp_path, plugin_engine, PASSPHRASE)
    assert again["PATH"] == env["PATH"]
    after = installed(project)
    assert after.keys() == cache.keys(), after
    for name, entry in after.items():
        assert entry["installTime"] == cache[name]["installTime"], (name, entry)


def test_the_plugins_on_path_are_what_made_the_warnings(tmp_path: Path, plugin_engine: Path) -> None:
    """The check above can fail: the build's bin dir on PATH, as before, gives the warnings."""
    directory, env = tiny_project(tmp_path, plugin_engine)
    project = (directory, {**env, "PATH": f"{plugin_engine}:{env['PATH']}"})
    pulumi(project, "stack", "init", "dev")
    done = pulumi(project, "preview")
    output = done.stdout + done.stderr
    for name in ("random", "command"):
        assert f"using pulumi-resource-{name} from $PATH at {plugin_engine}" in output, output
