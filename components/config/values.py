"""Plain facts about config values, with no dependency (the policy pack imports them too).

- `decode_config_value`: the engine hands structured config values over as JSON text;
- `image_is_pinned`: whether an image reference names a digest, or a tag other than `latest`.
"""

from __future__ import annotations

import json
from typing import Any


def decode_config_value(value: Any) -> Any:
    """A structured config value (JSON text from the engine) as data; other values as they are."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def image_is_pinned(ref: str) -> bool:
    """True when an image reference names a digest, or a tag other than `latest`."""
    if "@sha256:" in ref:
        return True
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    return last.rsplit(":", 1)[1] not in ("", "latest")
