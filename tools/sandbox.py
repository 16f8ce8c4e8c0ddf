"""A throwaway copy of the project for the real engine: its own file backend and PULUMI_HOME,
the engine first on PATH. The engine tests and the engine benchmark both run in one."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from components.config.stackfile import PROJECT_DIR, read_stack_file
from components.load import load_stack_config

Project = tuple[Path, dict[str, str]]


def copy_project(root: Path, bin_dir: Path, passphrase: str = "webstack-local-only") -> Project:
    """A copy of the project (tracked and new files, not ignored ones) under `root`, with its
    own file backend and PULUMI_HOME, and the engine in `bin_dir` first on PATH."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    copy = root / "project"
    for name in files.stdout.splitlines():
        source = PROJECT_DIR / name
        if source.is_file():
            target = copy / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (copy / "venv").symlink_to(PROJECT_DIR / "venv")
    return copy, engine_env(root, bin_dir, passphrase)


def third_party_root() -> dict[str, str]:
    """WEBSTACK_THIRD_PARTY for a copy of the project, which has no checkout beside it: the
    folder holding the upstream source snapshots that engine/third-party.sh finds from here."""
    found = subprocess.run(
        [str(PROJECT_DIR / "engine" / "third-party.sh"), "pulumi-command"], capture_output=True, text=True
    )
    return {"WEBSTACK_THIRD_PARTY": str(Path(found.stdout.strip()).parent)} if found.returncode == 0 else {}


def engine_env(root: Path, bin_dir: Path, passphrase: str) -> dict[str, str]:
    """The environment for the engine in `bin_dir` (what engine/ensure.sh or engine/build.sh
    printed): state in root/state (created), PULUMI_HOME in root/home with the resource plugins
    built here installed in it, no plugin downloads (there is nothing to download from here)."""
    (root / "state").mkdir(exist_ok=True)
    env = {
        **os.environ,
        **third_party_root(),
        "PULUMI_HOME": str(root / "home"),
        "PULUMI_BACKEND_URL": f"file://{root / 'state'}",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_CONFIG_PASSPHRASE": passphrase,
    }
    return {**env, "PATH": f"{install_plugins(bin_dir, env)}:{os.environ['PATH']}"}


def install_plugins(bin_dir: Path, env: dict[str, str]) -> str:
    """engine/install-plugins.sh: the resource plugins built here installed as Pulumi installs
    downloaded ones; the dir to put on PATH (the CLI and its language host, no plugin: no
    "using pulumi-resource-X from $PATH" warnings). An installed Pulumi's own dir is left as it is.

    One plugin cache per engine build (`<key>/pulumi-home`, 358 MB with kubernetes), which each
    sandbox's PULUMI_HOME links to as its `plugins`: the rest of a sandbox's PULUMI_HOME (its
    workspaces, logs) stays its own, without a copy of every plugin per sandbox."""
    shared = bin_dir.resolve().parent / "pulumi-home"
    done = subprocess.run(
        [str(PROJECT_DIR / "engine" / "install-plugins.sh"), str(bin_dir)],
        env={**env, "PULUMI_HOME": str(shared)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"engine/install-plugins.sh {bin_dir} failed:\n{done.stdout}\n{done.stderr}")
    home = Path(env["PULUMI_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if (shared / "plugins").is_dir() and not (home / "plugins").exists():
        (home / "plugins").symlink_to(shared / "plugins")
    return done.stdout.strip().splitlines()[-1]


def pulumi(project: Project, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    directory, env = project
    return subprocess.run(
        ["pulumi", *args, "--non-interactive"], cwd=directory, env=env, capture_output=True, text=True, timeout=timeout
    )


def checked(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(done.args)}:\n{done.stdout}\n{done.stderr}")
    return done


def secret_value(key: str) -> str:
    """A stand-in for a secret config value: long enough for every rule, easy to find."""
    return f"render-test-{key}-5f0c9a7e31d84b26"


def init_render_stack(project: Project, stack: str, out: Path) -> None:
    """Init a kubernetes stack that renders its manifests to `out`: no kubeconfig, no DNS (the
    Cloudflare plugin cannot be built here), every secret it needs set to a stand-in."""
    directory, _ = project
    checked(pulumi(project, "stack", "init", stack))
    checked(
        pulumi(project, "config", "set", "--path", "webstack:kubernetes.renderToDirectory", str(out), "--stack", stack)
    )
    checked(pulumi(project, "config", "set", "--path", "webstack:dns.enabled", "false", "--stack", stack))
    raw, secret_keys = read_stack_file(stack, directory)
    config = load_stack_config(stack, raw, secret_keys, placeholder_secrets=True)
    for key in config.required_secrets():
        checked(pulumi(project, "config", "set", "--secret", f"webstack:{key}", secret_value(key), "--stack", stack))
