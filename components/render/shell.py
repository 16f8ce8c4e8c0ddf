"""One Jinja2 environment for every shell script template under render/templates/.

Strict (an undefined name is an error), `shquote` for every interpolated value, and
Jinja comments as `{## ##}` so bash's `${#array[@]}` is left alone. Built once.
"""

from __future__ import annotations

import functools
import shlex
from pathlib import Path

import jinja2

TEMPLATE_DIR = Path(__file__).with_name("templates")


def shquote(value: object) -> str:
    return shlex.quote(str(value))


@functools.cache
def shell_templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        comment_start_string="{##",
        comment_end_string="##}",
    )
    env.filters["shquote"] = shquote
    return env
