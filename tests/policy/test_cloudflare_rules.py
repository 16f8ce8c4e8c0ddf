"""Cloudflare policies on hand-built resources."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE

from policy.cloudflare_rules import cloudflare_records_proxied, cloudflare_zone_tls
from tests.policy.helpers import Reports, resource_args, stack_args

ZONE = "fedcba9876543210fedcba9876543210"
RECORD = "cloudflare:index/dnsRecord:DnsRecord"
SETTING = "cloudflare:index/zoneSetting:ZoneSetting"


def zone(**values: str) -> list[tuple[str, str, dict[str, Any]]]:
    settings = {"ssl": "strict", "always_use_https": "on", "min_tls_version": "1.2", **values}
    out: list[tuple[str, str, dict[str, Any]]] = [
        (
            RECORD,
            "edge-dns-apex",
            {"zoneId": ZONE, "name": "example.com", "type": "A", "content": "203.0.113.10", "proxied": True},
        )
    ]
    out += [
        (SETTING, f"edge-zone-{k}", {"zoneId": ZONE, "settingId": k, "value": v})
        for k, v in settings.items()
        if v != "-"
    ]
    return out


def check(resources: list[tuple[str, str, dict[str, Any]]], config: dict[str, Any] | None = None) -> Reports:
    reports = Reports()
    cloudflare_zone_tls(stack_args(resources, config=config), reports)
    return reports


def test_strict_zone_passes() -> None:
    assert not check(zone())
    assert not check(zone(min_tls_version="1.3"))


@pytest.mark.parametrize(
    ("values", "expect"),
    [
        ({"ssl": "flexible"}, "ssl is 'flexible', not 'strict'"),
        ({"ssl": "full"}, "not 'strict'"),
        ({"always_use_https": "off"}, "always_use_https is 'off'"),
        ({"min_tls_version": "1.0"}, "min_tls_version is 1.0, below 1.2"),
        ({"min_tls_version": "-"}, "no min_tls_version setting"),
        ({"ssl": "-"}, "no ssl setting"),
    ],
)
def test_zone_settings_are_checked(values: dict[str, str], expect: str) -> None:
    reports = check(zone(**values))
    assert expect in reports.text(), reports.text()
    assert all(urn for urn in reports.urns), "a zone violation points at a resource"


def test_min_tls_is_configurable() -> None:
    assert "below 1.3" in check(zone(), {"minTlsVersion": "1.3"}).text()


def test_no_cloudflare_no_violation() -> None:
    assert not check([("docker:index/container:Container", "c", {"name": "x"})])


def test_legacy_zone_settings_override() -> None:
    override = (
        "cloudflare:index/zoneSettingsOverride:ZoneSettingsOverride",
        "zone",
        {"zoneId": ZONE, "settings": {"ssl": "strict", "alwaysUseHttps": "on", "minTlsVersion": "1.0"}},
    )
    reports = check([zone()[0], override])
    assert "min_tls_version is 1.0" in reports.text() and len(reports.messages) == 1


def records(props: dict[str, Any], config: dict[str, Any] | None = None, kind: str = RECORD) -> Reports:
    reports = Reports()
    cloudflare_records_proxied(resource_args(kind, props, name="edge-dns-www", config=config), reports)
    return reports


def test_records_must_be_proxied() -> None:
    base = {"zoneId": ZONE, "name": "www.example.com", "type": "A", "content": "203.0.113.10"}
    assert not records({**base, "proxied": True})
    assert "DNS-only" in records({**base, "proxied": False}).text()
    assert records(base)  # proxied unset: Cloudflare's default is DNS-only
    assert records({**base, "type": "CNAME", "proxied": False}, kind="cloudflare:index/record:Record")
    assert not records({**base, "type": "TXT", "proxied": False})
    assert not records({**base, "proxied": UNKNOWN_BOOLEAN_VALUE})
    assert not records({**base, "proxied": False}, {"unproxiedNames": ["www.example.com"]})
