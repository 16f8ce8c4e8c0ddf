"""The real Pulumi engine built here (engine/), running this program.

The CLI and the official Python language host are built here (or taken from a Pulumi install
on PATH); the provider plugins are built by `engine/build.sh NAME` when a test asks for them.
These tests prove that the engine reads the stack config, passes which keys are secret, runs
the program through the language host and registers the components, and that bad config stops
everything first. What the official host adds is in test_language_host.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from components.config.stackfile import PROJECT_DIR
from tools.sandbox import engine_env

from .conftest import Project, pulumi

pytestmark = pytest.mark.timeout(1800)

COMPONENTS = ("VpsHost", "NginxEdge", "AppTier", "RedisCache", "MonitoringStack", "BackupJob")
STAGING_SECRETS = (
    "sshPrivateKey",
    "cloudflareApiToken",
    "databaseUrl",
    "alertWebhookUrl",
    "backupPassword",
    "backupAccessKeyId",
    "backupSecretAccessKey",
    "jwtSecret",
)


def test_engine_version(project: Project) -> None:
    version = pulumi(project, "version").stdout.strip()
    assert re.fullmatch(r"v3\.\d+\.\d+", version), version


def test_engine_smoke(engine_bin: Path, tmp_path: Path) -> None:
    """engine/smoke-test.sh: up, outputs, secrets and a policy pack through the built engine."""
    done = subprocess.run(
        [str(PROJECT_DIR / "engine" / "smoke-test.sh")],
        env={**os.environ, "WORK": str(tmp_path / "smoke")},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    summary = re.search(r"(\d+) passed, (\d+) failed", done.stdout)
    assert summary, done.stdout + done.stderr
    assert int(summary[2]) == 0 and int(summary[1]) >= 5, done.stdout
    assert done.returncode == 0


def test_local_stack_needs_no_stack_file_change(project: Project) -> None:
    """The committed encryptionsalt matches the documented local passphrase."""
    directory, _ = project
    before = (directory / "Pulumi.local.yaml").read_text()
    pulumi(project, "stack", "init", "local")
    pulumi(project, "config", "get", "webstack:environment", "--stack", "local")
    assert (directory / "Pulumi.local.yaml").read_text() == before


def test_bad_config_stops_before_any_resource(project: Project) -> None:
    pulumi(project, "stack", "init", "local")
    pulumi(project, "config", "set", "--path", "webstack:edge.httpsPort", "99999", "--stack", "local")
    done = pulumi(project, "preview", "--stack", "local", check=False)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "invalid config for stack 'local'" in output
    assert "webstack:edge.httpsPort: got 99999; allowed: a number <= 65535" in output
    assert "VpsHost" not in output and "NginxEdge" not in output


def test_plaintext_secret_is_refused_by_the_program(project: Project) -> None:
    """The engine tells the program which keys are secret; a plaintext one stops it."""
    _, env = project
    env["PULUMI_CONFIG_PASSPHRASE"] = "staging-test-passphrase"
    pulumi(project, "stack", "init", "staging")
    for key in STAGING_SECRETS:
        pulumi(
            project, "config", "set", "--secret", f"webstack:{key}", f"value-of-{key}-0123456789", "--stack", "staging"
        )
    pulumi(
        project, "config", "set", "--plaintext", "webstack:jwtSecret", "plaintext-jwt-0123456789", "--stack", "staging"
    )
    done = pulumi(project, "preview", "--stack", "staging", check=False)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "webstack:jwtSecret: holds a plaintext value" in output
    assert "NginxEdge" not in output


def test_program_runs_to_the_providers(project: Project) -> None:
    """With valid config the engine runs the program and registers every component."""
    pulumi(project, "stack", "init", "local")
    done = pulumi(project, "preview", "--stack", "local", check=False)
    output = done.stdout + done.stderr
    for component in COMPONENTS:
        assert re.search(rf"\+\s+webstack:\w+:{component}\s+\S+\s+create", output), f"{component}:\n{output}"
    if done.returncode != 0:
        # Only a provider plugin that cannot be had here may stop it (engine/NOTES.md).
        errors = [line for line in output.splitlines() if "error:" in line]
        assert errors and all("no resource plugin 'pulumi-resource-" in line for line in errors), output


@pytest.fixture(scope="session")
def policy_project(tmp_path_factory: pytest.TempPathFactory, engine_bin: Path, policy_venv: Path) -> Project:
    """A tiny project named webstack beside a copy of the policy pack and of components/ (the
    pack reads the stack's config with the program's own models: the budget policy sizes
    the hosts as the program does)."""
    root = tmp_path_factory.mktemp("policy-project")
    shutil.copytree(PROJECT_DIR / "policy", root / "policy", ignore=shutil.ignore_patterns("venv", "__pycache__"))
    (root / "policy" / "venv").symlink_to(policy_venv)
    shutil.copytree(PROJECT_DIR / "components", root / "components", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "Pulumi.yaml").write_text(
        f"name: webstack\nruntime:\n  name: python\n  options:\n    virtualenv: {PROJECT_DIR / 'venv'}\n"
    )
    (root / "__main__.py").write_text(
        "import pulumi\n"
        "from pulumi.dynamic import CreateResult, Resource, ResourceProvider\n\n\n"
        "class Echo(ResourceProvider):\n"
        "    def create(self, props):\n"
        "        return CreateResult(id_='echo', outs=props)\n\n\n"
        "class Thing(Resource):\n"
        "    def __init__(self, name, props):\n"
        "        super().__init__(Echo(), name, props)\n\n\n"
        "Thing('echo', {'text': 'hello'})\n"
        "pulumi.export('ok', True)\n"
    )
    env = engine_env(root, engine_bin, "policy-test-passphrase")
    pulumi((root, env), "stack", "init", "local")
    return root, env


def _preview_with_pack(project: Project) -> subprocess.CompletedProcess[str]:
    return pulumi(
        project,
        "preview",
        "--stack",
        "local",
        "--policy-pack",
        "policy",
        "--policy-pack-config",
        "policy/config/local.json",
        check=False,
    )


def test_policy_pack_runs_under_the_engine(policy_project: Project) -> None:
    """`pulumi preview --policy-pack policy`: the pack loads, runs and passes a clean stack."""
    pulumi(policy_project, "config", "rm", "webstack:jwtSecret", "--stack", "local", check=False)
    done = _preview_with_pack(policy_project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "webstack-guardrails" in done.stdout


def test_policy_pack_under_the_engine_catches_a_plaintext_secret(policy_project: Project) -> None:
    """The engine tells the pack which config keys are secret: a plaintext one is a violation."""
    pulumi(
        policy_project, "config", "set", "--plaintext", "webstack:jwtSecret", "changeme-jwt-value", "--stack", "local"
    )
    done = _preview_with_pack(policy_project)
    assert done.returncode != 0
    assert "stack-config-no-plaintext-secrets" in done.stdout
    assert "webstack:jwtSecret" in done.stdout
    pulumi(policy_project, "config", "set", "--secret", "webstack:jwtSecret", "changeme-jwt-value", "--stack", "local")
    done = _preview_with_pack(policy_project)
    assert done.returncode == 0, done.stdout + done.stderr
