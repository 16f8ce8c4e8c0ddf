"""The commands: `up` (start), `down` (stop), `status` and `env`, and load()/running() for
the fleet `up` started (from its fleet.json).
"""

from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from tools.fleet.common import STATE_ENV, FleetError, Log, Timer, docker, locked, say, state_dir
from tools.fleet.containers import _inspect, ensure_hosts, ensure_network, ssh_answers
from tools.fleet.hosts import DEFAULT_EDGE, NETWORK, PREFIX, Host, default_hosts
from tools.fleet.images import ensure_images, stack_images
from tools.fleet.model import Fleet, PushedImage
from tools.fleet.pki import ensure_secrets
from tools.fleet.preflight import check_machine
from tools.fleet.registry import _certs_d, docker_login, push_images, wait_registry


def load(directory: Path | None = None) -> Fleet:
    """The fleet `up` started, from its fleet.json."""
    path = (directory or state_dir()) / "fleet.json"
    try:
        return Fleet.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        raise FleetError(f"no fleet ({path} does not exist): `venv/bin/python -m tools.fleet up`") from None


def running(directory: Path | None = None) -> bool:
    """fleet.json exists and every host's container runs."""
    try:
        fleet = load(directory)
    except FleetError:
        return False
    for host in fleet.hosts:
        inspected = _inspect(host.container)
        if not inspected or not inspected["State"].get("Running"):
            return False
    return True


def start(
    *,
    edge: str = DEFAULT_EDGE,
    push: bool = True,
    extra_images: Sequence[str] = (),
    directory: Path | None = None,
    log: Log = say,
) -> Fleet:
    """`up`: the network, the seven hosts booted and answering SSH with the key, the registry
    answering with the CA and credentials, the stack's local images (and `extra_images`)
    pushed to it; fleet.json written. Idempotent: what runs as wanted is left alone."""
    directory = directory or state_dir()
    started = time.monotonic()
    timer = Timer(log)
    with locked(directory):
        with timer.step("preflight"):
            check_machine()
        image_ids = ensure_images(directory, timer)
        fleet = Fleet(directory, default_hosts(edge), edge)
        with timer.step("keys, CA, registry credentials"):
            ensure_secrets(fleet)
        with timer.step("hosts"):
            ensure_network()
            booted = ensure_hosts(fleet, image_ids, log)
            kept = [h for h in fleet.hosts if h not in booted]
            with ThreadPoolExecutor(max_workers=len(fleet.hosts)) as pool:
                answers = list(pool.map(ssh_answers, [fleet] * len(kept), kept))
            missing = [h.name for h, ok in zip(kept, answers, strict=True) if not ok]
            if missing:
                raise FleetError(f"running but not answering SSH with the key: {', '.join(missing)} (`down` then `up`)")
        with timer.step("registry"):
            wait_registry(fleet)
            docker_login(fleet)
        images: tuple[PushedImage, ...] = ()
        if push:
            with timer.step("push"):
                images = push_images(fleet, [*stack_images(), *extra_images], log)
        elif fleet.json_file.exists():
            with contextlib.suppress(FleetError, KeyError, ValueError):
                images = load(directory).images
        timer.steps["up"] = round(time.monotonic() - started, 2)
        fleet = replace(fleet, images=images, timings=timer.steps)
        fleet.json_file.write_text(json.dumps(fleet.to_json(), indent=2) + "\n")
    log(
        f"up: {len(fleet.hosts)} hosts ({len(booted)} started), {len(images)} images in the registry, in {timer.steps['up']:.1f}s"
    )
    return fleet


def stop(*, directory: Path | None = None, purge: bool = False, log: Log = say) -> None:
    """`down`: every webstack-fleet container, volume and the network; the certs.d entry,
    the registry's tags on this machine and fleet.json. Keys and CA stay (unless `purge`)."""
    directory = directory or state_dir()
    started = time.monotonic()
    with locked(directory):
        fleet = Fleet(directory, default_hosts())
        names = docker("ps", "-a", "--format", "{{.Names}}", "--filter", f"name=^{PREFIX}-", check=False).stdout.split()
        names = [n for n in names if n.startswith(f"{PREFIX}-")]
        if names:
            docker("rm", "-f", "-v", *names, timeout=300)
        volumes = docker(
            "volume", "ls", "--format", "{{.Name}}", "--filter", f"name={PREFIX}-", check=False
        ).stdout.split()
        volumes = [v for v in volumes if v.startswith(f"{PREFIX}-")]
        if volumes:
            docker("volume", "rm", "-f", *volumes)
        if docker("network", "inspect", NETWORK, check=False).returncode == 0:
            docker("network", "rm", NETWORK)
        tags = docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", check=False).stdout.split()
        tags = [t for t in tags if t.startswith(f"{fleet.registry}/")]
        if tags:
            docker("image", "rm", *tags, check=False)
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(_certs_d(fleet))
        fleet.json_file.unlink(missing_ok=True)
        if purge:
            for child in directory.iterdir():
                if child.name != ".lock":
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
    log(
        f"down: {len(names)} containers, {len(volumes)} volumes, the network removed in {time.monotonic() - started:.1f}s"
    )


def status(directory: Path | None = None) -> list[tuple[Host, str, bool]]:
    """Each host: its container's state ("running", "exited", "absent"...) and whether SSH answers."""
    try:
        fleet = load(directory)
    except FleetError:
        fleet = Fleet(directory or state_dir(), default_hosts())

    def one(host: Host) -> tuple[Host, str, bool]:
        inspected = _inspect(host.container)
        state = inspected["State"]["Status"] if inspected else "absent"
        return host, state, state == "running" and fleet.key.exists() and ssh_answers(fleet, host, timeout=8)

    with ThreadPoolExecutor(max_workers=len(fleet.hosts)) as pool:
        return list(pool.map(one, fleet.hosts))


def env_exports(fleet: Fleet) -> str:
    values = {
        STATE_ENV: str(fleet.state_dir),
        "WEBSTACK_FLEET_KEY": str(fleet.key),
        "WEBSTACK_FLEET_RESTIC_KEY": str(fleet.restic_key),
        "WEBSTACK_FLEET_CA": str(fleet.ca),
        "WEBSTACK_FLEET_REGISTRY": fleet.registry,
        "WEBSTACK_FLEET_REGISTRY_PRIVATE": fleet.registry_private,
        "WEBSTACK_FLEET_REGISTRY_USER": fleet.registry_user,
        "WEBSTACK_FLEET_REGISTRY_PASSWORD_FILE": str(fleet.registry_password_file),
        "WEBSTACK_FLEET_DOCKER_CONFIG": str(fleet.docker_config),
        "WEBSTACK_FLEET_WEBHOOK_URL": fleet.webhook_url,
        "WEBSTACK_FLEET_RESTIC_REPOSITORY_PREFIX": fleet.restic_repository_prefix,
        "WEBSTACK_FLEET_EDGE": fleet.edge,
        "WEBSTACK_FLEET_HOSTS": " ".join(f"{h.name}={h.public},{h.private}" for h in fleet.hosts),
    }
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in values.items())
