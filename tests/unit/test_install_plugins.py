"""engine/install-plugins.sh on a stand-in engine (a `pulumi` that records what it is asked):
which plugins it installs, at which versions, when it does nothing, and what goes on PATH. The
real CLI's side is tests/engine/test_plugin_cache.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from components.config.stackfile import PROJECT_DIR

SCRIPT = PROJECT_DIR / "engine" / "install-plugins.sh"
ON_PATH = {"pulumi", "pulumi-language-python", "pulumi-language-python-exec", "pulumi-resource-pulumi-python"}

# `pulumi plugin ls --output json` and `pulumi plugin install resource NAME VERSION --file F ...`,
# as the real CLI answers them, over a JSON file in PULUMI_HOME; every install is logged.
STUB = f"""#!{sys.executable}
import json, os, sys, time
from pathlib import Path

home = Path(os.environ["PULUMI_HOME"])
listing = home / "listing.json"
plugins = json.loads(listing.read_text()) if listing.exists() else []
args = sys.argv[1:]
if args[:3] == ["plugin", "ls", "--output"]:
    print(json.dumps(plugins, indent=2))
elif args[:3] == ["plugin", "install", "resource"]:
    name, version, binary = args[3], args[4], args[args.index("--file") + 1]
    plugins = [p for p in plugins if (p["name"], p["version"]) != (name, version)]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{{int(time.time() * 1000) % 1000:03d}}Z"
    size = os.path.getsize(binary)
    plugins.append({{"name": name, "kind": "resource", "version": version, "size": size, "installTime": stamp}})
    home.mkdir(parents=True, exist_ok=True)
    listing.write_text(json.dumps(plugins))
    with open(home / "installs.log", "a") as log:
        log.write(f"{{name}} {{version}} {{binary}}\\n")
else:
    sys.exit(f"stub pulumi: unexpected {{args}}")
"""


def sdk_plugin_version(name: str) -> str:
    """The `version` of pulumi_<name>/pulumi-plugin.json in the project's venv."""
    found = sorted((PROJECT_DIR / "venv" / "lib").glob(f"python3*/site-packages/pulumi_{name}/pulumi-plugin.json"))
    assert found, f"no pulumi_{name} SDK in the venv (bash scripts/setup.sh)"
    version: str = json.loads(found[0].read_text())["version"]
    return version


def pins() -> dict[str, str]:
    lines = (PROJECT_DIR / "requirements.txt").read_text().splitlines()
    return dict(line.split("==", 1) for line in lines if "==" in line and not line.startswith("#"))


@pytest.fixture
def engine(tmp_path: Path) -> Path:
    """A stand-in for engine/build.sh's output: <key>/bin with its stamps/core beside it."""
    key = tmp_path / "cache" / "pulumi-v3.259.0-000000000000"
    (key / "stamps").mkdir(parents=True)
    (key / "stamps" / "core").write_text("pulumi v3.259.0\n")
    bin_dir = key / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text(STUB)
    for name in ON_PATH - {"pulumi"}:
        (bin_dir / name).write_text("#!/bin/sh\n")
    for name in ("random", "command"):
        (bin_dir / f"pulumi-resource-{name}").write_text(f"#!/bin/sh\n# {name}\n")
    for path in bin_dir.iterdir():
        path.chmod(0o755)
    return bin_dir


def run(tmp_path: Path, *args: str | Path) -> tuple[Path, list[str]]:
    """install-plugins.sh ARGS with PULUMI_HOME=tmp_path/home: the dir it prints, the installs so far."""
    env = {**os.environ, "PULUMI_HOME": str(tmp_path / "home")}
    done = subprocess.run([str(SCRIPT), *map(str, args)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    log = tmp_path / "home" / "installs.log"
    return Path(done.stdout.strip().splitlines()[-1]), log.read_text().splitlines() if log.exists() else []


def test_plugins_go_to_the_cache_at_the_sdks_versions(tmp_path: Path, engine: Path) -> None:
    path_dir, installs = run(tmp_path, engine)
    assert path_dir == engine.parent / "cli"
    expected = [f"{name} {sdk_plugin_version(name)} {engine}/pulumi-resource-{name}" for name in ("command", "random")]
    assert installs == expected
    # The SDKs ask for the versions requirements.txt pins.
    assert [line.split()[1] for line in installs] == [pins()["pulumi-command"], pins()["pulumi-random"]]

    # On PATH: the CLI, the language host and the bundled plugin, as links into bin; no other plugin.
    assert {p.name for p in path_dir.iterdir()} == ON_PATH
    for link in path_dir.iterdir():
        assert link.is_symlink() and not Path(os.readlink(link)).is_absolute(), link
        assert link.resolve() == engine / link.name

    # Installed already: nothing again, and the same dir, from either dir.
    assert run(tmp_path, engine) == (path_dir, installs)
    assert run(tmp_path, path_dir) == (path_dir, installs)


def test_a_rebuilt_plugin_is_installed_again(tmp_path: Path, engine: Path) -> None:
    """Rebuilt after it was installed: newer than the install, even at the same size."""
    _, before = run(tmp_path, engine)
    rebuilt = engine / "pulumi-resource-random"
    rebuilt.write_text(rebuilt.read_text().replace("random", "modnar"))
    _, after = run(tmp_path, engine)
    assert after == [*before, f"random {sdk_plugin_version('random')} {rebuilt}"]


def test_path_only_installs_nothing_and_drops_stale_links(tmp_path: Path, engine: Path) -> None:
    path_dir, _ = run(tmp_path, "--path-only", engine)
    (engine / "pulumi-language-python-exec").unlink()
    assert run(tmp_path, "--path-only", engine) == (path_dir, [])
    assert {p.name for p in path_dir.iterdir()} == ON_PATH - {"pulumi-language-python-exec"}


def test_an_installed_pulumi_is_left_as_it_is(tmp_path: Path, engine: Path) -> None:
    """A Pulumi install of its own (no build stamps beside it) downloads its plugins: its dir is
    printed unchanged and nothing is installed or linked."""
    system = tmp_path / "system" / "bin"
    system.mkdir(parents=True)
    for path in engine.iterdir():
        (system / path.name).write_bytes(path.read_bytes())
        (system / path.name).chmod(0o755)
    assert run(tmp_path, system) == (system, [])
    assert not (system.parent / "cli").exists()
