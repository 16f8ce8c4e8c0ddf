"""The fleet: simulated bare VPS hosts in Docker, for end-to-end tests of the program over SSH.

Six Debian 12 hosts (edge-1, app-1, app-2, data-1, data-2, monitor-1) as a provider hands
them over: systemd as PID 1, OpenSSH taking root's key only, apt pointed at the Debian
mirror, nothing else (the program's bootstrap installs Docker, ufw and fail2ban itself).
A seventh, offsite-1, is not part of the stack: a private registry (TLS from a test CA,
htpasswd auth), an sftp-only `restic` user for backups and a webhook receiver.

    venv/bin/python -m tools.fleet up [--edge NAME] [--no-push] [--image TAG...]
    venv/bin/python -m tools.fleet status | env | down [--purge]

Addresses: the Docker network `webstack-fleet` (10.210.0.0/24) is the private network, and
each host's "public" address is a loopback address of this machine (127.0.0.11..17) where
only its public ports are published. State (keys, CA, registry password, fleet.json):
$WEBSTACK_FLEET_DIR, default ~/.cache/webstack/fleet. See docs/fleet.md.

Tests use `start()`, `stop()`, `load()` and the `Fleet` it returns (`fleet.ssh(host, cmd)`).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import http.client
import io
import ipaddress
import json
import os
import secrets
import shlex
import shutil
import ssl
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

STATE_ENV = "WEBSTACK_FLEET_DIR"
NETWORK = "webstack-fleet"
SUBNET = "10.210.0.0/24"
GATEWAY = "10.210.0.1"
PREFIX = "webstack-fleet"  # containers webstack-fleet-<host>, volumes webstack-fleet-<host>-docker
LABEL = "webstack.fleet"
CONFIG_LABEL = "webstack.fleet.config"
STATE_LABEL = "webstack.fleet.state"  # the state dir whose keys a host takes
HASH_LABEL = "webstack.context-hash"  # as images/build.sh labels its images

BASE_IMAGE = "webstack-local/debian:bookworm"
VPS_IMAGE = "webstack-local/vps:bookworm"
OFFSITE_IMAGE = "webstack-local/offsite:bookworm"
LOCAL_PREFIX = "webstack-local/"

VPS_NAMES = ("edge-1", "app-1", "app-2", "data-1", "data-2", "monitor-1")
OFFSITE = "offsite-1"
DEFAULT_EDGE = "edge-1"
FIRST_HOST = 11  # edge-1 is 10.210.0.11 and 127.0.0.11, ..., offsite-1 .17

REGISTRY_PORT = 5000
REGISTRY_USER = "webstack"
REGISTRY_NAMESPACE = "webstack"
WEBHOOK_PORT = 9099
WEBHOOK_LOG = "/var/log/webhook.jsonl"
RESTIC_USER = "restic"
RESTIC_UID = 1000  # images/offsite/Dockerfile
RESTIC_HOME = "/srv/restic"

# Without --privileged (refused here: the machine lacks CAP_SYS_RESOURCE), what a systemd
# host with a nested Docker engine needs; see docs/fleet.md and images/vps/vps-init.
RUN_FLAGS = (
    "--cgroupns=private",
    "--cap-add=ALL",
    "--cap-drop=SYS_RESOURCE",
    "--security-opt=seccomp=unconfined",
    "--security-opt=apparmor=unconfined",
    "--security-opt=systempaths=unconfined",
    "--tmpfs=/run:rw,nosuid,nodev,exec,mode=755",
    "--tmpfs=/run/lock:rw,nosuid,nodev,noexec,mode=1777",
    "--stop-timeout=30",
)

BOOT_TIMEOUT = 120.0
SSH_TIMEOUT = 60.0
REGISTRY_TIMEOUT = 60.0
PUSH_JOBS = 4

Log = Callable[[str], None]


class FleetError(RuntimeError):
    """The fleet cannot run (or did not come up): the message says what is missing and how to get it."""


def say(message: str) -> None:
    print(f"fleet: {message}", file=sys.stderr, flush=True)


def state_dir() -> Path:
    return Path(os.environ.get(STATE_ENV) or Path.home() / ".cache" / "webstack" / "fleet").expanduser()


# --- the model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Host:
    name: str
    role: str  # "vps" or "offsite"
    private: str  # address on the fleet's network (10.210.0.x)
    public: str  # loopback address of this machine where its public ports are published
    ports: tuple[int, ...]  # published on `public`, each to the same port in the host

    @property
    def container(self) -> str:
        return f"{PREFIX}-{self.name}"

    @property
    def docker_volume(self) -> str | None:
        """The volume at /var/lib/docker of a VPS (the nested engine needs a real file system)."""
        return f"{PREFIX}-{self.name}-docker" if self.role == "vps" else None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "hostname": self.name,
            "container": self.container,
            "private": self.private,
            "public": self.public,
            "ports": list(self.ports),
            "docker_volume": self.docker_volume,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Host:
        return cls(data["name"], data["role"], data["private"], data["public"], tuple(data["ports"]))


def default_hosts(edge: str = DEFAULT_EDGE) -> tuple[Host, ...]:
    """The six VPS hosts then offsite-1; `edge` (one of the VPS) also publishes 80 and 443."""
    if edge not in VPS_NAMES:
        raise FleetError(f"edge host {edge!r}: one of {', '.join(VPS_NAMES)}")
    hosts = [
        Host(
            name,
            "vps",
            f"10.210.0.{FIRST_HOST + i}",
            f"127.0.0.{FIRST_HOST + i}",
            (22, 80, 443) if name == edge else (22,),
        )
        for i, name in enumerate(VPS_NAMES)
    ]
    n = FIRST_HOST + len(VPS_NAMES)
    hosts.append(Host(OFFSITE, "offsite", f"10.210.0.{n}", f"127.0.0.{n}", (22, REGISTRY_PORT)))
    return tuple(hosts)


@dataclass(frozen=True)
class PushedImage:
    local: str  # webstack-local/nginx:bookworm
    public: str  # 127.0.0.17:5000/webstack/nginx:bookworm (from this machine)
    private: str  # 10.210.0.17:5000/webstack/nginx:bookworm (from the hosts)
    digest: str  # sha256:... of the manifest in the registry


@dataclass(frozen=True)
class Fleet:
    state_dir: Path
    hosts: tuple[Host, ...]
    edge: str = DEFAULT_EDGE
    images: tuple[PushedImage, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)

    # Files in the state dir.
    @property
    def key(self) -> Path:
        """root's SSH private key on every host (ed25519)."""
        return self.state_dir / "id_ed25519"

    @property
    def restic_key(self) -> Path:
        """restic's SSH private key on offsite-1 (sftp only)."""
        return self.state_dir / "restic_ed25519"

    @property
    def ca(self) -> Path:
        """The test CA's certificate: it signed the registry's; every host trusts it."""
        return self.state_dir / "ca.crt"

    @property
    def registry_password_file(self) -> Path:
        return self.state_dir / "registry.password"

    @property
    def docker_config(self) -> Path:
        """A DOCKER_CONFIG dir logged in to the registry (not the user's ~/.docker)."""
        return self.state_dir / "docker-config"

    @property
    def json_file(self) -> Path:
        return self.state_dir / "fleet.json"

    # The hosts.
    def host(self, name: str | Host) -> Host:
        if isinstance(name, Host):
            return name
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(f"no host {name!r} in the fleet ({', '.join(h.name for h in self.hosts)})")

    @property
    def vps(self) -> tuple[Host, ...]:
        return tuple(h for h in self.hosts if h.role == "vps")

    @property
    def offsite(self) -> Host:
        return next(h for h in self.hosts if h.role == "offsite")

    # offsite-1's services.
    @property
    def registry(self) -> str:
        """The registry from this machine: 127.0.0.17:5000."""
        return f"{self.offsite.public}:{REGISTRY_PORT}"

    @property
    def registry_private(self) -> str:
        """The registry from the hosts: 10.210.0.17:5000."""
        return f"{self.offsite.private}:{REGISTRY_PORT}"

    @property
    def registry_user(self) -> str:
        return REGISTRY_USER

    @property
    def registry_password(self) -> str:
        return self.registry_password_file.read_text().strip()

    @property
    def webhook_url(self) -> str:
        return f"http://{self.offsite.private}:{WEBHOOK_PORT}/"

    @property
    def restic_repository_prefix(self) -> str:
        """Prefix of restic repositories on offsite-1: add "/<name>"."""
        return f"sftp:{RESTIC_USER}@{self.offsite.private}:{RESTIC_HOME}"

    def image(self, local: str, *, private: bool = True) -> str:
        """The registry's name of a local image (webstack-local/NAME:TAG), from the hosts
        (private) or from this machine."""
        return f"{self.registry_private if private else self.registry}/{registry_path(local)}"

    # SSH.
    def ssh_options(self, key: Path | None = None) -> list[str]:
        return [
            "-F", "none",
            "-i", str(key or self.key),
            "-o", "IdentitiesOnly=yes",
            "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes",
            "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=5",
        ]  # fmt: skip

    def ssh_command(self, host: str | Host, *, user: str = "root", key: Path | None = None) -> list[str]:
        """argv of `ssh` to a host's public address (append the remote command)."""
        return ["ssh", *self.ssh_options(key), f"{user}@{self.host(host).public}"]

    def ssh(
        self,
        host: str | Host,
        command: str,
        *,
        user: str = "root",
        key: Path | None = None,
        input: str | None = None,
        timeout: float = 300,
        check: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run `command` (a shell command line) on a host over SSH, from this machine."""
        done = subprocess.run(
            [*self.ssh_command(host, user=user, key=key), command],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and done.returncode != 0:
            raise FleetError(f"ssh {self.host(host).name} {command!r}: exit {done.returncode}\n{done.stderr}")
        return done

    # fleet.json.
    def to_json(self) -> dict[str, Any]:
        offsite = self.offsite
        return {
            "version": 1,
            "state_dir": str(self.state_dir),
            "network": {"name": NETWORK, "subnet": SUBNET, "gateway": GATEWAY},
            "edge": self.edge,
            "hosts": [h.to_json() for h in self.hosts],
            "ssh": {
                "user": "root",
                "key": str(self.key),
                "public_key": str(self.key) + ".pub",
                "options": self.ssh_options(),
            },
            "ca": str(self.ca),
            "registry": {
                "host": offsite.name,
                "public": self.registry,
                "private": self.registry_private,
                "namespace": REGISTRY_NAMESPACE,
                "user": self.registry_user,
                "password_file": str(self.registry_password_file),
                "docker_config": str(self.docker_config),
            },
            "restic": {
                "user": RESTIC_USER,
                "key": str(self.restic_key),
                "home": RESTIC_HOME,
                "repository_prefix": self.restic_repository_prefix,
            },
            "webhook": {"host": offsite.name, "url": self.webhook_url, "log": WEBHOOK_LOG},
            "images": [vars(i) for i in self.images],
            "timings": self.timings,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fleet:
        return cls(
            state_dir=Path(data["state_dir"]),
            hosts=tuple(Host.from_json(h) for h in data["hosts"]),
            edge=data["edge"],
            images=tuple(PushedImage(**i) for i in data.get("images", [])),
            timings=dict(data.get("timings", {})),
        )


def registry_path(local: str) -> str:
    """webstack-local/nginx:bookworm -> webstack/nginx:bookworm (the registry's repository)."""
    name, _, tag = local.rpartition(":")
    if not name or "/" in tag:
        name, tag = local, "latest"
    return f"{REGISTRY_NAMESPACE}/{name.removeprefix(LOCAL_PREFIX)}:{tag}"


# --- small helpers ----------------------------------------------------------------------


def run(
    args: Sequence[str],
    *,
    input: str | bytes | None = None,
    timeout: float = 600,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    data = input.encode() if isinstance(input, str) else input
    done = subprocess.run(list(args), input=data, capture_output=True, timeout=timeout, env=env)
    result = subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    )
    if check and done.returncode != 0:
        raise FleetError(f"{shlex.join(args)}: exit {done.returncode}\n{result.stderr.strip()[-3000:]}")
    return result


def docker(
    *args: str, input: str | bytes | None = None, timeout: float = 600, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run(["docker", *args], input=input, timeout=timeout, check=check)


class Timer:
    """Steps and their wall times, said as they end."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.steps: dict[str, float] = {}

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        yield
        seconds = time.monotonic() - started
        self.steps[name] = round(self.steps.get(name, 0) + seconds, 2)
        self.log(f"{name}: {seconds:.1f}s")


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """One fleet command at a time per state dir."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hash_dir(directory: Path) -> str:
    lines = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        if "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        lines.append(f"{_sha(path.read_bytes())} {path.relative_to(directory)}")
    return _sha("\n".join(lines).encode())


# --- preflight ----------------------------------------------------------------------------


def check_machine() -> None:
    """What `up` needs on this machine, each missing piece named with how to get it."""
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
    if docker("image", "inspect", BASE_IMAGE, check=False).returncode != 0:
        raise FleetError(
            f"no image {BASE_IMAGE} (the fleet's hosts are built on it): build it with `bash images/build.sh debian` "
            "(debootstraps Debian 12 from this machine's mirror, about 30 s; `bash images/build.sh` also builds the "
            "images the fleet pushes to its registry)"
        )


# --- images -------------------------------------------------------------------------------


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


# --- keys, CA, registry credentials ----------------------------------------------------------


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


def _tar(files: Iterable[tuple[str, bytes | None, int, int]]) -> bytes:
    """A tar of (path, content or None for a directory, mode, uid) owned by uid:uid."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, content, mode, uid in files:
            info = tarfile.TarInfo(path)
            info.mode, info.uid, info.gid, info.mtime = mode, uid, uid, int(time.time())
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _injected(fleet: Fleet, host: Host) -> list[tuple[str, bytes | None, int, int]]:
    """What a provider puts on a new host: root's key; on offsite-1 also the registry's TLS
    pair and htpasswd and restic's key. The VPS hosts do not trust the test CA: the stack's
    `registry.caCertificate` must make their Docker engines trust it, as on a real VPS with
    a registry of one's own CA."""
    state = fleet.state_dir
    files: list[tuple[str, bytes | None, int, int]] = [
        ("root/.ssh", None, 0o700, 0),
        ("root/.ssh/authorized_keys", fleet.key.with_suffix(".pub").read_bytes(), 0o600, 0),
    ]
    if host.role == "offsite":
        files += [
            ("usr/local/share/ca-certificates/webstack-fleet-ca.crt", fleet.ca.read_bytes(), 0o644, 0),
            ("etc/docker/registry/tls/server.crt", (state / "registry.crt").read_bytes(), 0o644, 0),
            ("etc/docker/registry/tls/server.key", (state / "registry.key").read_bytes(), 0o600, 0),
            ("etc/docker/registry/htpasswd", (state / "registry.htpasswd").read_bytes(), 0o600, 0),
            (
                f"{RESTIC_HOME.lstrip('/')}/.ssh/authorized_keys",
                fleet.restic_key.with_suffix(".pub").read_bytes(),
                0o600,
                RESTIC_UID,
            ),
        ]
    return files


# --- network and hosts ---------------------------------------------------------------------


def ensure_network() -> None:
    found = docker("network", "inspect", NETWORK, check=False)
    if found.returncode == 0:
        config = json.loads(found.stdout)[0].get("IPAM", {}).get("Config") or [{}]
        if config[0].get("Subnet") != SUBNET:
            raise FleetError(
                f"a Docker network {NETWORK} exists with subnet {config[0].get('Subnet')}, not {SUBNET}: `python -m tools.fleet down` first"
            )
        return
    made = docker(
        "network",
        "create",
        "--driver",
        "bridge",
        "--subnet",
        SUBNET,
        "--gateway",
        GATEWAY,
        "--label",
        f"{LABEL}=1",
        NETWORK,
        check=False,
    )
    if made.returncode != 0:
        raise FleetError(
            f"cannot create the Docker network {NETWORK} ({SUBNET}): {made.stderr.strip()} (another network on that subnet?)"
        )


def _create_args(fleet: Fleet, host: Host, image_id: str) -> list[str]:
    args = [
        "--name", host.container,
        "--hostname", host.name,
        "--network", NETWORK,
        "--ip", host.private,
        "--label", f"{LABEL}=1",
        "--label", f"{LABEL}.host={host.name}",
        "--label", f"{STATE_LABEL}={fleet.state_dir}",
        *RUN_FLAGS,
    ]  # fmt: skip
    for port in host.ports:
        args += ["--publish", f"{host.public}:{port}:{port}"]
    if host.docker_volume:
        args += ["--volume", f"{host.docker_volume}:/var/lib/docker"]
    resolv = fleet.state_dir / "resolv.conf"
    if resolv.exists():
        args += ["--volume", f"{resolv}:/etc/resolv.conf:ro"]
    return [*args, image_id]


def _config_hash(fleet: Fleet, host: Host, image_id: str) -> str:
    parts = [json.dumps(_create_args(fleet, host, image_id))]
    parts += [f"{path} {mode} {uid} {_sha(content or b'')}" for path, content, mode, uid in _injected(fleet, host)]
    resolv = fleet.state_dir / "resolv.conf"
    parts.append(resolv.read_text() if resolv.exists() else "")
    return _sha("\n".join(parts).encode())[:32]


def _inspect(name: str) -> dict[str, Any] | None:
    found = docker("container", "inspect", name, check=False)
    return json.loads(found.stdout)[0] if found.returncode == 0 else None


def _remove_host(host: Host) -> None:
    docker("rm", "-f", "-v", host.container, check=False, timeout=120)
    if host.docker_volume:
        docker("volume", "rm", "-f", host.docker_volume, check=False)


def _create_host(fleet: Fleet, host: Host, image_id: str) -> None:
    if host.docker_volume:
        docker("volume", "create", "--label", f"{LABEL}=1", host.docker_volume)
    docker(
        "create",
        "--label",
        f"{CONFIG_LABEL}={_config_hash(fleet, host, image_id)}",
        *_create_args(fleet, host, image_id),
    )
    docker("cp", "-a", "-", f"{host.container}:/", input=_tar(_injected(fleet, host)))


def _probe_script() -> str:
    """What the nested Docker engine needs, tried in a VPS: overlay mounts on /var/lib/docker
    and a writable cgroup tree of its own."""
    return r"""set -e
fs=$(stat -f -c %T /var/lib/docker)
[ "$fs" != overlayfs ] || { echo "/var/lib/docker is on overlayfs (no volume?)"; exit 1; }
d=$(mktemp -d /var/lib/docker/.fleet-probe.XXXXXX)
trap 'umount "$d/m" 2>/dev/null || true; rm -rf "$d"' EXIT
mkdir "$d/l" "$d/u" "$d/w" "$d/m"
mount -t overlay overlay -o "lowerdir=$d/l,upperdir=$d/u,workdir=$d/w" "$d/m" || { echo "no overlay mount on $fs at /var/lib/docker"; exit 1; }
umount "$d/m"
if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then c=/sys/fs/cgroup/fleet-probe; else c=/sys/fs/cgroup/memory/fleet-probe; fi
mkdir "$c" && rmdir "$c" || { echo "the cgroup tree is not writable ($c)"; exit 1; }
"""


def _wait_booted(host: Host, deadline: float) -> None:
    """systemd reached `running` in the host; anything else by the deadline is an error."""
    state = ""
    while time.monotonic() < deadline:
        inspected = _inspect(host.container)
        if not inspected or not inspected["State"].get("Running"):
            logs = docker("logs", "--tail", "30", host.container, check=False)
            raise FleetError(
                f"{host.container} stopped while booting (systemd as PID 1 cannot run here?): exit "
                f"{inspected['State'].get('ExitCode') if inspected else '?'}\n{(logs.stdout + logs.stderr)[-2000:]}"
            )
        done = docker("exec", host.container, "systemctl", "is-system-running", check=False, timeout=30)
        state = done.stdout.strip()
        if state == "running":
            return
        if state == "degraded":
            failed = docker(
                "exec",
                host.container,
                "sh",
                "-c",
                "systemctl --failed --no-legend --plain; for u in $(systemctl --failed --no-legend --plain | cut -d' ' -f1); do journalctl -b -u \"$u\" --no-pager | tail -n 15; done",
                check=False,
            )
            raise FleetError(f"{host.name}: systemd is degraded after boot:\n{failed.stdout[-3000:]}")
        time.sleep(0.3)
    raise FleetError(
        f"{host.name}: systemd not running after {BOOT_TIMEOUT:.0f}s (state {state!r}); `docker logs {host.container}`"
    )


def ssh_answers(fleet: Fleet, host: Host, timeout: float = 10) -> bool:
    try:
        return fleet.ssh(host, "true", timeout=timeout).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _wait_ssh(fleet: Fleet, host: Host, deadline: float) -> None:
    while not ssh_answers(fleet, host):
        if time.monotonic() > deadline:
            last = fleet.ssh(host, "true", timeout=10)
            raise FleetError(
                f"{host.name}: sshd does not take the key on {host.public}:22 after {SSH_TIMEOUT:.0f}s: {last.stderr.strip()}"
            )
        time.sleep(0.3)


def _boot(fleet: Fleet, hosts: Sequence[Host]) -> None:
    """Start hosts that are created or stopped, and wait for systemd, sshd and the nested-Docker probe."""
    if not hosts:
        return
    docker("start", *(h.container for h in hosts), timeout=300)

    def one(host: Host) -> None:
        _wait_booted(host, time.monotonic() + BOOT_TIMEOUT)
        _wait_ssh(fleet, host, time.monotonic() + SSH_TIMEOUT)
        if host.role == "vps":
            probe = docker("exec", "-i", host.container, "sh", input=_probe_script(), check=False)
            if probe.returncode != 0:
                raise FleetError(
                    f"{host.name}: a nested Docker engine cannot run here: {(probe.stdout + probe.stderr).strip()} "
                    "(docs/fleet.md: the flags a VPS container needs)"
                )

    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        for future in [pool.submit(one, h) for h in hosts]:
            future.result()


def ensure_hosts(fleet: Fleet, image_ids: dict[str, str], log: Log) -> list[Host]:
    """Each host running with its current config: kept when it is, started when stopped (a
    reboot: its disk is kept), made anew when its image or config changed. The hosts started."""
    to_start: list[Host] = []
    for host in fleet.hosts:
        inspected = _inspect(host.container)
        other = inspected and inspected["Config"]["Labels"].get(STATE_LABEL)
        if other and other != str(fleet.state_dir):
            raise FleetError(
                f"a fleet made with the state dir {other} runs ({host.container}): use {STATE_ENV}={other}, "
                "or `python -m tools.fleet down` it first"
            )
    for host in fleet.hosts:
        image_id = image_ids[OFFSITE_IMAGE if host.role == "offsite" else VPS_IMAGE]
        wanted = _config_hash(fleet, host, image_id)
        inspected = _inspect(host.container)
        if inspected and inspected["Config"]["Labels"].get(CONFIG_LABEL) == wanted:
            if not inspected["State"].get("Running"):
                log(f"{host.name}: stopped, starting it")
                to_start.append(host)
            continue
        if inspected:
            log(f"{host.name}: its image or config changed, making it anew")
        _remove_host(host)
        _create_host(fleet, host, image_id)
        to_start.append(host)
    _boot(fleet, to_start)
    return to_start


def start_host(fleet: Fleet, host: Host, log: Log = say) -> None:
    """Make a host anew and boot it (a fresh VPS: new disk, new host keys, nothing installed).
    Any Host on the fleet's network will do, one of the fleet's or an extra (scratch_host)."""
    image_id = _image_id(OFFSITE_IMAGE if host.role == "offsite" else VPS_IMAGE)
    if not image_id:
        raise FleetError(f"no {VPS_IMAGE}: `venv/bin/python -m tools.fleet up` builds it")
    started = time.monotonic()
    _remove_host(host)
    _create_host(fleet, host, image_id)
    _boot(fleet, [host])
    log(f"{host.name}: made anew in {time.monotonic() - started:.1f}s")


def reset_host(fleet: Fleet, name: str | Host, log: Log = say) -> None:
    """Make one of the fleet's hosts anew."""
    start_host(fleet, fleet.host(name), log)


def remove_host(host: Host) -> None:
    """Remove a host's container and Docker volume."""
    _remove_host(host)


def scratch_host(name: str = "scratch-1", number: int = 18) -> Host:
    """An extra bare VPS beside the fleet (10.210.0.N, 127.0.0.N, SSH only), not in fleet.json:
    for tests that install things on a host without touching the stack's hosts. `down`
    removes it with the rest (same name prefix)."""
    if number in range(FIRST_HOST, FIRST_HOST + len(VPS_NAMES) + 1) or not 2 <= number <= 254:
        raise FleetError(
            f"scratch host number {number}: not one of the fleet's ({FIRST_HOST}..{FIRST_HOST + 6}), within 2..254"
        )
    return Host(name, "vps", f"10.210.0.{number}", f"127.0.0.{number}", (22,))


# --- the registry ---------------------------------------------------------------------------


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


# --- the commands ----------------------------------------------------------------------------


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.fleet", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the fleet (idempotent)")
    up.add_argument("--edge", default=DEFAULT_EDGE, choices=VPS_NAMES, help="the host that also publishes 80 and 443")
    up.add_argument("--no-push", action="store_true", help="do not push the local images to the registry")
    up.add_argument(
        "--image", action="append", default=[], metavar="TAG", help="push this local image too (repeatable)"
    )
    down = commands.add_parser("down", help="remove the hosts, their volumes and the network")
    down.add_argument("--purge", action="store_true", help="also delete the keys, CA and password in the state dir")
    commands.add_parser("status", help="each host and whether SSH answers")
    commands.add_parser("env", help="shell exports for the running fleet")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            fleet = start(edge=args.edge, push=not args.no_push, extra_images=args.image)
            for host in fleet.hosts:
                print(f"{host.name:<10} {host.public:<11} {host.private:<12} ports {','.join(map(str, host.ports))}")
            print(f"registry   {fleet.registry} (hosts: {fleet.registry_private}), {len(fleet.images)} images")
        elif args.command == "down":
            stop(purge=args.purge)
        elif args.command == "status":
            rows = status()
            for host, state, ssh_ok in rows:
                print(
                    f"{host.name:<10} {host.public:<11} {host.private:<12} {state:<8} ssh {'yes' if ssh_ok else 'no'}"
                )
            return 0 if all(ok for _, _, ok in rows) else 1
        elif args.command == "env":
            print(env_exports(load()), end="")
    except FleetError as exc:
        say(f"ERROR: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
