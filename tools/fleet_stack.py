"""The `fleet` stack: `Pulumi.production.yaml` aimed at the fleet's hosts (tools/fleet/).

    venv/bin/python -m tools.fleet up
    export PULUMI_CONFIG_PASSPHRASE=<any passphrase of yours>
    venv/bin/python -m tools.fleet_stack      # writes Pulumi.fleet.yaml and sets its secrets
    scripts/up.sh fleet

The stack file is made from production's, not kept beside it, so that it cannot drift:
only the keys in FLEET_DIFFERENCES change, each for the reason given there (a test
compares the two files key by key). Its secrets are the fleet's (SSH key, registry
password, an edge certificate of the fleet's test CA) or made up here (the app's API
keys, which the demo app never uses).
"""

from __future__ import annotations

import copy
import fnmatch
import functools
import http.client
import json
import secrets
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.config.stackfile import PROJECT_DIR
from tools.fleet import Fleet
from tools.load import VerifiedConnection
from tools.local_stack import Reply
from tools.sandbox import Project, checked, copy_project, pulumi

FLEET_STACK = "fleet"
PRODUCTION = "production"
NS = "webstack"

# Key paths (lists as `[]`) that differ from production, and why.
FLEET_DIFFERENCES: dict[str, str] = {
    f"{NS}:hosts[].address": "each host's public address: its loopback address on this machine",
    f"{NS}:hosts[].privateAddress": "each host's address on the fleet's private Docker network",
    f"{NS}:edge.certificate": "'provided': a certificate of the fleet's test CA (no Cloudflare here)",
    f"{NS}:dns.enabled": "off: no Cloudflare account; clients reach edge-1's loopback address",
    f"{NS}:registry": "the fleet's private registry (offsite-1), with its test CA",
    f"{NS}:images.*": "production's public images, as built from Debian's packages and pushed to that registry",
    f"{NS}:services.*.image": "the demo app (examples/demo-app) stands in for the product's back and front end",
    f"{NS}:services.frontend.env.APP_ROLE": "the demo app's image serves both: this replica is the front end",
    f"{NS}:monitoring.grafana": "off: Debian has no Grafana, so the local image set has none",
    f"{NS}:backup.repository": "an sftp: repository on offsite-1 instead of S3",
    f"{NS}:backup.database": "none: the product's MongoDB is external (Atlas) and Debian has no mongodump",
}

# The local image set's name for each `webstack:images` key.
INFRASTRUCTURE_IMAGES: dict[str, str] = {
    "nginx": "nginx",
    "redis": "redis",
    "prometheus": "prometheus",
    "alertmanager": "alertmanager",
    "nodeExporter": "node-exporter",
    "redisExporter": "redis-exporter",
    "nginxExporter": "nginx-exporter",
    "backup": "backup",
    "postgres": "postgres",
    "victorialogs": "victorialogs",
    "vmalert": "vmalert",
    "syslogNg": "syslog-ng",
}
DEMO_APP = "demo-app"


@dataclass(frozen=True)
class FleetTarget:
    """What the fleet offers the stack."""

    hosts: dict[str, tuple[str, str]]  # host name -> (public address, private address)
    registry_server: str  # host:port as the hosts reach it
    registry_username: str
    registry_ca: str  # PEM
    images: dict[str, str]  # local image name (nginx, demo-app, ...) -> reference in the registry
    offsite_address: str  # private address of the host holding the backup repository
    webhook_url: str  # where Alertmanager posts (a receiver on the fleet)


def production_document(project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    return yaml.safe_load((project_dir / f"Pulumi.{PRODUCTION}.yaml").read_text())


def fleet_document(production: dict[str, Any], target: FleetTarget) -> dict[str, Any]:
    """Production's stack file with FLEET_DIFFERENCES applied (its secrets are set apart)."""
    config = copy.deepcopy(production["config"])
    for host in config[f"{NS}:hosts"]:
        if host["name"] not in target.hosts:
            raise ValueError(f"production's host {host['name']} has no fleet host (fleet: {sorted(target.hosts)})")
        host["address"], host["privateAddress"] = target.hosts[host["name"]]
    config[f"{NS}:edge"]["certificate"] = "provided"
    config[f"{NS}:dns"]["enabled"] = False
    config[f"{NS}:registry"] = {
        "server": target.registry_server,
        "username": target.registry_username,
        "caCertificate": target.registry_ca,
    }
    config[f"{NS}:images"] = {key: target.images[name] for key, name in INFRASTRUCTURE_IMAGES.items()}
    for name, service in config[f"{NS}:services"].items():
        service["image"] = target.images[DEMO_APP]
        if name == "frontend":
            service.setdefault("env", {})["APP_ROLE"] = "frontend"
    config[f"{NS}:monitoring"]["grafana"] = False
    config[f"{NS}:backup"]["repository"] = f"sftp:restic@{target.offsite_address}:/srv/restic/{FLEET_STACK}"
    config[f"{NS}:backup"]["database"] = "none"
    return {"config": config}


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf values by key path; list items of mappings are matched by their `name`."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out |= flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(value, list) and all(isinstance(item, dict) and "name" in item for item in value):
        out = {}
        for item in value:
            out |= flatten({k: v for k, v in item.items() if k != "name"}, f"{prefix}[{item['name']}]")
        return out
    return {prefix: value}


def differences(production: dict[str, Any], fleet: dict[str, Any]) -> dict[str, str]:
    """Each key path whose value differs (or exists in one file only) -> the FLEET_DIFFERENCES
    entry that allows it, or "" when none does."""
    before, after = flatten(production["config"]), flatten(fleet["config"])
    changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    allowed: dict[str, str] = {}
    for key in sorted(changed):
        pattern_key = _list_items_as_brackets(key)
        allowed[key] = next(
            (p for p in FLEET_DIFFERENCES if pattern_key == p or fnmatch.fnmatchcase(pattern_key, p + "*")), ""
        )
    return allowed


def _list_items_as_brackets(key: str) -> str:
    out, depth = [], 0
    for char in key:
        if char == "[":
            depth += 1
            out.append("[]")
        elif char == "]":
            depth -= 1
        elif depth == 0:
            out.append(char)
    return "".join(out)


def issue_certificate(ca_cert: Path, ca_key: Path, names: list[str], days: int = 30) -> tuple[str, str]:
    """An ECDSA key and a certificate for `names` signed by the CA: (certificate PEM, key PEM)."""
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        san = ",".join(f"DNS:{n}" for n in names)
        key, request, cert = work / "key.pem", work / "req.pem", work / "cert.pem"
        (work / "ext.cnf").write_text(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n")
        for command in (
            (
                ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
                [
                    "-subj",
                    f"/CN={names[0]}",
                    "-addext",
                    f"subjectAltName={san}",
                    "-keyout",
                    str(key),
                    "-out",
                    str(request),
                ],
            ),
            (
                ["x509", "-req", "-in", str(request), "-CA", str(ca_cert), "-CAkey", str(ca_key), "-days", str(days)],
                [
                    "-CAcreateserial",
                    "-CAserial",
                    str(work / "ca.srl"),
                    "-extfile",
                    str(work / "ext.cnf"),
                    "-out",
                    str(cert),
                ],
            ),
        ):
            subprocess.run(["openssl", *command[0], *command[1]], check=True, capture_output=True)
        return cert.read_text(), key.read_text()


def fleet_secrets(
    *, ssh_key: str, registry_password: str, tls: tuple[str, str], backup_ssh_key: str, webhook_url: str
) -> dict[str, str]:
    """Every secret the fleet stack needs: the fleet's, and made-up values for the app's API keys."""
    return {
        "sshPrivateKey": ssh_key,
        "registryPassword": registry_password,
        "tlsCertificate": tls[0],
        "tlsPrivateKey": tls[1],
        "backupSshKey": backup_ssh_key,
        "backupPassword": secrets.token_urlsafe(32),
        "alertWebhookUrl": webhook_url,
        # Referenced by the back end's secretEnv; the demo app reads none of them.
        "databaseUrl": "mongodb://unused.invalid/app",
        "jwtSecret": secrets.token_urlsafe(32),
        "razorpayKeySecret": secrets.token_urlsafe(16),
        "resendApiKey": secrets.token_urlsafe(16),
    }


def fleet_target(fleet: Fleet) -> FleetTarget:
    names = [*INFRASTRUCTURE_IMAGES.values(), DEMO_APP]
    pushed = {image.local.removeprefix("webstack-local/").partition(":")[0]: image.private for image in fleet.images}
    missing = [name for name in names if name not in pushed]
    if missing:
        raise RuntimeError(f"the fleet's registry lacks {', '.join(missing)}: run `python -m tools.fleet up` again")
    return FleetTarget(
        hosts={h.name: (h.public, h.private) for h in fleet.vps},
        registry_server=fleet.registry_private,
        registry_username=fleet.registry_user,
        registry_ca=fleet.ca.read_text(),
        images={name: pushed[name] for name in names},
        offsite_address=fleet.offsite.private,
        webhook_url=fleet.webhook_url,
    )


HEADER = """# The fleet stack: Pulumi.production.yaml onto the fleet's hosts (tools/fleet.py). Made by
# `python -m tools.fleet_stack` from production's file; only tools/fleet_stack.py's
# FLEET_DIFFERENCES differ. Not in git: it holds this machine's addresses and test CA.
"""


def write_fleet_stack(project: Project, fleet: Fleet) -> Path:
    """Pulumi.fleet.yaml in the project, the stack created and every secret set."""
    directory = project[0]
    document = fleet_document(production_document(directory), fleet_target(fleet))
    path = directory / f"Pulumi.{FLEET_STACK}.yaml"
    path.write_text(HEADER + yaml.safe_dump(document, sort_keys=False, width=120))
    checked(pulumi(project, "stack", "select", "--create", FLEET_STACK))
    production = document["config"]
    names = production[f"{NS}:edge"].get("serverNames") or [
        production[f"{NS}:domain"] if r == "@" else f"{r}.{production[f'{NS}:domain']}"
        for r in production[f"{NS}:dns"]["records"]
    ]
    values = fleet_secrets(
        ssh_key=fleet.key.read_text(),
        registry_password=fleet.registry_password,
        tls=issue_certificate(fleet.ca, fleet.state_dir / "ca.key", names),
        backup_ssh_key=fleet.restic_key.read_text(),
        webhook_url=fleet.webhook_url,
    )
    for key, value in values.items():
        done = subprocess.run(
            ["pulumi", "config", "set", "--secret", f"{NS}:{key}", "--stack", FLEET_STACK, "--non-interactive"],
            cwd=directory,
            env=project[1],
            input=value,
            capture_output=True,
            text=True,
            timeout=120,
        )
        checked(done)
    return path


def main() -> None:
    """Write the fleet stack into this checkout, for `scripts/up.sh fleet`."""
    import os

    from tools import fleet as fleet_tool

    if not (os.environ.get("PULUMI_CONFIG_PASSPHRASE") or os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")):
        raise SystemExit("set PULUMI_CONFIG_PASSPHRASE (any passphrase of yours) for the fleet stack's secrets")
    ensure = subprocess.run([str(PROJECT_DIR / "engine" / "ensure.sh")], capture_output=True, text=True, check=True)
    bin_dir = ensure.stdout.strip().splitlines()[-1]
    (PROJECT_DIR / ".state").mkdir(exist_ok=True)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PULUMI_BACKEND_URL": os.environ.get("PULUMI_BACKEND_URL", f"file://{PROJECT_DIR / '.state'}"),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    path = write_fleet_stack((PROJECT_DIR, env), fleet_tool.load())
    print(f"{path.name} written, secrets set: now `scripts/up.sh {FLEET_STACK}`")


if __name__ == "__main__":
    main()


# --- the deployed stack, for tests and drills -----------------------------------------------


@dataclass
class FleetStack:
    """The fleet stack deployed from a copy of the project: its engine, the fleet, requests
    through edge-1."""

    project: Project
    fleet: Fleet
    up_output: str = ""
    up_seconds: float = 0.0

    @property
    def directory(self) -> Path:
        return self.project[0]

    def pulumi(self, *args: str, check: bool = True, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        done = pulumi(self.project, *args, "--stack", FLEET_STACK, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)}:\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}")
        return done

    def output(self, name: str) -> Any:
        return json.loads(self.pulumi("stack", "output", name, "--json", "--show-secrets").stdout)

    def state(self) -> dict[str, Any]:
        return json.loads(self.pulumi("stack", "export").stdout)

    @property
    def edge(self) -> str:
        """edge-1's public address."""
        return self.fleet.host(self.fleet.edge).public

    @functools.cached_property
    def server_name(self) -> str:
        return str(self.output("edge")["serverNames"][0])

    def connection(self, *, https: bool = True, timeout: float = 15) -> http.client.HTTPConnection:
        if not https:
            return http.client.HTTPConnection(self.edge, 80, timeout=timeout)
        context = ssl.create_default_context(cafile=str(self.fleet.ca))
        return VerifiedConnection(self.edge, 443, server_name=self.server_name, context=context, timeout=timeout)

    def request(self, method: str, path: str, *, body: bytes | None = None, https: bool = True) -> Reply:
        conn = self.connection(https=https)
        try:
            conn.request(method, path, body=body, headers={"Host": self.server_name})
            response = conn.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            conn.close()


def deploy_fleet_stack(
    root: Path, bin_dir: Path, fleet: Fleet, *, policy_venv: Path | None = None, passphrase: str | None = None
) -> FleetStack:
    """`scripts/up.sh fleet` from a copy of the project under `root`, onto the fleet's bare hosts."""
    project = copy_project(root, bin_dir, passphrase=passphrase or secrets.token_urlsafe(16))
    directory, env = project
    if policy_venv is not None:
        (directory / "policy" / "venv").symlink_to(policy_venv)
    write_fleet_stack(project, fleet)
    started = time.monotonic()
    done = subprocess.run(
        ["bash", "scripts/up.sh", FLEET_STACK], cwd=directory, env=env, capture_output=True, text=True, timeout=3000
    )
    stack = FleetStack(project, fleet, done.stdout + done.stderr, time.monotonic() - started)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/up.sh {FLEET_STACK}:\n{done.stdout[-8000:]}\n{done.stderr[-8000:]}")
    return stack
