"""The tree's layout: the config package stands alone, and its files stay small."""

from __future__ import annotations

import subprocess
import sys

from components.config.stackfile import PROJECT_DIR

CONFIG_DIR = PROJECT_DIR / "components" / "config"
MAX_CONFIG_FILE_LINES = 600


def test_the_config_package_imports_nothing_of_capacity() -> None:
    """components.capacity imports the config's types: the config must not import it back."""
    code = (
        "import sys\n"
        "import components.config\n"
        "found = sorted(m for m in sys.modules if m == 'components.capacity' or m.startswith('components.capacity.'))\n"
        "print(','.join(found))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"import components.config imported {done.stdout.strip()}"


def test_no_config_file_is_over_600_lines() -> None:
    files = sorted(CONFIG_DIR.rglob("*.py"))
    assert files
    long = {
        str(p.relative_to(PROJECT_DIR)): n
        for p in files
        if (n := len(p.read_text().splitlines())) > MAX_CONFIG_FILE_LINES
    }
    assert long == {}, f"over {MAX_CONFIG_FILE_LINES} lines: {long}"
