"""The tree's layout (docs/layout.md): the layers' walls, no import cycle, files that stay small."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

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


# The walls between the layers (docs/layout.md).
COMPONENTS = PROJECT_DIR / "components"
# The component modules: each takes its own slice of the config, never the whole.
COMPONENT_FILES = [
    *(p for p in COMPONENTS.glob("*.py") if p.name not in {"__init__.py", "load.py", "outputs.py"}),
    *(COMPONENTS / "monitoring").glob("*.py"),
]
# Pure layers: no Pulumi import, so they can be tested and reused without an engine.
PURE_DIRS = ("config", "capacity", "render")
MAX_SOURCE_LINES = 600


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_DIR).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, known: set[str]) -> set[str]:
    """The project modules `path` imports (a `from pkg import sub` of a submodule counts as sub)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return found & known


def test_no_import_cycle_in_components() -> None:
    files = {_module_name(p): p for p in COMPONENTS.rglob("*.py")}
    graph = {name: _imports(path, set(files)) - {name} for name, path in files.items()}
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            cycle = [*trail[trail.index(name) :], name]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, [*trail, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    assert len(done) == len(files) > 50


def test_no_component_reads_the_whole_config() -> None:
    """Only components/stack/ (and the loader) see StackConfig; a component gets its slice."""
    assert len(COMPONENT_FILES) >= 10
    readers = sorted(
        str(p.relative_to(PROJECT_DIR)) for p in COMPONENT_FILES if re.search(r"\bStackConfig\b", p.read_text())
    )
    assert readers == []


def test_pure_layers_import_no_pulumi() -> None:
    files = [p for d in PURE_DIRS for p in (COMPONENTS / d).rglob("*.py")]
    assert len(files) > 30
    impure = [
        str(p.relative_to(PROJECT_DIR))
        for p in files
        if re.search(r"^\s*(import pulumi|from pulumi)", p.read_text(), flags=re.MULTILINE)
    ]
    assert impure == []


def test_no_source_file_is_over_600_lines() -> None:
    files = [
        p for d in ("components", "tools", "policy") for p in (PROJECT_DIR / d).rglob("*.py") if "venv" not in p.parts
    ]
    files.append(PROJECT_DIR / "__main__.py")
    long = {
        str(p.relative_to(PROJECT_DIR)): n for p in files if (n := len(p.read_text().splitlines())) > MAX_SOURCE_LINES
    }
    assert long == {}, f"over {MAX_SOURCE_LINES} lines: {long}"


def test_every_import_of_the_program_names_a_module_that_exists() -> None:
    """After a move, no file (tests, tools, benches, policy) still imports an old path."""
    files = [
        p
        for p in PROJECT_DIR.rglob("*.py")
        if not {"venv", ".git", ".state", "node_modules"} & set(p.relative_to(PROJECT_DIR).parts)
    ]
    missing = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module]
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            for name in names:
                if name.split(".")[0] not in {"components", "tools", "policy", "tests", "bench"}:
                    continue
                target = PROJECT_DIR.joinpath(*name.split("."))
                if not (target.with_suffix(".py").exists() or (target / "__init__.py").exists()):
                    missing.append(f"{path.relative_to(PROJECT_DIR)}: {name}")
    assert missing == []
