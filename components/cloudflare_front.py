"""Cloudflare in front of the edge, on either platform: the API provider, the proxied DNS
records pointing at the edge (a VPS host's address, or the cluster's ingress load
balancer), the zone's TLS settings and the per-IP rate limit on the API paths."""

from __future__ import annotations

import ipaddress

import pulumi
import pulumi_cloudflare as cloudflare

from components.config import DnsConfig


def cloudflare_provider(
    name: str, api_token: pulumi.Input[str] | None, *, parent: pulumi.Resource
) -> cloudflare.Provider:
    return cloudflare.Provider(
        f"{name}-cloudflare",
        api_token=pulumi.Output.secret(api_token or ""),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def record_type(address: str) -> str:
    """A for an IPv4 address, AAAA for IPv6, CNAME for a DNS name (a cloud load balancer's)."""
    try:
        return "A" if ipaddress.ip_address(address).version == 4 else "AAAA"
    except ValueError:
        return "CNAME"


def cloudflare_front(
    name: str,
    dns: DnsConfig,
    *,
    domain: str,
    api_paths: list[str],
    address: str,
    parent: pulumi.Resource,
    provider: cloudflare.Provider | None,
) -> list[cloudflare.DnsRecord]:
    """The records, zone settings and rate-limit ruleset; returns the records."""
    zone_id = dns.zone_id or ""
    cf = pulumi.ResourceOptions(parent=parent, provider=provider)
    records = []
    for record in dns.records:
        fqdn = domain if record == "@" else f"{record}.{domain}"
        records.append(
            cloudflare.DnsRecord(
                f"{name}-dns-{record.replace('@', 'apex')}",
                zone_id=zone_id,
                name=fqdn,
                type=record_type(address),
                content=address,
                proxied=dns.proxied,
                ttl=1,
                comment="managed by webstack",
                opts=cf,
            )
        )
    # Strict: Cloudflare checks the origin certificate; HTTPS only; no TLS below 1.2.
    for setting, value in (("ssl", "strict"), ("always_use_https", "on"), ("min_tls_version", "1.2")):
        cloudflare.ZoneSetting(
            f"{name}-zone-{setting.replace('_', '-')}", zone_id=zone_id, setting_id=setting, value=value, opts=cf
        )
    expression = " or ".join(f'starts_with(http.request.uri.path, "{p}")' for p in sorted(api_paths)) or "true"
    cloudflare.Ruleset(
        f"{name}-ratelimit",
        zone_id=zone_id,
        name="webstack rate limits",
        description="Per-IP rate limit on the API, in front of the edge's own limits",
        kind="zone",
        phase="http_ratelimit",
        rules=[
            cloudflare.RulesetRuleArgs(
                action="block",
                expression=f"({expression})",
                description="API requests per client IP",
                enabled=True,
                ratelimit=cloudflare.RulesetRuleRatelimitArgs(
                    characteristics=["cf.colo.id", "ip.src"],
                    period=60,
                    requests_per_period=dns.rate_limit_per_minute,
                    mitigation_timeout=600,
                ),
            )
        ],
        opts=cf,
    )
    return records
