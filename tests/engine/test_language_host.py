"""The official Python language host (engine/build.sh builds it from upstream's source, or an
installed Pulumi brings its own): what it does that users reach for, each through the real CLI.

Our own host, which this one replaced, answered "unimplemented" to code generation and ignored
the typechecker option; these tests fail on it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from components.config.stackfile import PROJECT_DIR
from tools.sandbox import engine_env

from .conftest import Project, engine_with, pulumi

pytestmark = pytest.mark.timeout(1800)

ENGINE = PROJECT_DIR / "engine"
PASSPHRASE = "language-host-test"


def pins() -> dict[str, str]:
    """requirements.txt's exact pins: package -> version."""
    lines = (PROJECT_DIR / "requirements.txt").read_text().splitlines()
    return dict(line.split("==", 1) for line in lines if "==" in line and not line.startswith("#"))


def tiny_project(root: Path, bin_dir: Path, program: str, options: dict[str, str] | None = None) -> Project:
    """A one-file Python project under root/project, run in this repository's venv unless the
    options say otherwise, with its own state and PULUMI_HOME."""
    directory = root / "project"
    directory.mkdir(parents=True)
    runtime = {"virtualenv": str(PROJECT_DIR / "venv"), **(options or {})}
    (directory / "Pulumi.yaml").write_text(
        "name: tiny\nruntime:\n  name: python\n  options:\n"
        + "".join(f"    {key}: {value}\n" for key, value in runtime.items())
    )
    (directory / "__main__.py").write_text(program)
    return directory, engine_env(root, bin_dir, PASSPHRASE)


def output_of(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


# pulumi about ------------------------------------------------------------------------------------


def test_about_lists_the_plugins_and_the_python_toolchain(project: Project) -> None:
    """`pulumi about`: the program's plugins (from its installed SDKs), the language host, and
    the Python toolchain the host found (interpreter, version, pip, typechecker)."""
    pulumi(project, "stack", "init", "local")
    about = output_of(pulumi(project, "about", "--stack", "local"))
    pinned = pins()
    for plugin in ("random", "command", "docker", "kubernetes", "cloudflare"):
        version = re.escape(pinned[f"pulumi-{plugin}"])
        assert re.search(rf"^resource\s+{plugin}\s+{version}\s*$", about, re.M), f"{plugin}:\n{about}"
    assert re.search(r"^language\s+python\s+v?3\.\d+\.\d+\s*$", about, re.M), about
    directory, _ = project
    line = re.search(r"^This project is written in python: (.*)$", about, re.M)
    assert line, about
    facts = dict(re.findall(r"(\w+)='([^']*)'", line[1]))  # the host's About metadata, in any order
    assert facts["executable"] == str(directory / "venv" / "bin" / "python"), facts
    assert re.fullmatch(r"3\.\d+\.\d+", facts["version"]), facts
    assert facts["toolchain"] == "Pip" and re.fullmatch(r"\d+(\.\d+)+", facts["toolchainVersion"]), facts
    assert facts["typechecker"] == "None", facts
    for package in ("pulumi-random", "pydantic", "mypy"):
        assert re.search(rf"^{package}\s+{re.escape(pinned[package])}\s*$", about, re.M), f"{package}:\n{about}"


# pulumi install ----------------------------------------------------------------------------------


def test_install_creates_the_venv_from_requirements(tmp_path: Path, engine_bin: Path) -> None:
    """`pulumi install` makes the project's virtualenv and installs requirements.txt into it (from
    PyPI); the program then runs in that venv."""
    project = tiny_project(
        tmp_path,
        engine_bin,
        "import sys\n\nimport pulumi\n\npulumi.export('prefix', sys.prefix)\n",
        {"toolchain": "pip", "virtualenv": "venv"},
    )
    directory, _ = project
    sdk = pins()["pulumi"]
    (directory / "requirements.txt").write_text(f"pulumi=={sdk}\n")
    assert not (directory / "venv").exists()

    pulumi(project, "install")
    python = directory / "venv" / "bin" / "python"
    assert python.exists()
    installed = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('pulumi'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert installed.stdout.strip() == sdk

    pulumi(project, "stack", "init", "dev")
    pulumi(project, "up", "--yes")
    assert pulumi(project, "stack", "output", "prefix").stdout.strip() == str(directory / "venv")


# typechecker: mypy -------------------------------------------------------------------------------

# The program leaves a file behind when it runs, so a test can tell whether it ran at all.
TYPED_PROGRAM = (
    "from pathlib import Path\n\nimport pulumi\n\nport: int = {}\nPath('ran').touch()\npulumi.export('port', port)\n"
)
BADLY_TYPED = TYPED_PROGRAM.format("'eighty'")
WELL_TYPED = TYPED_PROGRAM.format("80")
MYPY_ERROR = (
    '__main__.py:5: error: Incompatible types in assignment (expression has type "str", variable has type "int")'
)


@pytest.mark.parametrize(
    ("options", "program", "fails"),
    [
        ({"typechecker": "mypy"}, BADLY_TYPED, True),
        ({"typechecker": "mypy"}, WELL_TYPED, False),
        ({}, BADLY_TYPED, False),
    ],
    ids=["mypy-type-error", "mypy-clean", "no-typechecker"],
)
def test_typechecker_mypy_runs_before_the_program(
    tmp_path: Path, engine_bin: Path, options: dict[str, str], program: str, fails: bool
) -> None:
    """`typechecker: mypy` runs mypy over the project before the program: a type error stops the
    preview before the program runs, naming mypy and the error; without the option the same
    program runs."""
    project = tiny_project(tmp_path, engine_bin, program, options)
    directory, _ = project
    pulumi(project, "stack", "init", "dev")
    done = pulumi(project, "preview", check=False)
    output = output_of(done)
    if fails:
        assert done.returncode != 0
        assert "error: mypy failed: exit status 1" in output and MYPY_ERROR in output, output
        assert not (directory / "ran").exists()
    else:
        assert done.returncode == 0, output
        assert (directory / "ran").exists()
        assert ("Success: no issues found in 1 source file" in output) == bool(options), output


def test_typechecker_mypy_passes_on_this_project(project: Project) -> None:
    """The one-line switch docs/engine.md describes: with `typechecker: mypy` the real project's
    preview runs mypy over the whole project (what pyproject.toml configures) and still passes."""
    directory, _ = project
    pulumi_yaml = directory / "Pulumi.yaml"
    text = pulumi_yaml.read_text()
    assert "typechecker:" not in text
    pulumi_yaml.write_text(text.replace("    virtualenv: venv\n", "    virtualenv: venv\n    typechecker: mypy\n"))
    pulumi(project, "stack", "init", "local")
    done = pulumi(project, "preview", "--stack", "local", check=False)
    output = output_of(done)
    assert "mypy failed" not in output
    assert re.search(r"Success: no issues found in \d+ source files", output), output
    assert re.search(r"\+\s+webstack:\w+:VpsHost\s+\S+\s+create", output), output
    assert (directory / ".mypy_cache").is_dir()


# code generation: pulumi convert and pulumi import --generate-code -------------------------------

PET_PCL = """config "petLength" "int" {
  default = 2
}

resource pet "random:index/randomPet:RandomPet" {
  length = petLength
}

output petName {
  value = pet.id
}
"""


@pytest.fixture(scope="module")
def random_engine() -> Path:
    """The engine with the random plugin built here (engine/build.sh core random)."""
    return engine_with("random")


def test_convert_generates_a_python_project_that_runs(tmp_path: Path, random_engine: Path) -> None:
    """`pulumi convert --from pcl --language python`: the host's GenerateProject writes a Python
    project (program, Pulumi.yaml, requirements.txt with the plugin's SDK), which then deploys.
    PCL is the CLI's own format; other sources need converter plugins not built here."""
    env = engine_env(tmp_path, random_engine, PASSPHRASE)
    source = tmp_path / "pcl"
    source.mkdir()
    (source / "main.pp").write_text(PET_PCL)
    out = tmp_path / "out"
    done = pulumi(
        (source, env), "convert", "--from", "pcl", "--language", "python", "--out", str(out), "--generate-only"
    )
    assert "not implemented" not in output_of(done).lower()
    program = (out / "__main__.py").read_text()
    assert "import pulumi_random as random" in program, program
    assert 'random.RandomPet("pet", length=pet_length)' in program, program
    assert 'config.get_int("petLength")' in program and 'pulumi.export("petName", pet.id)' in program, program
    requirements = (out / "requirements.txt").read_text().split()
    assert f"pulumi-random=={pins()['pulumi-random']}" in requirements, requirements
    assert "runtime: python" in (out / "Pulumi.yaml").read_text()

    # Run it: in this repository's venv (which has pulumi-random), with the random plugin built here.
    (out / "Pulumi.yaml").write_text(
        f"name: converted\nruntime:\n  name: python\n  options:\n    virtualenv: {PROJECT_DIR / 'venv'}\n"
    )
    generated = (out, env)
    pulumi(generated, "stack", "init", "dev")
    pulumi(generated, "config", "set", "petLength", "3")
    pulumi(generated, "up", "--yes")
    name = pulumi(generated, "stack", "output", "petName").stdout.strip()
    assert re.fullmatch(r"[a-z]+-[a-z]+-[a-z]+", name), name


def test_import_generates_code_that_matches_the_state(tmp_path: Path, random_engine: Path) -> None:
    """`pulumi import --generate-code`: the import runs (random plugin built here) and the host's
    GenerateProgram writes Python for it; that code, as the program, previews with no changes."""
    project = tiny_project(tmp_path, random_engine, "import pulumi\n")
    directory, _ = project
    (directory / "import.json").write_text(
        json.dumps(
            {
                "resources": [
                    {
                        "type": "random:index/randomString:RandomString",
                        "name": "token",
                        "id": "s3cr3tV4lue",
                        "version": pins()["pulumi-random"],
                    }
                ]
            }
        )
    )
    pulumi(project, "stack", "init", "dev")
    done = pulumi(project, "import", "--file", "import.json", "--generate-code", "--out", "imported.py", "--yes")
    assert "not implemented" not in output_of(done).lower()
    code = (directory / "imported.py").read_text()
    assert "import pulumi_random as random" in code, code
    assert 'token = random.RandomString("token"' in code and "length=11" in code, code
    assert "protect=True" in code, code

    shutil.copy2(directory / "imported.py", directory / "__main__.py")
    done = pulumi(project, "preview", "--expect-no-changes")
    assert re.search(r"2 unchanged", done.stdout), done.stdout


# where the host's source is absent ---------------------------------------------------------------


def engine_scripts(root: Path) -> Path:
    """engine/'s scripts and the CLI's pins copied to root/repo/engine, away from any checkout
    (so engine/third-party.sh finds no ../shared/third_party beside it)."""
    engine = root / "repo" / "engine"
    (engine / "cli").mkdir(parents=True)
    for name in ("build.sh", "ensure.sh", "third-party.sh", "cli/go.mod", "cli/go.sum"):
        shutil.copy2(ENGINE / name, engine / name)
    return engine


def test_without_the_host_source_the_build_says_what_to_do(tmp_path: Path) -> None:
    """No snapshot and no installed Pulumi: build.sh (and ensure.sh through it) stop with exit 3,
    naming what is missing, where they looked, and the two ways out; no host of our own."""
    engine = engine_scripts(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "WEBSTACK_THIRD_PARTY"}
    env["PATH"] = os.pathsep.join(d for d in env["PATH"].split(os.pathsep) if not (Path(d) / "pulumi").exists())
    env["WEBSTACK_ENGINE_CACHE"] = str(tmp_path / "cache")
    for script in ("build.sh", "ensure.sh"):
        done = subprocess.run([str(engine / script)], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 3, f"{script}: {done.returncode}\n{done.stderr}"
        assert "no upstream source for pulumi-language-python" in done.stderr, done.stderr
        assert f"{tmp_path / 'repo'}/../shared/third_party/pulumi-language-python" in done.stderr, done.stderr
        assert "install Pulumi 3.259.0" in done.stderr and "WEBSTACK_THIRD_PARTY" in done.stderr, done.stderr
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("pulumi-language-python"))


def test_the_cache_key_covers_the_host_source(tmp_path: Path) -> None:
    """A changed byte in the host's source snapshot is a new cache key (a rebuild); a snapshot of
    another Pulumi version than the CLI's is refused."""
    engine = engine_scripts(tmp_path)
    snapshot = tmp_path / "third_party" / "pulumi-language-python"
    snapshot.mkdir(parents=True)
    (snapshot / "go.mod").write_text("module example.com/host\n")
    (snapshot / "main.go").write_text("package main\n\nfunc main() {}\n")
    (snapshot / "SOURCE.md").write_text("upstream: github.com/pulumi/pulumi, tag v3.259.0 (commit x)\n")
    env = {**os.environ, "WEBSTACK_THIRD_PARTY": str(tmp_path / "third_party")}
    env["WEBSTACK_ENGINE_CACHE"] = str(tmp_path / "cache")

    def bin_dir() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(engine / "build.sh"), "--print-bin"], env=env, capture_output=True, text=True, timeout=60
        )

    first = bin_dir()
    assert first.returncode == 0, first.stderr
    assert re.fullmatch(rf"{tmp_path / 'cache'}/pulumi-v3\.259\.0-[0-9a-f]{{12}}/bin\n", first.stdout), first.stdout
    assert bin_dir().stdout == first.stdout
    (snapshot / "main.go").write_text("package main\n\nfunc main() { println() }\n")
    second = bin_dir()
    assert second.returncode == 0 and second.stdout != first.stdout, second.stdout
    (snapshot / "SOURCE.md").write_text("upstream: github.com/pulumi/pulumi, tag v3.260.0 (commit x)\n")
    refused = bin_dir()
    assert refused.returncode != 0
    assert "does not name tag v3.259.0" in refused.stderr, refused.stderr
