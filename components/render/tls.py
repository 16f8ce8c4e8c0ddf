"""Shell scripts that make the edge's key and certificate on the host itself.

Pure: no Pulumi import. The private key is generated where nginx runs and never
leaves the host; only a certificate signing request comes back (for Cloudflare's
origin CA). Each script also writes the certificate's expiry for node exporter.
"""

from __future__ import annotations

import shlex

EXPIRY_METRIC = "webstack_tls_certificate_expiry_timestamp_seconds"


def _expiry_metric(tls_dir: str, textfile_dir: str, server_name: str) -> str:
    cert = shlex.quote(f"{tls_dir}/edge.crt")
    prom = shlex.quote(f"{textfile_dir}/webstack_tls.prom")
    label = server_name.replace('"', "")
    return (
        f"mkdir -p {shlex.quote(textfile_dir)}\n"
        f'end=$(date -d "$(openssl x509 -enddate -noout -in {cert} | cut -d= -f2)" +%s)\n'
        f'printf \'# TYPE {EXPIRY_METRIC} gauge\\n{EXPIRY_METRIC}{{server_name="{label}"}} %s\\n\' "$end" > {prom}.tmp\n'
        f"mv {prom}.tmp {prom}\n"
    )


def render_self_signed_script(tls_dir: str, server_names: list[str], textfile_dir: str, *, days: int = 397) -> str:
    """A self-signed ECDSA certificate, made again only when the names change."""
    d = shlex.quote(tls_dir)
    san = ",".join(f"DNS:{n}" for n in server_names)
    return (
        "set -eu\n"
        f"mkdir -p {d} && chmod 0750 {d}\n"
        f'if [ ! -s {d}/edge.crt ] || [ "$(cat {d}/names 2>/dev/null)" != {shlex.quote(san)} ]; then\n'
        f"  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days {days} "
        f"-subj {shlex.quote('/CN=' + server_names[0])} -addext {shlex.quote('subjectAltName=' + san)} "
        f"-keyout {d}/edge.key.tmp -out {d}/edge.crt.tmp 2>/dev/null\n"
        f"  chmod 0600 {d}/edge.key.tmp\n"
        f"  mv {d}/edge.key.tmp {d}/edge.key && mv {d}/edge.crt.tmp {d}/edge.crt\n"
        f"  printf '%s' {shlex.quote(san)} > {d}/names\n"
        "fi\n" + _expiry_metric(tls_dir, textfile_dir, server_names[0])
    )


def render_csr_script(tls_dir: str, server_names: list[str]) -> str:
    """Make the key once; print a CSR for it on stdout (nothing else)."""
    d = shlex.quote(tls_dir)
    san = ",".join(f"DNS:{n}" for n in server_names)
    return (
        "set -eu\n"
        f"mkdir -p {d} && chmod 0750 {d}\n"
        f"[ -s {d}/edge.key ] || (umask 077 && openssl ecparam -name prime256v1 -genkey -noout -out {d}/edge.key)\n"
        f"chmod 0600 {d}/edge.key\n"
        f"openssl req -new -key {d}/edge.key -subj {shlex.quote('/CN=' + server_names[0])} "
        f"-addext {shlex.quote('subjectAltName=' + san)}\n"
    )


def render_install_cert_script(tls_dir: str, textfile_dir: str, server_name: str) -> str:
    """Install a certificate read from stdin next to its key (made by the CSR script, or
    provided); one that is not PEM, or not of that key, is refused and the old one kept."""
    d = shlex.quote(tls_dir)
    return (
        "set -eu\n"
        f"cat > {d}/edge.crt.tmp\n"
        f"if ! openssl x509 -noout -in {d}/edge.crt.tmp 2>/dev/null; then\n"
        f"  rm -f {d}/edge.crt.tmp; echo 'webstack: the edge certificate is not a PEM certificate' >&2; exit 1\n"
        "fi\n"
        f'if [ "$(openssl x509 -noout -pubkey -in {d}/edge.crt.tmp)" != "$(openssl pkey -pubout -in {d}/edge.key)" ]; then\n'
        f"  rm -f {d}/edge.crt.tmp; echo 'webstack: the edge certificate is not for the key in {tls_dir}/edge.key' >&2; exit 1\n"
        "fi\n"
        f"mv {d}/edge.crt.tmp {d}/edge.crt\n" + _expiry_metric(tls_dir, textfile_dir, server_name)
    )
