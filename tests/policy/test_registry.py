"""The registry: unique names, descriptions from docstrings, valid schemas, documented in the README."""

from __future__ import annotations

import re

from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

from components.config.stackfile import PROJECT_DIR
from policy.packconfig import CONFIG_DIR, load, resolve
from policy.registry import PACK_ENFORCEMENT, POLICIES, POLICY_NAMES, schema_of


def test_names_are_unique_and_well_formed() -> None:
    assert len(POLICY_NAMES) == len(set(POLICY_NAMES)) == 28
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", n) for n in POLICY_NAMES)


def test_every_policy_is_a_documented_plain_function() -> None:
    for policy in POLICIES:
        assert isinstance(policy, ResourceValidationPolicy | StackValidationPolicy)
        assert len(policy.description) > 40, policy.name
        assert policy.severity is not None and policy.tags


def test_schema_defaults_are_valid_config() -> None:
    settings = resolve(POLICIES, {}, PACK_ENFORCEMENT)
    for name in POLICY_NAMES:
        assert set(settings[name].properties) <= set(schema_of(name))
        for key, spec in schema_of(name).items():
            assert spec.get("description"), f"{name}.{key} has no description"


def test_readme_documents_every_policy_and_its_levels() -> None:
    readme = (PROJECT_DIR / "README.md").read_text()
    section = readme[readme.index("## Policy pack") :]
    rows = {
        m.group(1): [c.strip() for c in m.group(2).split("|")][-3:]
        for m in re.finditer(r"^\| `([a-z0-9-]+)` \| (.*) \|$", section, re.MULTILINE)
    }
    assert sorted(n for n in rows if n in POLICY_NAMES) == sorted(POLICY_NAMES)
    for index, stack in enumerate(("local", "staging", "production")):
        levels = resolve(POLICIES, load(CONFIG_DIR / f"{stack}.json"), PACK_ENFORCEMENT)
        for name in POLICY_NAMES:
            assert rows[name][index] == levels[name].level.value, (stack, name)
    assert "python -m policy.gate" in section and "--policy-pack policy" in section
