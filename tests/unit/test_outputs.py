"""The outputs contract: what the program exports, docs/outputs.md and components/outputs.py agree."""

from __future__ import annotations

import re
import runpy
from typing import Any

import pytest

from components.config.stackfile import PROJECT_DIR, read_stack_file
from components.outputs import CAPACITY_FIGURES, CAPACITY_KEYS, CONTRACT, HOST_KEYS, SERVICE_KEYS
from tools.offline import Secret, run_offline, run_program
from tools.plan import main as plan_main

DOC = (PROJECT_DIR / "docs" / "outputs.md").read_text()


@pytest.mark.parametrize("stack", ["local", "staging", "production", "production-k8s"])
def test_outputs_match_the_contract(stack: str) -> None:
    outputs = run_offline(stack).outputs
    assert list(outputs) == [spec.name for spec in CONTRACT]
    for spec in CONTRACT:
        value = outputs[spec.name]
        assert isinstance(value, Secret) is spec.secret, spec.name
        if spec.keys:
            assert isinstance(value, dict) and tuple(value) == spec.keys, spec.name
    for host in outputs["hosts"]:
        assert tuple(host) == HOST_KEYS
    for service in outputs["services"].values():
        assert tuple(service) == SERVICE_KEYS
    assert list(outputs["capacity"]) == [h["name"] for h in outputs["hosts"]]
    for host in outputs["capacity"].values():
        assert tuple(host) == CAPACITY_KEYS
        for figures, keys in CAPACITY_FIGURES.items():
            assert host[figures] is None or tuple(host[figures]) == keys, figures
    assert set(outputs["monthlyCost"]["hosts"]) == set(outputs["capacity"])


def test_docs_list_every_output_and_key() -> None:
    rows = dict(re.findall(r"^\| `(\w+)` \| (no|\*\*yes\*\*) \|", DOC, flags=re.M))
    assert set(rows) == {spec.name for spec in CONTRACT}
    for spec in CONTRACT:
        assert (rows[spec.name] == "**yes**") is spec.secret, spec.name
        row = next(line for line in DOC.splitlines() if line.startswith(f"| `{spec.name}` |"))
        for key in (
            *spec.keys,
            *(HOST_KEYS if spec.name == "hosts" else ()),
            *(SERVICE_KEYS if spec.name == "services" else ()),
            *(CAPACITY_KEYS if spec.name == "capacity" else ()),
            *(k for keys in CAPACITY_FIGURES.values() for k in keys if spec.name == "capacity"),
        ):
            assert key in row, f"{spec.name}.{key} is not documented"


def test_main_exports_the_contract_under_mocks() -> None:
    raw, secrets = read_stack_file("local")
    declared, _ = run_program(
        "local", lambda: runpy.run_path(str(PROJECT_DIR / "__main__.py")), raw=raw, secret_keys=secrets
    )
    assert any(r.type == "webstack:edge:NginxEdge" for r in declared)


def test_main_stops_on_bad_config_before_any_resource() -> None:
    raw, secrets = read_stack_file("local")
    raw = {**raw, "webstack:edge": {**raw["webstack:edge"], "httpsPort": 99999}}
    holder: dict[str, Any] = {}

    def program() -> None:
        try:
            runpy.run_path(str(PROJECT_DIR / "__main__.py"))
        except SystemExit as stop:
            holder["message"] = str(stop)

    declared, _ = run_program("local", program, raw=raw, secret_keys=secrets)
    assert declared == []
    assert "webstack:edge.httpsPort" in holder["message"] and "stack 'local'" in holder["message"]


def test_plan_prints_tree_with_secrets_masked(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan_main(["production"]) == 0
    text = capsys.readouterr().out
    assert "webstack:NginxEdge edge" in text and "webstack:BackupJob backup" in text
    assert 'redisUrl: "[secret]"' in text
    assert "offline-placeholder" not in text
    assert plan_main(["nosuchstack"]) == 2
