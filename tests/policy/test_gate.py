"""The offline gate: passes on every stack file, prints violations, exits non-zero on a mandatory one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from components.config.stackfile import PROJECT_DIR, stack_names
from policy.gate import main, run_gate

pytestmark = pytest.mark.timeout(180)


@pytest.mark.parametrize("stack", stack_names())
def test_gate_passes_on_every_stack_file(stack: str) -> None:
    result = run_gate(stack)
    assert result.passed, "\n".join(f"{v.policy}: {v.resource}: {v.message}" for v in result.mandatory)
    assert result.config_file and result.config_file.endswith(f"policy/config/{stack}.json")
    assert result.resources > 30


def test_gate_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["staging"]) == 0
    out = capsys.readouterr().out
    assert "policy gate: stack staging" in out and "PASS: 0 mandatory" in out
    assert main(["staging", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["passed"] is True and document["violations"] == []


def test_mandatory_violation_fails_and_advisory_does_not(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps({"nginx-hsts": {"minMaxAge": 63072000}}))
    assert main(["production", "--config", str(strict)]) == 1
    out = capsys.readouterr().out
    assert (
        "[mandatory] nginx-hsts: command:remote:Command 'edge-conf' (edge nginx.conf):" in out
        and "FAIL: 1 mandatory" in out
    )
    strict.write_text(json.dumps({"nginx-hsts": {"enforcementLevel": "advisory", "minMaxAge": 63072000}}))
    assert main(["production", "--config", str(strict)]) == 0
    assert "[advisory] nginx-hsts" in capsys.readouterr().out
    strict.write_text(json.dumps({"nginx-hsts": {"enforcementLevel": "disabled", "minMaxAge": 63072000}}))
    assert main(["production", "--config", str(strict)]) == 0
    assert "nginx-hsts" not in capsys.readouterr().out


def test_bad_inputs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"no-such-policy": "mandatory"}))
    assert main(["production", "--config", str(bad)]) == 2
    assert main(["no-such-stack"]) == 2
    assert main(["production", "--config", str(tmp_path / "missing.json")]) == 2
    assert "no such policy" in capsys.readouterr().err


def test_gate_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "policy.gate", "local"], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS" in done.stdout
