"""Policies over Cloudflare in front of the edge: the zone's TLS settings and proxied records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from .common import Schema, as_dict, is_unknown, plain, settings, subject

ZONE_SETTING = "cloudflare:index/zoneSetting:ZoneSetting"
ZONE_SETTINGS_OVERRIDE = "cloudflare:index/zoneSettingsOverride:ZoneSettingsOverride"  # provider v5
DNS_RECORD_TYPES = frozenset({"cloudflare:index/dnsRecord:DnsRecord", "cloudflare:index/record:Record"})
PROXIABLE = frozenset({"A", "AAAA", "CNAME"})

ZONE_TLS_SCHEMA: Schema = {
    "minTlsVersion": {
        "type": "string",
        "enum": ["1.2", "1.3"],
        "default": "1.2",
        "description": "Least min_tls_version of the zone.",
    }
}

# settingId -> (camelCase name in a v5 ZoneSettingsOverride, what it must be, the fix)
_SETTINGS = {
    "ssl": ("ssl", "strict", "SSL mode Full (strict): Cloudflare verifies the origin certificate"),
    "always_use_https": ("alwaysUseHttps", "on", "Always Use HTTPS: on"),
    "min_tls_version": ("minTlsVersion", None, "Minimum TLS version"),
}


def _settings_of(resources: list[PolicyResource]) -> dict[str, dict[str, tuple[Any, str]]]:
    """zone id -> setting id -> (value, urn of the resource that sets it)."""
    out: dict[str, dict[str, tuple[Any, str]]] = {}
    for r in resources:
        props = plain(r.props)
        if r.resource_type == ZONE_SETTING:
            zone, setting = props.get("zoneId"), props.get("settingId")
            if isinstance(zone, str) and isinstance(setting, str):
                out.setdefault(zone, {})[setting] = (props.get("value"), r.urn)
        elif r.resource_type == ZONE_SETTINGS_OVERRIDE:
            zone = props.get("zoneId")
            values = as_dict(props.get("settings"))
            if isinstance(zone, str):
                for setting, (camel, _, _) in _SETTINGS.items():
                    if camel in values:
                        out.setdefault(zone, {})[setting] = (values[camel], r.urn)
    return out


def _version(value: Any) -> tuple[int, ...] | None:
    try:
        return tuple(int(p) for p in str(value).split("."))
    except ValueError:
        return None


def cloudflare_zone_tls(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Every Cloudflare zone the stack puts records in has SSL mode strict, Always Use HTTPS on
    and a minimum TLS version of 1.2 (configurable), set by the stack itself."""
    min_tls = str(settings(args.get_config(), ZONE_TLS_SCHEMA)["minTlsVersion"])
    by_zone = _settings_of(args.resources)
    record_of: dict[str, PolicyResource] = {}
    for r in args.resources:
        if r.resource_type in DNS_RECORD_TYPES:
            zone = plain(r.props).get("zoneId")
            if isinstance(zone, str):
                record_of.setdefault(zone, r)
    for zone in sorted(set(record_of) | set(by_zone)):
        current = by_zone.get(zone, {})
        for setting, (_camel, wanted, what) in _SETTINGS.items():
            if setting not in current:
                anchor = record_of.get(zone)
                report_violation(
                    f"Cloudflare zone {zone}: no {setting} setting is declared ({what}); fix: a "
                    f"{ZONE_SETTING} with settingId '{setting}' in the stack (NginxEdge declares them when dns.enabled).",
                    anchor.urn if anchor else None,
                )
                continue
            value, urn = current[setting]
            if is_unknown(value):
                continue
            if setting == "min_tls_version":
                have, need = _version(value), _version(min_tls)
                if have is None or need is None or have < need:
                    report_violation(
                        f"Cloudflare zone {zone}: min_tls_version is {value}, below {min_tls}; "
                        f"fix: value '{min_tls}' on the {setting} ZoneSetting.",
                        urn,
                    )
            elif str(value).lower() != wanted:
                report_violation(
                    f"Cloudflare zone {zone}: {setting} is {value!r}, not {wanted!r} ({what}); "
                    f"fix: value '{wanted}' on the {setting} ZoneSetting.",
                    urn,
                )


RECORDS_SCHEMA: Schema = {
    "unproxiedNames": {
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "description": "Record names allowed to be DNS-only (e.g. a mail host); every other A/AAAA/CNAME is proxied.",
    }
}


def cloudflare_records_proxied(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Every A, AAAA and CNAME record the stack declares (they front the edge) is proxied by
    Cloudflare, so the origin's address stays hidden and Cloudflare's TLS and limits apply."""
    if args.resource_type not in DNS_RECORD_TYPES:
        return
    props: Mapping[str, Any] = plain(args.props)
    record_type, name, proxied = props.get("type"), props.get("name"), props.get("proxied")
    if is_unknown(record_type) or is_unknown(proxied) or str(record_type).upper() not in PROXIABLE:
        return
    allowed = {str(n) for n in settings(args.get_config(), RECORDS_SCHEMA)["unproxiedNames"]}
    if proxied is not True and name not in allowed:
        report_violation(
            f"{subject(args.resource_type, args.name)}: {record_type} record {name} is DNS-only (proxied: "
            f"{proxied}), exposing the edge's address and bypassing Cloudflare; fix: proxied: true "
            "(dns.proxied: true in the stack config).",
            None,
        )
