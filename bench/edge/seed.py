"""The seed's own nginx.conf (seeds/000_*, "3. Load Balancing and Reverse Proxy"), made to run here.

`seed_nginx.conf` beside this file is the seed's block verbatim. `adapt` changes only
what must change to run it on this machine, each change an exact substitution that must
match once (so a different seed fails loudly instead of being half-adapted); each `Change`
says why it is needed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED_COPY = HERE / "seed_nginx.conf"
SEED_GLOB = "000_*.txt"


@dataclass(frozen=True)
class Change:
    old: str
    new: str
    why: str


def changes(
    *,
    workdir: Path,
    upstreams: tuple[str, str, str],
    http_listen: str,
    https_listen: str,
    certificate: Path,
    certificate_key: Path,
    rate_per_s: int,
    burst: int,
) -> list[Change]:
    b1, b2, b3 = upstreams
    return [
        Change(
            "user nginx;\n",
            "",
            "Debian has no `nginx` user; like our edge here, the master runs as root and the workers as nobody",
        ),
        Change(
            "error_log /var/log/nginx/error.log warn;",
            f"error_log {workdir}/seed-error.log warn;",
            "log in the bench's work dir, not the system nginx's",
        ),
        Change("pid /var/run/nginx.pid;", f"pid {workdir}/seed.pid;", "pid file in the work dir"),
        Change(
            "access_log /var/log/nginx/access.log main;",
            f"access_log {workdir}/seed-access.log main;",
            "access log in the work dir (same format, still unbuffered as in the seed)",
        ),
        Change(
            "zone=api:10m rate=10r/s;",
            f"zone=api:10m rate={rate_per_s}r/s;",
            "API rate limit raised exactly as on our edge for the measured route (the limit is still evaluated)",
        ),
        Change(
            "limit_req zone=api burst=20 nodelay;",
            f"limit_req zone=api burst={burst} nodelay;",
            "API burst raised exactly as on our edge",
        ),
        Change("server backend1:8001 ", f"server {b1} ", "upstream address: the bench's app"),
        Change("server backend2:8001 ", f"server {b2} ", "upstream address: the bench's app"),
        Change("server backend3:8001 ", f"server {b3} ", "upstream address: the bench's app"),
        Change("listen 80;", f"listen {http_listen};", "a free loopback port instead of 80"),
        Change("listen 443 ssl http2;", f"listen {https_listen} ssl http2;", "a free loopback port instead of 443"),
        Change(
            "ssl_certificate /etc/nginx/ssl/codementee.io.crt;",
            f"ssl_certificate {certificate};",
            "the bench's self-signed certificate (the same file our edge uses)",
        ),
        Change(
            "ssl_certificate_key /etc/nginx/ssl/codementee.io.key;",
            f"ssl_certificate_key {certificate_key};",
            "its key",
        ),
    ]


def seed_text() -> str:
    """The stored verbatim copy; checked against the seed itself when the seeds are beside the repo."""
    text = SEED_COPY.read_text()
    for seeds in (HERE.parents[2] / "shared" / "seeds", HERE.parents[1] / "seeds"):
        found = sorted(seeds.glob(SEED_GLOB)) if seeds.is_dir() else []
        if found:
            match = re.search(r"#### Nginx Configuration\s*```nginx\n(.*?)```", found[0].read_text(), flags=re.DOTALL)
            if match is None or match.group(1) != text:
                raise RuntimeError(f"{SEED_COPY} is not the nginx.conf of {found[0]} any more: copy it again")
            break
    return text


def adapt(text: str, edits: list[Change]) -> str:
    for change in edits:
        count = text.count(change.old)
        if count != 1:
            raise RuntimeError(f"seed config: expected {change.old!r} once, found it {count} times")
        text = text.replace(change.old, change.new)
    return text
