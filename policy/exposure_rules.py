"""Exposure: internal services never on a public interface, VPS firewalls on, pinned images."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from components.config.values import image_is_pinned

from .common import (
    ENVIRONMENT_SCHEMA,
    Schema,
    as_dict,
    as_int,
    is_private_address,
    is_public_bind,
    is_unknown,
    plain,
    settings,
    stack_environment,
    subject,
)
from .containers import CONTAINER, INTERNAL_PORTS, INTERNAL_ROLES, K8S_SERVICE, REMOTE_IMAGE, published_ports, role

DOCKER_PROVIDER = "pulumi:providers:docker"
REMOTE_COMMAND = "command:remote:Command"


_INTERNAL_NAME = re.compile(r"redis|sentinel|prometheus|alertmanager|grafana|exporter|pushgateway|victoria|vmalert")


def _k8s_service_exposure(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    props = plain(args.props)
    spec = as_dict(props.get("spec"))
    kind = spec.get("type") or "ClusterIP"
    name = str(as_dict(props.get("metadata")).get("name") or args.name)
    ports = [as_dict(p) for p in spec.get("ports") or [] if isinstance(p, dict)]
    internal = _INTERNAL_NAME.search(name) or any(as_int(p.get("port")) in INTERNAL_PORTS for p in ports)
    exposed = kind in ("LoadBalancer", "NodePort") or bool(spec.get("externalIPs"))
    if internal and exposed:
        report_violation(
            f"{subject(args.resource_type, args.name)}: internal service {name} is exposed outside the cluster "
            f"(type {kind}{', externalIPs' if spec.get('externalIPs') else ''}); fix: type ClusterIP (reach it "
            "with kubectl port-forward).",
            None,
        )


def internal_services_not_public(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Redis, Sentinel, Prometheus, Alertmanager, Grafana, the exporters, the log store and vmalert
    publish ports only on loopback or a private address (never 0.0.0.0, ::, a public address) and
    never use host networking; on Kubernetes their Services are never LoadBalancer, NodePort or
    externalIPs."""
    if args.resource_type == K8S_SERVICE:
        _k8s_service_exposure(args, report_violation)
        return
    if args.resource_type != CONTAINER:
        return
    props = plain(args.props)
    what = role(props, args.name)
    who = subject(args.resource_type, args.name)
    internal = what in INTERNAL_ROLES
    if internal and props.get("networkMode") == "host":
        report_violation(
            f"{who}: {what} uses host networking, so every port it listens on is on the host's public "
            "interface; fix: a bridge network and ports published on 127.0.0.1 or the private address.",
            None,
        )
    for port in published_ports(props):
        by_port = what not in ("app", "edge") and port["internal"] in INTERNAL_PORTS
        if not (internal or by_port):
            continue
        ip = port["ip"]
        if is_unknown(ip) or not is_public_bind(ip):
            continue
        where = (
            f"{ip}:{port['external'] or '<random>'}"
            if ip
            else f"all interfaces (0.0.0.0):{port['external'] or '<random>'}"
        )
        report_violation(
            f"{who}: {what if internal else 'internal service'} publishes container port {port['internal']} on "
            f"{where}; fix: publish it on 127.0.0.1 (reach it through an SSH tunnel) or on the host's private "
            "address only, or not at all (the Docker network reaches it).",
            None,
        )


# --- firewall ----------------------------------------------------------------------------------------

FIREWALL_SCHEMA: Schema = {
    "allowedPublicPorts": {
        "type": "array",
        "items": {"type": "integer"},
        "default": [22, 80, 443],
        "description": "Ports a VPS firewall may open to the world (the host's SSH port is always allowed).",
    }
}

_SERVICES = {"ssh": 22, "http": 80, "https": 443, "openssh": 22}


def _script_lines(script: str) -> list[str]:
    lines: list[str] = []
    for raw in script.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def firewall_problems(script: str, allowed_ports: set[int]) -> list[str]:
    """What is wrong with the firewall a bootstrap script sets up (ufw), or [] when it is right."""
    lines = _script_lines(script)
    problems: list[str] = []
    deny = [i for i, line in enumerate(lines) if re.search(r"\bufw\s+default\s+deny(\s+incoming)?\b", line)]
    enable = [i for i, line in enumerate(lines) if re.search(r"\bufw\s+(--force\s+)?enable\b", line)]
    disable = [i for i, line in enumerate(lines) if re.search(r"\bufw\s+disable\b", line)]
    if not deny:
        problems.append("has no `ufw default deny incoming`")
    if any(re.search(r"\bufw\s+default\s+allow\s+incoming\b", line) for line in lines):
        problems.append("allows all incoming traffic by default")
    if not enable:
        problems.append("never enables the firewall (`ufw --force enable`)")
    elif disable and max(disable) > max(enable):
        problems.append("disables the firewall after enabling it")
    # Docker's published ports are forwarded, never seen by ufw: DOCKER-USER must end in a drop.
    if not any(re.search(r"\biptables\b.*-A\s+DOCKER-USER\s+-j\s+DROP\b", line) for line in lines):
        problems.append("leaves Docker's published ports open to the world (no final DROP in the DOCKER-USER chain)")
    for line in lines:
        match = re.search(r"\bufw\s+allow\s+(.+)$", line)
        if not match:
            continue
        rule = match.group(1).strip().strip("'\"")
        source = re.match(r"from\s+['\"]?([^\s'\"]+)", rule)
        if source:
            if source.group(1) in ("any", "0.0.0.0/0", "::/0") or not is_private_address(source.group(1)):
                problems.append(f"allows everything from {source.group(1)}")
            continue
        if rule.startswith(("in ", "out ", "proto ")):
            problems.append(f"has a rule the policy cannot check (`ufw allow {rule}`)")
            continue
        spec = rule.split()[0].split("/")[0]
        ports: list[int] = []
        if spec.isdigit():
            ports = [int(spec)]
        elif re.fullmatch(r"\d+:\d+", spec):
            low, high = (int(p) for p in spec.split(":"))
            ports = list(range(low, high + 1))
        elif spec.lower() in _SERVICES:
            ports = [_SERVICES[spec.lower()]]
        else:
            problems.append(f"opens {spec} to the world")
            continue
        opened = sorted(set(ports) - allowed_ports)
        if opened:
            problems.append(f"opens port {', '.join(map(str, opened[:5]))} to the world")
    return problems


def host_firewall_enabled(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Every VPS host (a Docker engine reached over ssh://) is bootstrapped with its firewall on:
    default deny incoming, ufw enabled, only SSH/HTTP/HTTPS open to the world, peers by private address."""
    allowed = {int(p) for p in settings(args.get_config(), FIREWALL_SCHEMA)["allowedPublicPorts"]}
    commands: list[tuple[PolicyResource, dict[str, Any]]] = [
        (r, plain(r.props)) for r in args.resources if r.resource_type == REMOTE_COMMAND
    ]
    seen: set[str] = set()
    for provider in args.resources:
        if provider.resource_type != DOCKER_PROVIDER:
            continue
        host = plain(provider.props).get("host")
        if not isinstance(host, str) or not host.startswith("ssh://"):
            continue
        url = urlsplit(host)
        address = url.hostname or ""
        if address in seen:
            continue
        seen.add(address)
        on_host = [(r, p) for r, p in commands if as_dict(p.get("connection")).get("host") == address]
        if any(is_unknown(p.get("stdin")) for _, p in on_host):
            continue
        scripts = [(r, p["stdin"]) for r, p in on_host if isinstance(p.get("stdin"), str) and "ufw" in p["stdin"]]
        who = f"VPS host {address} ({subject(provider.resource_type, provider.name)})"
        if not scripts:
            report_violation(
                f"{who}: no command on the host sets up its firewall; fix: the VpsHost bootstrap "
                "(`ufw default deny incoming`, `ufw allow` 22/80/443, `ufw --force enable`, DOCKER-USER ending in DROP) "
                "before any container.",
                provider.urn,
            )
            continue
        for command, script in scripts:
            problems = firewall_problems(script, allowed | {url.port or 22})
            if problems:
                report_violation(
                    f"{who}: the firewall set up by {subject(command.resource_type, command.name)} "
                    f"{'; '.join(problems)}; fix: default deny incoming, only ports "
                    f"{', '.join(map(str, sorted(allowed)))} open to the world, peers by private address, ufw enabled.",
                    command.urn,
                )


# --- pinned images -----------------------------------------------------------------------------------


PINNED_SCHEMA: Schema = dict(ENVIRONMENT_SCHEMA)


def production_images_pinned(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """In production (configurable environments) every image is pinned by a tag other than
    latest, or by digest: RemoteImage names and image references given to containers."""
    cfg = settings(args.get_config(), PINNED_SCHEMA)
    resources = [(r, plain(r.props)) for r in args.resources]
    environment = stack_environment(cfg.get("environment"), [(r.resource_type, p) for r, p in resources])
    if environment not in cfg["environments"]:
        return
    for resource, props in resources:
        field = {REMOTE_IMAGE: "name", CONTAINER: "image"}.get(resource.resource_type)
        if field is None:
            continue
        ref = props.get(field)
        if not isinstance(ref, str) or ref.startswith("sha256:"):
            continue  # unknown, or an image id (pinned by content)
        if not image_is_pinned(ref):
            report_violation(
                f"{subject(resource.resource_type, resource.name)}: image {ref} is not pinned in {environment} "
                "(`latest` or no tag moves under you); fix: a version tag or @sha256 digest in the stack config "
                "(services.*.image, images.*).",
                resource.urn,
            )
