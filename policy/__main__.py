"""Entry point of the policy pack: `pulumi preview --policy-pack policy` runs this file.

The engine runs it with policy/ as the working directory and sys.path[0], where `policy`
is not an importable package; putting the project directory first makes `policy.*` (the
same modules the tests and the offline gate import) resolve in both modes.
"""

from __future__ import annotations

import sys
from pathlib import Path

_PROJECT = str(Path(__file__).resolve().parent.parent)
if _PROJECT not in sys.path:
    sys.path.insert(0, _PROJECT)

from policy.registry import build_pack  # noqa: E402

build_pack()
