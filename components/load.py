"""The stack's loader: the config's own validation, then whether it fits its hosts.

`load_stack_config` is components.config's loader with the capacity check
(components.capacity) passed in as a check: it runs once every key is valid and every host a
key names exists, and its problems join the config's in the same `ConfigError`. Callers that
load a stack (the program, the policy pack, the tools, the benches and the tests) import it
from here; components.config itself imports nothing of components.capacity.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from components.capacity import capacity_report
from components.config import StackConfig
from components.config import load_stack_config as load_config


def capacity_problems(config: StackConfig) -> list[tuple[str, str]]:
    """(key, detail) for each host the stack's containers do not fit."""
    return capacity_report(config).problems()


def load_stack_config(
    stack: str,
    raw: Mapping[str, Any],
    secret_keys: Collection[str],
    *,
    placeholder_secrets: bool = False,
) -> StackConfig:
    """Validate the `webstack:*` config of one stack, and that it fits its hosts (one ConfigError)."""
    return load_config(stack, raw, secret_keys, placeholder_secrets=placeholder_secrets, checks=(capacity_problems,))
