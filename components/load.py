"""The stack's loader: the config's own validation, then whether it fits its hosts, and
where the local stack's images come from (`apply_image_source`: it spans the images and
monitoring, so it lives here rather than in one concern's file).

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
from components.config import ConfigError, ImagesConfig, Problem, StackConfig
from components.config import load_stack_config as load_config
from components.config.images import IMAGE_SOURCE_ENV, IMAGE_SOURCES, LOCAL_IMAGES


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


def apply_image_source(config: StackConfig, stack: str, source: str | None) -> StackConfig:
    """The config with its images taken from `source` (None or "registry": unchanged)."""
    if source in (None, "", "registry"):
        return config
    if source not in IMAGE_SOURCES:
        allowed = ", ".join(repr(s) for s in IMAGE_SOURCES)
        raise ConfigError(stack, [Problem(IMAGE_SOURCE_ENV, f"got {source!r}; allowed: {allowed}")])
    if config.environment != "local":
        raise ConfigError(
            stack,
            [
                Problem(
                    IMAGE_SOURCE_ENV,
                    f"got {source!r} for a {config.environment} stack; allowed: 'local' only on the local stack",
                )
            ],
        )
    images = ImagesConfig.model_validate({**config.images.model_dump(), **LOCAL_IMAGES})
    monitoring = config.monitoring.model_copy(update={"grafana": False})
    return config.model_copy(update={"images": images, "monitoring": monitoring})
