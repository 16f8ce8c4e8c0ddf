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

The parts, each importable on its own (this package re-exports what callers use):

    common.py     the repository, the state dir, FleetError, running commands (docker)
    hosts.py      the host list and addresses, offsite-1's services and ports
    model.py      the Fleet a caller gets: files in the state dir, SSH, fleet.json
    images.py     the hosts' images (built from images/) and the stack's images to push
    preflight.py  what `up` needs on this machine
    pki.py        SSH keys, the test CA, the registry's certificate and credentials
    containers.py each host as a container: network, create, boot, wait, make anew
    registry.py   offsite-1's registry from this machine: wait, log in, push
    lifecycle.py  the commands: start (up), stop (down), status, env; load(), running()
    __main__.py   the command line
"""

from tools.fleet.common import (
    REPO,
    STATE_ENV,
    FleetError,
    Log,
    Timer,
    docker,
    locked,
    run,
    say,
    state_dir,
)
from tools.fleet.containers import (
    BOOT_TIMEOUT,
    CONFIG_LABEL,
    LABEL,
    RUN_FLAGS,
    SSH_TIMEOUT,
    STATE_LABEL,
    ensure_hosts,
    ensure_network,
    remove_host,
    reset_host,
    ssh_answers,
    start_host,
)
from tools.fleet.hosts import (
    DEFAULT_EDGE,
    FIRST_HOST,
    GATEWAY,
    NETWORK,
    OFFSITE,
    PREFIX,
    REGISTRY_NAMESPACE,
    REGISTRY_PORT,
    REGISTRY_USER,
    RESTIC_HOME,
    RESTIC_UID,
    RESTIC_USER,
    SUBNET,
    VPS_NAMES,
    WEBHOOK_LOG,
    WEBHOOK_PORT,
    Host,
    default_hosts,
    scratch_host,
)
from tools.fleet.images import (
    BASE_IMAGE,
    FLEET_IMAGES,
    HASH_LABEL,
    LOCAL_PREFIX,
    OFFSITE_IMAGE,
    VPS_IMAGE,
    ImageSpec,
    ensure_images,
    stack_images,
)
from tools.fleet.lifecycle import env_exports, load, running, start, status, stop
from tools.fleet.model import Fleet, PushedImage, registry_path
from tools.fleet.pki import ensure_secrets
from tools.fleet.preflight import check_machine
from tools.fleet.registry import (
    PUSH_JOBS,
    REGISTRY_TIMEOUT,
    _manifest_digest,
    _registry_get,
    docker_login,
    push_images,
    wait_registry,
)

__all__ = [
    "BASE_IMAGE",
    "BOOT_TIMEOUT",
    "CONFIG_LABEL",
    "DEFAULT_EDGE",
    "FIRST_HOST",
    "FLEET_IMAGES",
    "GATEWAY",
    "HASH_LABEL",
    "LABEL",
    "LOCAL_PREFIX",
    "NETWORK",
    "OFFSITE",
    "OFFSITE_IMAGE",
    "PREFIX",
    "PUSH_JOBS",
    "REGISTRY_NAMESPACE",
    "REGISTRY_PORT",
    "REGISTRY_TIMEOUT",
    "REGISTRY_USER",
    "REPO",
    "RESTIC_HOME",
    "RESTIC_UID",
    "RESTIC_USER",
    "RUN_FLAGS",
    "SSH_TIMEOUT",
    "STATE_ENV",
    "STATE_LABEL",
    "SUBNET",
    "VPS_IMAGE",
    "VPS_NAMES",
    "WEBHOOK_LOG",
    "WEBHOOK_PORT",
    "Fleet",
    "FleetError",
    "Host",
    "ImageSpec",
    "Log",
    "PushedImage",
    "Timer",
    "_manifest_digest",
    "_registry_get",
    "check_machine",
    "default_hosts",
    "docker",
    "docker_login",
    "ensure_hosts",
    "ensure_images",
    "ensure_network",
    "ensure_secrets",
    "env_exports",
    "load",
    "locked",
    "push_images",
    "registry_path",
    "remove_host",
    "reset_host",
    "run",
    "running",
    "say",
    "scratch_host",
    "ssh_answers",
    "stack_images",
    "start",
    "start_host",
    "state_dir",
    "status",
    "stop",
    "wait_registry",
]
