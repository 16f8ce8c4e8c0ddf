"""production-k8s through the real engine: the kubernetes provider, built from the Go module
proxy (engine/plugins/kubernetes), in render-to-directory mode writes the stack's manifests
to a folder; every manifest there validates against the Kubernetes schemas and matches the
objects the program declares under mocks; the policy pack passes the stack and catches an
Ingress without TLS and a Deployment without limits.

Cloudflare's provider cannot be built here (engine/NOTES.md), so the stack renders with
`dns.enabled: false`; the records it would add are covered under mocks (tests/unit).
"""

from __future__ import annotations

import re
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.test_kubernetes import _k8s, manifest, offline, validate_manifest_dir, write_manifest_dir
from tools.sandbox import init_render_stack, secret_value

from .conftest import Project, copy_project, engine_with, pulumi

pytestmark = pytest.mark.timeout(3600)

STACK = "production-k8s"
PASSPHRASE = "production-k8s-render-test"


@pytest.fixture(scope="module")
def plugin_bin(engine_bin: Path) -> Path:
    return engine_with("kubernetes", "random")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, plugin_bin: Path, policy_venv: Path) -> tuple[Project, Path]:
    """`pulumi up` of production-k8s with renderToDirectory: the project and the folder."""
    root = tmp_path_factory.mktemp("k8s-render")
    project = copy_project(root, plugin_bin, passphrase=PASSPHRASE)
    directory, _ = project
    (directory / "policy" / "venv").symlink_to(policy_venv)
    out = root / "manifests"

    init_render_stack(project, STACK, out)

    preview = _preview_with_pack(project, STACK)
    assert preview.returncode == 0, preview.stdout + preview.stderr
    pulumi(project, "up", "--yes", "--stack", STACK)
    return project, out


def _preview_with_pack(project: Project, stack: str) -> subprocess.CompletedProcess[str]:
    return pulumi(
        project,
        "preview",
        "--stack",
        stack,
        "--policy-pack",
        "policy",
        "--policy-pack-config",
        f"policy/config/{stack}.json",
        check=False,
    )


def _documents(folder: Path) -> list[dict[str, Any]]:
    return [
        document
        for path in sorted(folder.rglob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


QUANTITY = re.compile(r"^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
FACTORS: dict[str | None, Decimal] = {
    None: Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
}


def _resources(container: dict[str, Any]) -> dict[str, dict[str, Decimal]]:
    """requests and limits as numbers: the provider writes quantities in canonical form
    (1000m as 1, 1024Mi as 1Gi)."""

    def number(quantity: Any) -> Decimal:
        match = QUANTITY.match(str(quantity))
        assert match, quantity
        return Decimal(match[1]) * FACTORS[match[2]]

    return {
        part: {name: number(value) for name, value in values.items()}
        for part, values in (container.get("resources") or {}).items()
    }


def _identity(document: dict[str, Any]) -> tuple[str, str, str, str]:
    metadata = document["metadata"]
    return document["apiVersion"], document["kind"], metadata.get("namespace", ""), metadata["name"]


def test_every_rendered_manifest_validates(rendered: tuple[Project, Path]) -> None:
    _, out = rendered
    assert (out / "1-manifest").is_dir(), sorted(p.name for p in out.iterdir())
    expected = len(_k8s(offline()))
    assert validate_manifest_dir(out) == expected


def test_the_engine_renders_what_the_mocks_declare(rendered: tuple[Project, Path], tmp_path: Path) -> None:
    """The same files and objects as the mocked run, and the same workload specs (bar what
    only a real run fills in: generated secrets and the checksums of config that holds them)."""
    _, out = rendered
    write_manifest_dir(offline(), tmp_path)
    assert sorted(p.relative_to(out) for p in out.rglob("*.yaml")) == sorted(
        p.relative_to(tmp_path) for p in tmp_path.rglob("*.yaml")
    )
    documents = {_identity(d): d for d in _documents(out)}
    declared = {_identity(manifest(r)): manifest(r) for r in _k8s(offline())}
    assert set(documents) == set(declared)
    for identity, document in documents.items():
        if document["kind"] in ("Deployment", "StatefulSet"):
            want = declared[identity]["spec"]["template"]["spec"]
            got = document["spec"]["template"]["spec"]
            assert [c["image"] for c in got["containers"]] == [c["image"] for c in want["containers"]], identity
            assert [_resources(c) for c in got["containers"]] == [_resources(c) for c in want["containers"]], identity
            assert got.get("securityContext") == want.get("securityContext"), identity


def test_state_holds_no_secret_in_plaintext(rendered: tuple[Project, Path]) -> None:
    """The folder holds the Secrets' data (that is what rendering is); the state must not."""
    (directory, _), out = rendered
    state = "\n".join(p.read_text() for p in (directory.parent / "state").rglob("*.json"))
    rendered_text = "\n".join(p.read_text() for p in out.rglob("*.yaml"))
    assert "kind: Secret" in rendered_text
    for key in ("jwtSecret", "databaseUrl", "backupPassword"):
        assert secret_value(key) not in state, key


def test_a_second_up_changes_nothing(rendered: tuple[Project, Path]) -> None:
    project, _ = rendered
    pulumi(project, "preview", "--expect-no-changes", "--stack", STACK)


BREAKING_PROGRAM = """
import pulumi
import pulumi_kubernetes as k8s

provider = k8s.Provider("render", render_yaml_to_directory={out!r})
labels = {{"app": "bare"}}
k8s.apps.v1.Deployment(
    "bare",
    metadata={{"name": "bare", "namespace": "webstack"}},
    spec={{
        "selector": {{"matchLabels": labels}},
        "template": {{
            "metadata": {{"labels": labels}},
            "spec": {{"containers": [{{"name": "app", "image": "ghcr.io/example/backend:1.4.2"}}]}},
        }},
    }},
    opts=pulumi.ResourceOptions(provider=provider),
)
k8s.networking.v1.Ingress(
    "bare",
    metadata={{
        "name": "bare",
        "namespace": "webstack",
        "annotations": {{"nginx.ingress.kubernetes.io/limit-rps": "10"}},
    }},
    spec={{
        "ingressClassName": "nginx",
        "rules": [{{
            "host": "example.com",
            "http": {{"paths": [{{
                "path": "/",
                "pathType": "Prefix",
                "backend": {{"service": {{"name": "bare", "port": {{"number": 80}}}}}},
            }}]}},
        }}],
    }},
    opts=pulumi.ResourceOptions(provider=provider),
)
"""


def test_the_pack_catches_an_ingress_without_tls_and_a_deployment_without_limits(
    tmp_path: Path, plugin_bin: Path, policy_venv: Path
) -> None:
    project = copy_project(tmp_path, plugin_bin, passphrase="policy-test-passphrase")
    directory, _ = project
    (directory / "policy" / "venv").symlink_to(policy_venv)
    for stack_file in directory.glob("Pulumi.*.yaml"):
        stack_file.unlink()
    # components/ stays: the pack reads the stack's config with the program's own models.
    (directory / "__main__.py").write_text(BREAKING_PROGRAM.format(out=str(tmp_path / "out")))
    pulumi(project, "stack", "init", "local")
    done = _preview_with_pack(project, "local")
    assert done.returncode != 0, done.stdout
    assert "k8s-ingress-tls" in done.stdout and "bare" in done.stdout, done.stdout
    assert "container-memory-limit" in done.stdout, done.stdout
    assert "has no memory limit" in done.stdout, done.stdout
