"""Preflight: what `up` needs on this machine (docker, ssh, openssl, an engine of 20.10 or
later, the base image), each missing piece named with how to get it.
"""

from __future__ import annotations

import json
import shutil

from tools.fleet.common import FleetError, docker


def check_machine() -> None:
    """What `up` needs on this machine, each missing piece named with how to get it."""
    # The base image as the package has it: a caller that sets tools.fleet.BASE_IMAGE (the
    # fleet tests do, to see a missing image named) is heard, as when this was one module.
    from tools import fleet

    base_image = fleet.BASE_IMAGE
    for tool, package in (
        ("docker", "docker.io (bash scripts/docker-engine.sh)"),
        ("ssh", "openssh-client"),
        ("ssh-keygen", "openssh-client"),
        ("openssl", "openssl"),
    ):
        if shutil.which(tool) is None:
            raise FleetError(f"no `{tool}` on PATH: install {package} (apt-get install -y {package.split()[0]})")
    info = docker("info", "--format", "{{json .}}", check=False, timeout=60)
    if info.returncode != 0:
        raise FleetError(
            "no Docker engine answers (`docker info`: "
            f"{info.stderr.strip()[-300:] or info.returncode}): start one with `bash scripts/docker-engine.sh`"
        )
    details = json.loads(info.stdout)
    version = str(details.get("ServerVersion", "0"))
    major_minor = tuple(int(p) for p in version.split("+")[0].split(".")[:2] if p.isdigit())
    if major_minor < (20, 10):
        raise FleetError(f"the Docker engine is {version}: the fleet needs 20.10 or later (private cgroup namespaces)")
    if docker("image", "inspect", base_image, check=False).returncode != 0:
        raise FleetError(
            f"no image {base_image} (the fleet's hosts are built on it): build it with `bash images/build.sh debian` "
            "(debootstraps Debian 12 from this machine's mirror, about 30 s; `bash images/build.sh` also builds the "
            "images the fleet pushes to its registry)"
        )
