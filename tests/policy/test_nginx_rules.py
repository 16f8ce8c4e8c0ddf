"""The nginx policies on hand-written edge configs: each passes the good one and catches its fault."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy import ReportViolation, ResourceValidationArgs
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy import nginx_rules
from tests.policy.helpers import Reports, resource_args

Validate = Callable[[ResourceValidationArgs, ReportViolation], None]

ALL: dict[str, Validate] = {
    "nginx-https-only": nginx_rules.nginx_https_only,
    "nginx-tls-protocols": nginx_rules.nginx_tls_protocols,
    "nginx-hsts": nginx_rules.nginx_hsts,
    "nginx-security-headers": nginx_rules.nginx_security_headers,
    "nginx-rate-limit-coverage": nginx_rules.nginx_rate_limit_coverage,
    "nginx-login-rate-stricter": nginx_rules.nginx_login_rate_stricter,
    "nginx-rate-limit-maxima": nginx_rules.nginx_rate_limit_maxima,
}

HEADERS = """
        add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;
        add_header X-Frame-Options DENY always;
        add_header X-Content-Type-Options nosniff always;
        add_header Referrer-Policy strict-origin-when-cross-origin always;
        add_header Permissions-Policy "camera=()" always;
"""

GOOD = (
    """
events { worker_connections 1024; }
http {
    limit_req_zone $binary_remote_addr zone=api:10m rate=10r/s;
    limit_req_zone $binary_remote_addr zone=login:10m rate=30r/m;
    limit_req_zone $binary_remote_addr zone=frontend:10m rate=50r/s;
    ssl_protocols TLSv1.2 TLSv1.3;
    upstream backend { server 10.0.0.11:8001; }
    upstream frontend { server 10.0.0.11:8080; }
    server {
        listen 80 default_server;
        server_name example.com;
        return 301 https://$host$request_uri;
    }
    server {
        listen 443 ssl http2 default_server;
        server_name example.com;
        ssl_certificate /etc/nginx/tls/edge.crt;
        ssl_certificate_key /etc/nginx/tls/edge.key;
"""
    + HEADERS
    + """
        location = /health { return 200 "ok"; }
        location ^~ /api/ { limit_req zone=api burst=20 nodelay; proxy_pass http://backend; }
        location ^~ /api/auth/login { limit_req zone=login burst=5 nodelay; proxy_pass http://backend; }
        location / {
            limit_req zone=frontend burst=100 nodelay;
            proxy_pass http://frontend;
            location ~* \\.(js|css)$ {
                proxy_pass http://frontend;
                expires 1y;
"""
    + HEADERS
    + """
            }
        }
    }
    server {
        listen 8081;
        location = /stub_status { stub_status; allow 10.0.0.0/8; deny all; }
    }
}
"""
)

WRITE = "mkdir -p /opt/webstack/production/edge && cat > /opt/webstack/production/edge/nginx.conf.tmp && mv x /opt/webstack/production/edge/nginx.conf"


def edge(
    text: Any, *, config: dict[str, Any] | None = None, kind: str = "command:remote:Command"
) -> ResourceValidationArgs:
    return resource_args(kind, {"create": WRITE, "stdin": text, "triggers": []}, name="edge-conf", config=config)


def run(policy: str, text: Any, config: dict[str, Any] | None = None) -> Reports:
    reports = Reports()
    ALL[policy](edge(text, config=config), reports)
    return reports


@pytest.mark.parametrize("policy", sorted(ALL))
def test_good_config_passes_every_nginx_policy(policy: str) -> None:
    assert not run(policy, GOOD), run(policy, GOOD).text()


@pytest.mark.parametrize("policy", sorted(ALL))
def test_local_command_resource_is_checked_too(policy: str) -> None:
    reports = Reports()
    ALL[policy](
        edge(GOOD.replace("ssl_protocols TLSv1.2", "ssl_protocols TLSv1 TLSv1.2"), kind="command:local:Command"),
        reports,
    )
    assert bool(reports) == (policy == "nginx-tls-protocols")


@pytest.mark.parametrize("policy", sorted(ALL))
def test_unknown_config_during_preview_is_skipped(policy: str) -> None:
    assert not run(policy, UNKNOWN_STRING_VALUE)


@pytest.mark.parametrize("policy", sorted(ALL))
def test_other_resources_are_not_judged(policy: str) -> None:
    reports = Reports()
    ALL[policy](
        resource_args("command:remote:Command", {"create": "docker exec e nginx -c /etc/nginx/nginx.conf -s reload"}),
        reports,
    )
    ALL[policy](resource_args("command:remote:Command", {}), reports)
    ALL[policy](resource_args("docker:index/container:Container", {"stdin": "http {}"}), reports)
    assert not reports


@pytest.mark.parametrize("policy", sorted(ALL))
def test_a_config_that_does_not_parse_is_a_violation_of_every_nginx_policy(policy: str) -> None:
    reports = run(
        policy, GOOD.replace('location = /health { return 200 "ok"; }', 'location = /health { return 200 "ok";')
    )
    assert reports and "does not parse" in reports.text()


# --- nginx-https-only -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expect"),
    [
        ("return 301 https://$host$request_uri;", "return 301 https://$host;", "path and query"),
        ("return 301 https://$host$request_uri;", "return 302 https://$host$request_uri;", "not 301"),
        ("return 301 https://$host$request_uri;", "return 301 http://$host$request_uri;", "not to https"),
        ("return 301 https://$host$request_uri;", "location / { proxy_pass http://frontend; }", "plain HTTP"),
        (
            "return 301 https://$host$request_uri;",
            "location /x { return 200 'hi'; } return 301 https://$host$request_uri;",
            "answers over plain HTTP",
        ),
        ("return 301 https://$host$request_uri;", "root /var/www;", "serves content"),
        ("return 301 https://$host$request_uri;", "", "has no `return 301"),
        ("listen 443 ssl http2 default_server;", "listen 443 default_server;", "no server listens with TLS"),
    ],
)
def test_https_only_catches(old: str, new: str, expect: str) -> None:
    assert old in GOOD
    reports = run("nginx-https-only", GOOD.replace(old, new, 1))
    assert expect in reports.text(), reports.text()
    assert "edge-conf" in reports.text() and "fix:" in reports.text()


def test_https_only_accepts_variants() -> None:
    keep = "return 301 https://$host$request_uri;"
    assert not run("nginx-https-only", GOOD.replace(keep, "return 308 https://$server_name:8443$uri$is_args$args;"))
    acme = "location ^~ /.well-known/acme-challenge/ { root /var/www/acme; } " + keep
    assert not run("nginx-https-only", GOOD.replace(keep, acme))
    assert not run("nginx-https-only", GOOD.replace(keep, f"location / {{ {keep} }}"))


def test_plain_server_that_proxies_is_a_violation() -> None:
    text = GOOD.replace(
        "location = /stub_status", "location /app { proxy_pass http://backend; } location = /stub_status"
    )
    assert "proxies app traffic over plain HTTP" in run("nginx-https-only", text).text()


# --- nginx-tls-protocols ----------------------------------------------------------------------------------


def test_tls_protocols() -> None:
    assert "TLSv1" in run("nginx-tls-protocols", GOOD.replace("TLSv1.2 TLSv1.3", "TLSv1 TLSv1.1 TLSv1.2")).text()
    missing = run("nginx-tls-protocols", GOOD.replace("ssl_protocols TLSv1.2 TLSv1.3;", ""))
    assert "sets no ssl_protocols" in missing.text()
    override = GOOD.replace("ssl_certificate /etc", "ssl_protocols TLSv1.1 TLSv1.2; ssl_certificate /etc")
    assert "TLSv1.1" in run("nginx-tls-protocols", override).text()
    only_13 = {"allowedProtocols": ["TLSv1.3"]}
    assert "allows TLSv1.2" in run("nginx-tls-protocols", GOOD, only_13).text()
    assert not run("nginx-tls-protocols", GOOD.replace("TLSv1.2 TLSv1.3", "TLSv1.3"), only_13)


# --- nginx-hsts and nginx-security-headers -----------------------------------------------------------------

HSTS = 'add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;'


@pytest.mark.parametrize(
    ("new", "expect"),
    [
        ('add_header Strict-Transport-Security "max-age=31536000; includeSubDomains";', "without `always`"),
        ('add_header Strict-Transport-Security "max-age=3600; includeSubDomains" always;', "max-age=3600"),
        ('add_header Strict-Transport-Security "max-age=31536000" always;', "without includeSubDomains"),
        ("", "no Strict-Transport-Security"),
    ],
)
def test_hsts_catches(new: str, expect: str) -> None:
    reports = run("nginx-hsts", GOOD.replace(HSTS, new))
    assert expect in reports.text(), reports.text()


def test_hsts_min_max_age_is_configurable() -> None:
    short = GOOD.replace("max-age=31536000", "max-age=600")
    assert run("nginx-hsts", short)
    assert not run("nginx-hsts", short, {"minMaxAge": 600})
    assert run("nginx-hsts", GOOD, {"minMaxAge": 63072000})


def test_a_location_with_its_own_headers_drops_the_servers() -> None:
    text = GOOD.replace(
        "proxy_pass http://backend; }", "proxy_pass http://backend; add_header Cache-Control no-store always; }", 1
    )
    hsts, headers = run("nginx-hsts", text), run("nginx-security-headers", text)
    assert "location ^~ /api/" in hsts.text() and "drops the server's headers" in hsts.text()
    assert "no X-Frame-Options" in headers.text() and "location ^~ /api/" in headers.text()
    assert "location ^~ /api/auth/login" not in hsts.text()


@pytest.mark.parametrize(
    ("old", "new", "expect"),
    [
        ("add_header X-Frame-Options DENY always;", "", "no X-Frame-Options"),
        (
            "add_header X-Frame-Options DENY always;",
            "add_header X-Frame-Options ALLOWALL always;",
            "X-Frame-Options: allowall",
        ),
        (
            "add_header X-Content-Type-Options nosniff always;",
            "add_header X-Content-Type-Options none always;",
            "nosniff",
        ),
        (
            "add_header Referrer-Policy strict-origin-when-cross-origin always;",
            "add_header Referrer-Policy unsafe-url always;",
            "leaks",
        ),
        (
            'add_header Permissions-Policy "camera=()" always;',
            'add_header Permissions-Policy "camera=()";',
            "without `always`",
        ),
    ],
)
def test_security_headers_catch(old: str, new: str, expect: str) -> None:
    assert old in GOOD
    reports = run("nginx-security-headers", GOOD.replace(old, new))
    assert expect in reports.text(), reports.text()
    assert not run("nginx-hsts", GOOD.replace(old, new))


def test_required_headers_are_configurable() -> None:
    text = GOOD.replace('add_header Permissions-Policy "camera=()" always;', "")
    assert run("nginx-security-headers", text)
    assert not run("nginx-security-headers", text, {"requiredHeaders": ["X-Frame-Options", "X-Content-Type-Options"]})


# --- rate limits -------------------------------------------------------------------------------------------


def test_every_proxied_location_needs_limit_req() -> None:
    text = GOOD.replace("limit_req zone=api burst=20 nodelay; proxy_pass", "proxy_pass")
    reports = run("nginx-rate-limit-coverage", text)
    assert "location ^~ /api/ (proxy to backend) has no limit_req" in reports.text()
    assert len(reports.messages) == 1
    # the nested static-asset location inherits its parent's limit_req: covered
    assert "location ~*" not in run("nginx-rate-limit-coverage", GOOD).text()


def test_limit_req_zone_must_exist() -> None:
    reports = run("nginx-rate-limit-coverage", GOOD.replace("limit_req zone=api burst", "limit_req zone=apii burst"))
    assert "zone=apii, which no limit_req_zone defines" in reports.text()


def test_server_level_limit_req_is_inherited() -> None:
    text = GOOD.replace("limit_req zone=api burst=20 nodelay; proxy_pass", "proxy_pass").replace(
        "ssl_certificate /etc", "limit_req zone=api burst=20; ssl_certificate /etc"
    )
    assert not run("nginx-rate-limit-coverage", text)


def test_login_must_be_stricter_than_the_api() -> None:
    same = GOOD.replace("limit_req zone=login burst", "limit_req zone=api burst")
    assert "not stricter than the API route location ^~ /api/" in run("nginx-login-rate-stricter", same).text()
    looser = GOOD.replace("zone=login:10m rate=30r/m", "zone=login:10m rate=20r/s")
    assert run("nginx-login-rate-stricter", looser)
    equal = GOOD.replace("zone=login:10m rate=30r/m", "zone=login:10m rate=600r/m")
    assert run("nginx-login-rate-stricter", equal)
    assert not run("nginx-login-rate-stricter", GOOD)


def test_auth_path_pattern_is_configurable() -> None:
    same = GOOD.replace("limit_req zone=login burst", "limit_req zone=api burst")
    assert not run("nginx-login-rate-stricter", same, {"authPathPattern": "/never-matches/"})


def test_rate_maxima() -> None:
    fast = run("nginx-rate-limit-maxima", GOOD.replace("zone=api:10m rate=10r/s", "zone=api:10m rate=500r/s"))
    assert "allows 500 r/s" in fast.text()
    auth = run("nginx-rate-limit-maxima", GOOD.replace("zone=login:10m rate=30r/m", "zone=login:10m rate=8r/s"))
    assert "limits auth routes to 8 r/s" in auth.text()
    bursty = run("nginx-rate-limit-maxima", GOOD.replace("burst=100", "burst=5000"))
    assert "burst=5000" in bursty.text()
    raised = {"maxRatePerSecond": 1000, "maxAuthRatePerSecond": 10, "maxBurst": 10000}
    assert not run(
        "nginx-rate-limit-maxima", GOOD.replace("rate=10r/s", "rate=500r/s").replace("burst=100", "burst=5000"), raised
    )
