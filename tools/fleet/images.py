"""The images: the hosts' own (vps and offsite, built from images/ when their context or
base changed) and the stack's local images that `up` pushes to offsite-1's registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tools.fleet.common import REPO, FleetError, Timer, _hash_dir, _sha, docker, run

HASH_LABEL = "webstack.context-hash"  # as images/build.sh labels its images

BASE_IMAGE = "webstack-local/debian:bookworm"
VPS_IMAGE = "webstack-local/vps:bookworm"
OFFSITE_IMAGE = "webstack-local/offsite:bookworm"
LOCAL_PREFIX = "webstack-local/"


@dataclass(frozen=True)
class ImageSpec:
    tag: str
    context: Path
    base: str


FLEET_IMAGES = (
    ImageSpec(VPS_IMAGE, REPO / "images" / "vps", BASE_IMAGE),
    ImageSpec(OFFSITE_IMAGE, REPO / "images" / "offsite", VPS_IMAGE),
)


def _image_id(tag: str) -> str:
    return docker("image", "inspect", "--format", "{{.Id}}", tag, check=False).stdout.strip()


def ensure_images(state: Path, timer: Timer) -> dict[str, str]:
    """The vps and offsite images, built when their context or base changed: tag -> image id."""
    ids: dict[str, str] = {}
    for spec in FLEET_IMAGES:
        with timer.step(f"image {spec.tag}"):
            base_id = _image_id(spec.base)
            wanted = _sha(f"base={base_id}\ncontext={_hash_dir(spec.context)}\n".encode())
            have = docker(
                "image", "inspect", "--format", f'{{{{ index .Config.Labels "{HASH_LABEL}" }}}}', spec.tag, check=False
            )
            if have.returncode == 0 and have.stdout.strip() == wanted:
                ids[spec.tag] = _image_id(spec.tag)
                continue
            old = _image_id(spec.tag)
            logs = state / "logs"
            logs.mkdir(exist_ok=True)
            log = logs / f"{spec.context.name}.log"
            done = docker(
                "build",
                "--force-rm",
                "--label",
                f"{HASH_LABEL}={wanted}",
                "--tag",
                spec.tag,
                str(spec.context),
                check=False,
                timeout=1200,
            )
            log.write_text(done.stdout + done.stderr)
            if done.returncode != 0:
                raise FleetError(f"docker build {spec.tag} failed (log: {log}):\n{(done.stdout + done.stderr)[-3000:]}")
            ids[spec.tag] = _image_id(spec.tag)
            if old and old != ids[spec.tag]:
                docker("image", "rm", old, check=False)  # unless a container still uses it
    return ids


def stack_images() -> list[str]:
    """The local images the stack runs: `images/build.sh --list` (base and demo app included)."""
    listing = run(["bash", str(REPO / "images" / "build.sh"), "--list"], timeout=60)
    return [line.split()[1] for line in listing.stdout.splitlines() if len(line.split()) == 2]
