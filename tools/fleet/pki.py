"""Keys, the test CA and certificates, made once in the state dir: root's and restic's SSH
keys, the CA that signs the registry's certificate (which every host is meant to trust
through the stack), the registry's password and htpasswd line, and the resolv.conf the
hosts get.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
from pathlib import Path

from tools.fleet.common import FleetError, docker, run
from tools.fleet.hosts import REGISTRY_USER
from tools.fleet.images import OFFSITE_IMAGE
from tools.fleet.model import Fleet


def ensure_secrets(fleet: Fleet) -> None:
    """Made once in the state dir: root's and restic's SSH keys, the test CA, the registry's
    certificate (SANs: its private address and 127.0.0.17), its password and htpasswd line."""
    state = fleet.state_dir
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(state, 0o700)
    for key, comment in ((fleet.key, "webstack-fleet root"), (fleet.restic_key, "webstack-fleet restic")):
        if not key.exists() or not key.with_suffix(".pub").exists():
            key.unlink(missing_ok=True)
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)])
    ca_key = state / "ca.key"
    if not ca_key.exists() or not fleet.ca.exists():
        run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(ca_key)])
        run([
            "openssl", "req", "-x509", "-new", "-key", str(ca_key), "-sha256", "-days", "3650",
            "-subj", "/CN=webstack fleet test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-out", str(fleet.ca),
        ])  # fmt: skip
        (state / "registry.crt").unlink(missing_ok=True)
    offsite = fleet.offsite
    sans = f"IP:{offsite.private},IP:{offsite.public},DNS:{offsite.name},DNS:localhost"
    crt, key, sans_file = state / "registry.crt", state / "registry.key", state / "registry.sans"
    if not crt.exists() or not key.exists() or not sans_file.exists() or sans_file.read_text() != sans:
        run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key)])
        csr = state / "registry.csr"
        run(["openssl", "req", "-new", "-key", str(key), "-subj", f"/CN={offsite.name}", "-out", str(csr)])
        ext = state / "registry.ext"
        ext.write_text(
            f"subjectAltName={sans}\nbasicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        )
        run([
            "openssl", "x509", "-req", "-in", str(csr), "-CA", str(fleet.ca), "-CAkey", str(ca_key),
            "-set_serial", str(secrets.randbits(63)), "-days", "825", "-sha256", "-extfile", str(ext), "-out", str(crt),
        ])  # fmt: skip
        csr.unlink()
        ext.unlink()
        sans_file.write_text(sans)
    for secret in (ca_key, key):
        os.chmod(secret, 0o600)
    htpasswd = state / "registry.htpasswd"
    if not fleet.registry_password_file.exists():
        fleet.registry_password_file.write_text(secrets.token_urlsafe(24) + "\n")
        os.chmod(fleet.registry_password_file, 0o600)
        htpasswd.unlink(missing_ok=True)
    if not htpasswd.exists():
        # bcrypt, by apache2-utils' htpasswd in the offsite image (the password on stdin).
        made = docker(
            "run", "--rm", "-i", "--network", "none", "--entrypoint", "htpasswd", OFFSITE_IMAGE,
            "-inB", REGISTRY_USER,
            input=fleet.registry_password + "\n",
        )  # fmt: skip
        line = made.stdout.strip()
        if not line.startswith(f"{REGISTRY_USER}:$2"):
            raise FleetError(f"htpasswd -B gave no bcrypt line: {line!r}")
        htpasswd.write_text(line + "\n")
        os.chmod(htpasswd, 0o600)
    # The hosts resolve names as this machine does (not through Docker's 127.0.0.11, which the
    # nested engine's containers could not reach): a provider's resolver, in short.
    nameservers = []
    with contextlib.suppress(OSError):
        for line in Path("/etc/resolv.conf").read_text().splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] == "nameserver":
                with contextlib.suppress(ValueError):
                    if not ipaddress.ip_address(words[1]).is_loopback:
                        nameservers.append(words[1])
    resolv = state / "resolv.conf"
    if nameservers:
        resolv.write_text("".join(f"nameserver {n}\n" for n in nameservers))
    else:
        resolv.unlink(missing_ok=True)
