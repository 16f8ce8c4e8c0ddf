"""Secret values never sit in plain stack config: the stack files, the config the program reads, the policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.config.stackfile import PROJECT_DIR, read_stack_file, stack_names
from policy.common import is_secret_name
from policy.secrets_rules import stack_config_no_plaintext_secrets
from policy.stack_config import config_source, engine_stack_config, plaintext_secret_findings
from tests.policy.helpers import STACKS, Reports, base_run, stack_args

pytestmark = pytest.mark.timeout(120)


def test_every_stack_file_is_checked() -> None:
    assert set(STACKS) <= set(stack_names())


@pytest.mark.parametrize("stack", stack_names())
def test_stack_files_hold_no_plaintext_secret(stack: str) -> None:
    raw, secret_keys = read_stack_file(stack)
    assert plaintext_secret_findings(raw, secret_keys) == []


@pytest.mark.parametrize("stack", STACKS)
def test_the_config_the_program_reads_has_no_secret_in_plain_env(stack: str) -> None:
    config = base_run(stack).config
    for name, service in config.services.items():
        leaked = [key for key in service.env if is_secret_name(key)]
        assert leaked == [], f"{stack}: service {name} has secret-named plain env {leaked}; use secretEnv"


@pytest.mark.parametrize(
    ("key", "value", "expect"),
    [
        ("webstack:jwtSecret", "k7Qp2Vx9Lm4Rt8Wz3Nb6Yc1Hd5Fg0Js", "secret-named key 'jwtSecret'"),
        ("cloudflare:apiToken", "abc", "secret-named key 'apiToken'"),
        (
            "webstack:services",
            {"backend": {"env": {"JWT_SECRET": "x" * 40}}},
            "webstack:services.backend.env.JWT_SECRET",
        ),
        (
            "webstack:backup",
            {"repository": "rest:https://user:hunter22@backup.example.com/repo"},
            "a URL with a password",
        ),
        ("webstack:notes", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n", "a private key"),
        ("webstack:ci", "ghp_" + "a" * 36, "a GitHub token"),
    ],
)
def test_findings(key: str, value: Any, expect: str) -> None:
    findings = plaintext_secret_findings({key: value}, set())
    assert len(findings) == 1 and expect in findings[0], findings
    assert "hunter22" not in findings[0] and "k7Qp2V" not in findings[0]
    assert plaintext_secret_findings({key: value}, {key}) == [], "a secret key is fine"


def test_secret_refs_and_plain_values_are_fine() -> None:
    services = {
        "backend": {
            "env": {"LOG_LEVEL": "info"},
            "secretEnv": {"JWT_SECRET": {"config": "jwtSecret"}, "S": {"generate": 64}},
        }
    }
    assert plaintext_secret_findings({"webstack:services": json.dumps(services)}, set()) == []


def run_policy(config: dict[str, Any], secret_keys: set[str]) -> Reports:
    reports = Reports()
    with config_source(config, secret_keys):
        stack_config_no_plaintext_secrets(stack_args([]), reports)
    return reports


def test_the_policy_reports_each_finding_with_its_fix() -> None:
    raw, secret_keys = read_stack_file("production")
    assert not run_policy(raw, secret_keys)
    raw["webstack:services"]["backend"]["env"]["JWT_SECRET"] = "x" * 40
    raw["webstack:jwtSecret"] = "y" * 40
    reports = run_policy(raw, secret_keys)
    assert len(reports.messages) == 2
    assert "secretEnv" in reports.text() and "pulumi config set --secret webstack:jwtSecret" in reports.text()


def test_engine_source_reads_pulumi_config_and_the_stack_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "policy").mkdir(parents=True)
    (project / "Pulumi.yaml").write_text("name: webstack\n")
    (project / "Pulumi.prod.yaml").write_text(
        "config:\n  webstack:jwtSecret:\n    secure: AAEAAQ==\n  cloudflare:apiToken: plaintext-token\n"
    )
    monkeypatch.chdir(project / "policy")
    monkeypatch.setenv("PULUMI_STACK", "org/webstack/prod")
    engine = {
        "webstack:jwtSecret": "decrypted-by-the-engine-0123456789",
        "cloudflare:apiToken": "plaintext-token",
        "webstack:services": json.dumps({"backend": {"env": {"API_KEY": "z" * 30}}}),
        "webstack:fromEsc": "value-from-an-environment",
    }
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(engine))
    source = engine_stack_config()
    assert source is not None
    config, secret_keys = source
    assert secret_keys == {"webstack:jwtSecret", "webstack:fromEsc"}
    findings = plaintext_secret_findings(config, secret_keys)
    assert sorted(f.split(":")[0] + ":" + f.split(":")[1].split(".")[0] for f in findings) == [
        "cloudflare:apiToken",
        "webstack:services",
    ]


def test_engine_source_without_config_is_none(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    monkeypatch.delenv("PULUMI_STACK", raising=False)
    assert engine_stack_config() is None
    reports = Reports()
    stack_config_no_plaintext_secrets(stack_args([]), reports)
    assert not reports


def test_project_dir_is_the_stack_files_home() -> None:
    assert (PROJECT_DIR / "Pulumi.yaml").is_file()
