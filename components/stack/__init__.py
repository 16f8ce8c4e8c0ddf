"""The stack: the only code that reads the whole config. It resolves the hosts or the
cluster, hands each component its slice (`slices.py`) and returns the outputs contract
(`outputs.py`); `__main__.py` only exports them.

- `on_hosts.py`: platform docker (VPS hosts over SSH);
- `on_cluster.py`: platform kubernetes (an existing cluster).
"""

from __future__ import annotations

from typing import Any

from components.config import StackConfig
from components.stack.on_cluster import build_cluster_stack
from components.stack.on_hosts import build_hosts_stack


def build_stack(config: StackConfig, stack: str) -> dict[str, Any]:
    """Declare every resource of a validated config; return the stack outputs."""
    if config.platform == "kubernetes":
        return build_cluster_stack(config, stack)
    return build_hosts_stack(config, stack)
