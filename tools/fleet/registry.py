"""offsite-1's registry from this machine: waiting for it to answer with the CA and
credentials, logging this machine's engine in (certs.d and a DOCKER_CONFIG in the state
dir), and pushing local images to it, only what it lacks.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import shutil
import ssl
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tools.fleet.common import FleetError, Log, docker, run, say
from tools.fleet.images import BASE_IMAGE, _image_id
from tools.fleet.model import Fleet, PushedImage, registry_path

REGISTRY_TIMEOUT = 60.0
PUSH_JOBS = 4


def _registry_get(
    fleet: Fleet, path: str, *, auth: bool = True, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    host, port = fleet.registry.rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(fleet.ca))
    conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=10)
    sent = dict(headers or {})
    if auth:
        token = base64.b64encode(f"{fleet.registry_user}:{fleet.registry_password}".encode()).decode()
        sent["Authorization"] = f"Basic {token}"
    try:
        conn.request(method, path, headers=sent)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def wait_registry(fleet: Fleet) -> None:
    deadline = time.monotonic() + REGISTRY_TIMEOUT
    last: object = None
    while time.monotonic() < deadline:
        try:
            status, _, _ = _registry_get(fleet, "/v2/")
            if status == 200:
                return
            last = f"HTTP {status}"
        except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
            last = exc
        time.sleep(0.3)
    raise FleetError(
        f"the registry does not answer on https://{fleet.registry}/v2/ with the CA and credentials: {last}"
    )


def _certs_d(fleet: Fleet) -> Path:
    return Path("/etc/docker/certs.d") / fleet.registry


def docker_login(fleet: Fleet) -> None:
    """This machine's engine trusts the CA for the registry; DOCKER_CONFIG in the state dir logged in."""
    certs = _certs_d(fleet)
    try:
        certs.mkdir(parents=True, exist_ok=True)
        if not (certs / "ca.crt").exists() or (certs / "ca.crt").read_bytes() != fleet.ca.read_bytes():
            shutil.copyfile(fleet.ca, certs / "ca.crt")
    except PermissionError as exc:
        raise FleetError(
            f"cannot write {certs}/ca.crt ({exc}): run the fleet as root (the Docker engine reads it)"
        ) from exc
    fleet.docker_config.mkdir(exist_ok=True, mode=0o700)
    config = fleet.docker_config / "config.json"
    token = base64.b64encode(f"{fleet.registry_user}:{fleet.registry_password}".encode()).decode()
    with contextlib.suppress(OSError, ValueError, KeyError):
        if json.loads(config.read_text())["auths"][fleet.registry]["auth"] == token:
            return
    run(
        [
            "docker",
            "--config",
            str(fleet.docker_config),
            "login",
            fleet.registry,
            "--username",
            fleet.registry_user,
            "--password-stdin",
        ],
        input=fleet.registry_password + "\n",
        timeout=60,
    )


def _manifest_digest(fleet: Fleet, path: str) -> str | None:
    repository, _, tag = path.rpartition(":")
    accept = ", ".join([
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ])  # fmt: skip
    status, headers, _ = _registry_get(
        fleet, f"/v2/{repository}/manifests/{tag}", method="HEAD", headers={"Accept": accept}
    )
    return headers.get("docker-content-digest") if status == 200 else None


def _repo_digests(tags: Sequence[str]) -> dict[str, list[str]]:
    if not tags:
        return {}
    found = docker("image", "inspect", *tags, check=False)
    images = json.loads(found.stdout or "[]")
    return {tag: list(image.get("RepoDigests") or []) for image in images for tag in image.get("RepoTags") or []}


def push_images(fleet: Fleet, tags: Sequence[str], log: Log = say) -> tuple[PushedImage, ...]:
    """Push local images (webstack-local/NAME:TAG) to the registry as webstack/NAME:TAG. Only
    what the registry lacks moves: an image whose manifest there is the one this machine
    pushed last is skipped without a `docker push`, and `docker push` sends missing layers
    only. The base image goes first (every other image shares its layer), then the rest,
    PUSH_JOBS at a time."""
    local = [t for t in dict.fromkeys(tags) if _image_id(t)]
    for missing in sorted(set(tags) - set(local)):
        log(f"push: {missing} is not built here, skipped (bash images/build.sh builds it)")
    digests = _repo_digests(local)
    env = {**os.environ, "DOCKER_CONFIG": str(fleet.docker_config)}

    def one(tag: str) -> PushedImage:
        started = time.monotonic()
        path = registry_path(tag)
        public = f"{fleet.registry}/{path}"
        repository = public.rpartition(":")[0]
        there = _manifest_digest(fleet, path)
        if there and f"{repository}@{there}" in digests.get(tag, []):
            return PushedImage(tag, public, f"{fleet.registry_private}/{path}", there)
        docker("tag", tag, public)
        pushed = run(["docker", "push", public], env=env, timeout=1200, check=False)
        if pushed.returncode != 0:
            raise FleetError(f"docker push {public}: {pushed.stderr.strip()[-2000:]}")
        digest = _manifest_digest(fleet, path)
        if not digest:
            raise FleetError(f"docker push {public} went through but the registry has no manifest for it")
        layers = pushed.stdout.count(": Pushed")
        log(f"push: {tag} -> {public} ({layers} layer{'s' * (layers != 1)} sent) in {time.monotonic() - started:.1f}s")
        return PushedImage(tag, public, f"{fleet.registry_private}/{path}", digest)

    first = [t for t in local if t == BASE_IMAGE]
    results = {t: one(t) for t in first}
    with ThreadPoolExecutor(max_workers=PUSH_JOBS) as pool:
        rest = [t for t in local if t not in results]
        for tag, pushed in zip(rest, pool.map(one, rest), strict=True):
            results[tag] = pushed
    return tuple(results[t] for t in local)
