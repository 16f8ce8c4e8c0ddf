"""Each host as a container: the network, what a provider injects (root's key; on offsite-1
its TLS pair, htpasswd and restic's key), creating, booting and waiting for systemd, sshd
and a nested Docker engine, keeping what runs as wanted; making one host anew.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tools.fleet.common import STATE_ENV, FleetError, Log, _sha, docker, say
from tools.fleet.hosts import GATEWAY, NETWORK, RESTIC_HOME, RESTIC_UID, SUBNET, Host
from tools.fleet.images import OFFSITE_IMAGE, VPS_IMAGE, _image_id
from tools.fleet.model import Fleet

LABEL = "webstack.fleet"
CONFIG_LABEL = "webstack.fleet.config"
STATE_LABEL = "webstack.fleet.state"  # the state dir whose keys a host takes

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
