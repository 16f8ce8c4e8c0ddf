"""The stack's loader: the config's own validation, then whether it fits its hosts, and
where the local stack's images come from (`imageSource`: it spans the images and
monitoring, so it is applied here rather than in one concern's file).

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
from components.config import ImagesConfig, StackConfig
from components.config import load_stack_config as load_config
from components.config.images import LOCAL_IMAGES


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
    """Validate the `webstack:*` config of one stack, and that it fits its hosts (one ConfigError);
    with `imageSource: local`, the local image set in place of the pinned images."""
    config = load_config(stack, raw, secret_keys, placeholder_secrets=placeholder_secrets, checks=(capacity_problems,))
    return with_image_source(config)


def with_image_source(config: StackConfig) -> StackConfig:
    """The config with its images from `imageSource` (validated: `local` only on the local
    stack): the local image set, and no Grafana (Debian has none)."""
    if config.image_source != "local":
        return config
    images = ImagesConfig.model_validate({**config.images.model_dump(), **LOCAL_IMAGES})
    monitoring = config.monitoring.model_copy(update={"grafana": False})
    return config.model_copy(update={"images": images, "monitoring": monitoring})
