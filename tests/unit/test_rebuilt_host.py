"""tools.rebuilt_host: what of the state belongs to a host rebuilt from bare, and its SSH keys."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tools.rebuilt_host import RebuiltHost, find_host, forget_host_keys

STACK_URN = "urn:pulumi:production::webstack"


def urn(kind: str, name: str) -> str:
    return f"{STACK_URN}::{kind}::{name}"


def deployment() -> dict[str, Any]:
    host = urn("webstack:host:VpsHost", "host-data-1")
    other = urn("webstack:host:VpsHost", "host-edge-1")
    bootstrap = urn("webstack:host:VpsHost$command:remote:Command", "host-data-1-bootstrap")
    edge_bootstrap = urn("webstack:host:VpsHost$command:remote:Command", "host-edge-1-bootstrap")
    return {
        "resources": [
            {"urn": host, "type": "webstack:host:VpsHost", "outputs": {"name": "data-1", "address": "203.0.113.13"}},
            {"urn": other, "type": "webstack:host:VpsHost", "outputs": {"name": "edge-1", "address": "203.0.113.10"}},
            {"urn": bootstrap, "type": "command:remote:Command", "parent": host, "inputs": {"connection": "secret"}},
            {"urn": edge_bootstrap, "type": "command:remote:Command", "parent": other},
            {
                "urn": urn("pulumi:providers:docker", "host-data-1-docker"),
                "type": "pulumi:providers:docker",
                "parent": host,
                "inputs": {"host": "ssh://deploy@203.0.113.13:2222"},
            },
            # A file the program writes on data-1 (depends on its bootstrap), one on edge-1,
            # and a container (its provider depends on the bootstrap, the container does not).
            {
                "urn": urn("command:remote:Command", "exporter-conf"),
                "type": "command:remote:Command",
                "dependencies": [urn("docker:index/container:Container", "x"), bootstrap],
            },
            {
                "urn": urn("command:remote:Command", "edge-conf"),
                "type": "command:remote:Command",
                "dependencies": [edge_bootstrap],
            },
            {"urn": urn("docker:index/container:Container", "redis"), "type": "docker:index/container:Container"},
        ]
    }


def test_the_host_its_port_bootstrap_and_commands_are_found() -> None:
    found = find_host(deployment(), "data-1")
    assert found == RebuiltHost(
        name="data-1",
        address="203.0.113.13",
        ssh_port=2222,
        bootstrap_urn=urn("webstack:host:VpsHost$command:remote:Command", "host-data-1-bootstrap"),
        commands=(urn("command:remote:Command", "exporter-conf"),),
    )


def test_an_unknown_host_is_refused_naming_the_hosts() -> None:
    with pytest.raises(SystemExit, match=r"no host data-3 \(its hosts: data-1, edge-1\)"):
        find_host(deployment(), "data-3")


def test_only_the_rebuilt_hosts_keys_are_forgotten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBSTACK_STATE_DIR", str(tmp_path))
    known_hosts = tmp_path / "production" / "ssh" / "known_hosts"
    known_hosts.parent.mkdir(parents=True)
    keys = {}
    for name in ("a", "b"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / name)], check=True)
        keys[name] = (tmp_path / f"{name}.pub").read_text().split()[:2]
    known_hosts.write_text(f"[203.0.113.13]:2222 {' '.join(keys['a'])}\n203.0.113.10 {' '.join(keys['b'])}\n")
    removed = forget_host_keys("production", find_host(deployment(), "data-1"))
    assert removed == ["[203.0.113.13]:2222"]
    assert known_hosts.read_text().split() == ["203.0.113.10", *keys["b"]]
    assert not known_hosts.with_name("known_hosts.old").exists()
