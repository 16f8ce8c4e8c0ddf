"""Per-stack pack config (policy/config/<stack>.json), resolved the way the Pulumi CLI does.

The file is what `--policy-pack-config` takes: `{"all": "<level>", "<policy>": "<level>" |
{"enforcementLevel": "<level>", "<property>": <value>, ...}}`. The CLI starts from each
policy's default level and schema defaults, applies `all`, then each policy's entry, and
validates the result against the schema; `resolve` does the same (and, stricter than the
CLI, refuses unknown policy names and properties, to catch typos).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi_policy import EnforcementLevel, Policy

CONFIG_DIR = Path(__file__).resolve().parent / "config"
LEVELS = {level.value: level for level in EnforcementLevel}


class PackConfigError(Exception):
    """A pack config file that the CLI would refuse (or that names no such policy)."""


@dataclass(frozen=True)
class PolicySettings:
    level: EnforcementLevel
    properties: dict[str, Any] = field(default_factory=dict)


def config_path(stack: str) -> Path:
    return CONFIG_DIR / f"{stack}.json"


def load(path: Path) -> dict[str, Any]:
    text = path.read_text()
    if not text.strip():
        return {}
    document = json.loads(text)
    if not isinstance(document, dict):
        raise PackConfigError(f"{path}: a JSON object of policy name -> level or settings")
    return document


def _level(where: str, value: Any) -> EnforcementLevel:
    if not isinstance(value, str) or value not in LEVELS:
        raise PackConfigError(f"{where}: {value!r} is not an enforcement level ({', '.join(LEVELS)})")
    return LEVELS[value]


def _check(where: str, spec: Mapping[str, Any], value: Any) -> None:
    kind = spec.get("type")
    ok = {
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "array": isinstance(value, list),
        None: True,
    }.get(kind, True)
    if not ok:
        raise PackConfigError(f"{where}: {value!r} is not of type {kind}")
    if "enum" in spec and value not in spec["enum"]:
        raise PackConfigError(f"{where}: {value!r} is not one of {spec['enum']}")
    if "minimum" in spec and isinstance(value, int | float) and value < spec["minimum"]:
        raise PackConfigError(f"{where}: {value!r} is below the minimum {spec['minimum']}")
    if kind == "array" and isinstance(spec.get("items"), Mapping):
        for index, item in enumerate(value):
            _check(f"{where}[{index}]", spec["items"], item)


def resolve(
    policies: Sequence[Policy], config: Mapping[str, Any], default: EnforcementLevel
) -> dict[str, PolicySettings]:
    """Each policy's enforcement level and properties under a pack config."""
    names = {p.name for p in policies}
    unknown = sorted(set(config) - names - {"all"})
    if unknown:
        raise PackConfigError(f"no such policy: {', '.join(unknown)} (policies: {', '.join(sorted(names))})")
    all_level = _level("all", config["all"]) if "all" in config else None
    out: dict[str, PolicySettings] = {}
    for policy in policies:
        schema = dict(policy.config_schema.properties) if policy.config_schema else {}
        level = all_level or policy.enforcement_level or default
        properties = {k: spec["default"] for k, spec in schema.items() if "default" in spec}
        entry = config.get(policy.name)
        if isinstance(entry, str):
            level = _level(policy.name, entry)
        elif isinstance(entry, Mapping):
            for key, value in entry.items():
                if key == "enforcementLevel":
                    level = _level(f"{policy.name}.enforcementLevel", value)
                elif key not in schema:
                    allowed = ", ".join(sorted(schema)) or "none"
                    raise PackConfigError(f"{policy.name}.{key}: no such property (allowed: {allowed})")
                else:
                    properties[key] = value
        elif entry is not None:
            raise PackConfigError(f"{policy.name}: a level or an object, not {entry!r}")
        for key, value in properties.items():
            _check(f"{policy.name}.{key}", schema[key], value)
        out[policy.name] = PolicySettings(level=level, properties=properties)
    return out
