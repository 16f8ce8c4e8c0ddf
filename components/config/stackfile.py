"""Read a `Pulumi.<stack>.yaml` file the way the engine would hand it to the program.

Pure (no Pulumi import). Offline there is no secrets provider to decrypt `secure:`
values, so each becomes a placeholder and its key is reported as secret, exactly as the
engine reports a secret key; the values themselves never matter offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from components.config.base import ConfigError
from components.config.load import placeholder_secret

PROJECT_DIR = Path(__file__).resolve().parents[2]


def stack_file(stack: str, project_dir: Path = PROJECT_DIR) -> Path:
    return project_dir / f"Pulumi.{stack}.yaml"


def stack_names(project_dir: Path = PROJECT_DIR) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


# What an offline tool cannot load a stack for: its message is the tool's whole answer (exit 2).
LOAD_ERRORS = (ConfigError, FileNotFoundError)


def load_error_message(stack: str, error: Exception) -> str:
    """One line (or ConfigError's list) for a stack that cannot be loaded."""
    if isinstance(error, FileNotFoundError):
        return f"no stack file for {stack!r}: {error.filename}"
    return str(error)


def read_stack_file(stack: str, project_dir: Path = PROJECT_DIR) -> tuple[dict[str, Any], set[str]]:
    """Return (config, secret keys) of a stack file; `secure:` values become placeholders."""
    path = stack_file(stack, project_dir)
    document = yaml.safe_load(path.read_text()) or {}
    raw: dict[str, Any] = {}
    secret_keys: set[str] = set()
    for key, value in (document.get("config") or {}).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            raw[key] = placeholder_secret(stack, key.partition(":")[2])
            secret_keys.add(key)
        else:
            raw[key] = value
    return raw, secret_keys
