"""The fleet stack is production's stack file with only the listed keys changed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from components.load import load_stack_config
from tools.fleet_stack import (
    FLEET_DIFFERENCES,
    FLEET_STACK,
    INFRASTRUCTURE_IMAGES,
    FleetTarget,
    differences,
    fleet_document,
    fleet_secrets,
    issue_certificate,
    production_document,
)

CA = "-----BEGIN CERTIFICATE-----\nMIIBfleet\n-----END CERTIFICATE-----\n"
HOSTS = ["edge-1", "app-1", "app-2", "data-1", "data-2", "monitor-1"]
TARGET = FleetTarget(
    hosts={name: (f"127.0.0.{11 + i}", f"10.210.0.{11 + i}") for i, name in enumerate(HOSTS)},
    registry_server="10.210.0.17:5000",
    registry_username="webstack",
    registry_ca=CA,
    images={
        name: f"10.210.0.17:5000/webstack/{name}:bookworm" for name in [*INFRASTRUCTURE_IMAGES.values(), "demo-app"]
    },
    offsite_address="10.210.0.17",
    webhook_url="http://10.210.0.17:9099/alerts",
)


def test_only_the_listed_keys_differ_from_production() -> None:
    production = production_document()
    changed = differences(production, fleet_document(production, TARGET))
    assert {key for key, allowed in changed.items() if not allowed} == set()
    # Every listed difference is real: the list says exactly what the fleet changes.
    assert set(changed.values()) == set(FLEET_DIFFERENCES)
    # The shape is production's: same hosts, replicas, Redis topology, schedules.
    assert "webstack:services.backend.replicas" not in changed
    assert "webstack:redis.sentinelHosts" not in changed
    assert "webstack:backup.schedule" not in changed


def test_a_change_outside_the_list_is_caught() -> None:
    production = production_document()
    fleet = fleet_document(production, TARGET)
    fleet["config"]["webstack:services"]["backend"]["replicas"] = 2
    fleet["config"]["webstack:edge"]["loginRate"]["burst"] = 50
    changed = differences(production, fleet)
    assert changed["webstack:services.backend.replicas"] == ""
    assert changed["webstack:edge.loginRate.burst"] == ""


def test_the_fleet_stack_validates_with_its_secrets(tmp_path: Path) -> None:
    document = fleet_document(production_document(), TARGET)
    secrets = fleet_secrets(
        ssh_key="k",
        registry_password="p",
        tls=(CA, "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"),
        backup_ssh_key="k",
        webhook_url=TARGET.webhook_url,
    )
    raw = {**document["config"], **{f"webstack:{k}": v for k, v in secrets.items()}}
    config = load_stack_config(FLEET_STACK, raw, {f"webstack:{k}" for k in secrets})
    assert config.registry is not None and config.registry.server == "10.210.0.17:5000"
    assert set(config.required_secrets()) <= set(secrets)
    assert [h.internal_address for h in config.hosts] == [TARGET.hosts[n][1] for n in HOSTS]


def test_issued_certificate_verifies_against_the_ca(tmp_path: Path) -> None:
    ca_key, ca_cert = tmp_path / "ca.key", tmp_path / "ca.crt"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=test CA",
            "-days",
            "2",
            "-keyout",
            str(ca_key),
            "-out",
            str(ca_cert),
        ],
        check=True,
        capture_output=True,
    )
    cert, key = issue_certificate(ca_cert, ca_key, ["example.com", "www.example.com"])
    (tmp_path / "edge.crt").write_text(cert)
    (tmp_path / "edge.key").write_text(key)
    verify = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(ca_cert),
            "-verify_hostname",
            "www.example.com",
            str(tmp_path / "edge.crt"),
        ],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    pub_cert = subprocess.run(
        ["openssl", "x509", "-noout", "-pubkey", "-in", str(tmp_path / "edge.crt")], capture_output=True, text=True
    )
    pub_key = subprocess.run(
        ["openssl", "pkey", "-pubout", "-in", str(tmp_path / "edge.key")], capture_output=True, text=True
    )
    assert pub_cert.stdout == pub_key.stdout != ""
