"""Per-stack pack config: the files resolve as the CLI would, and bad ones are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi_policy import EnforcementLevel

from policy.packconfig import CONFIG_DIR, PackConfigError, load, resolve
from policy.registry import PACK_ENFORCEMENT, POLICIES, POLICY_NAMES

MANDATORY, ADVISORY, DISABLED = EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY, EnforcementLevel.DISABLED


def resolved(stack: str) -> dict[str, EnforcementLevel]:
    settings = resolve(POLICIES, load(CONFIG_DIR / f"{stack}.json"), PACK_ENFORCEMENT)
    return {name: s.level for name, s in settings.items()}


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_every_config_file_resolves(path: Path) -> None:
    settings = resolve(POLICIES, load(path), PACK_ENFORCEMENT)
    assert set(settings) == set(POLICY_NAMES)


def test_production_makes_every_policy_mandatory() -> None:
    assert set(resolved("production").values()) == {MANDATORY}
    assert set(resolved("staging").values()) == {MANDATORY}


def test_local_relaxes_some_policies() -> None:
    levels = resolved("local")
    assert levels["nginx-hsts"] == ADVISORY and levels["container-healthcheck"] == ADVISORY
    assert levels["host-firewall-enabled"] == DISABLED and levels["cloudflare-zone-tls"] == DISABLED
    assert levels["no-weak-secrets"] == MANDATORY and levels["internal-services-not-public"] == MANDATORY


def test_defaults_and_overrides() -> None:
    settings = resolve(POLICIES, {}, PACK_ENFORCEMENT)
    assert settings["nginx-hsts"].level == MANDATORY
    assert settings["nginx-hsts"].properties == {"minMaxAge": 31_536_000}
    custom = resolve(
        POLICIES,
        {"all": "advisory", "nginx-hsts": {"enforcementLevel": "mandatory", "minMaxAge": 600}},
        PACK_ENFORCEMENT,
    )
    assert custom["nginx-hsts"].level == MANDATORY and custom["nginx-hsts"].properties["minMaxAge"] == 600
    assert custom["nginx-tls-protocols"].level == ADVISORY


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"nginx-hstss": "mandatory"}, "no such policy: nginx-hstss"),
        ({"all": "strict"}, "not an enforcement level"),
        ({"nginx-hsts": {"maxAge": 1}}, "no such property"),
        ({"nginx-hsts": {"minMaxAge": "a year"}}, "not of type integer"),
        ({"nginx-hsts": {"minMaxAge": -1}}, "below the minimum"),
        ({"nginx-tls-protocols": {"allowedProtocols": ["TLSv1"]}}, "not one of"),
        ({"nginx-hsts": 5}, "a level or an object"),
    ],
)
def test_bad_config_is_refused(config: dict[str, object], message: str) -> None:
    with pytest.raises(PackConfigError, match=message):
        resolve(POLICIES, config, PACK_ENFORCEMENT)


def test_config_files_are_json_objects() -> None:
    for path in CONFIG_DIR.glob("*.json"):
        assert isinstance(json.loads(path.read_text()), dict)
