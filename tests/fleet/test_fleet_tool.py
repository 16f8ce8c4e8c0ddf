"""tools/fleet/ itself: the simulated VPS hosts, offsite-1's registry, sftp and webhook, and
a nested Docker engine the way the program's bootstrap installs it.

The fleet is started once for the module (`up` is idempotent: a running fleet is reused) and
left running, as tests/fleet/conftest.py leaves it for the stack's tests (`python -m
tools.fleet down` removes it). These tests only read the fleet's hosts, so they also pass on a
fleet the stack was deployed onto; whatever installs something (the bootstrap's packages, a
nested Docker engine) happens on a scratch VPS made beside the fleet and removed afterwards.
Needs a Docker engine and the local images (scripts/docker-engine.sh, images/build.sh); a
missing piece fails with the fleet's message, never skips. Warm: about a minute.
"""

from __future__ import annotations

import json
import os
import shlex
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools import fleet as fleet_tool
from tools.fleet import Fleet, FleetError, Host

pytestmark = pytest.mark.timeout(900)

REPO = Path(__file__).resolve().parents[2]
DEMO_APP = "webstack-local/demo-app:0.1.0"


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    was_running = fleet_tool.running()
    started = time.monotonic()
    up = fleet_tool.start()
    print(f"\nfleet up ({'reused' if was_running else 'started'}): {time.monotonic() - started:.1f}s {up.timings}")
    return up


@pytest.fixture(scope="module")
def scratch(fleet: Fleet) -> Iterator[Host]:
    """A fresh bare VPS beside the fleet (10.210.0.18, 127.0.0.18), removed at the end."""
    host = fleet_tool.scratch_host()
    fleet_tool.start_host(fleet, host)
    try:
        yield host
    finally:
        fleet_tool.remove_host(host)


def inspect(name: str) -> dict:
    return json.loads(subprocess.run(["docker", "inspect", name], capture_output=True, text=True, check=True).stdout)[0]


# --- the hosts ------------------------------------------------------------------------------


def test_hosts_and_addresses(fleet: Fleet) -> None:
    assert [h.name for h in fleet.hosts] == [*fleet_tool.VPS_NAMES, "offsite-1"]
    assert [h.private for h in fleet.hosts] == [f"10.210.0.{n}" for n in range(11, 18)]
    assert [h.public for h in fleet.hosts] == [f"127.0.0.{n}" for n in range(11, 18)]
    for host in fleet.hosts:
        done = fleet.ssh(host, "hostname; ip -4 -o addr show scope global | awk '{print $4}'", check=True)
        name, *addresses = done.stdout.split()
        assert name == host.name
        assert f"{host.private}/24" in addresses  # (docker0's too, once the stack is deployed)


def test_ssh_takes_the_key_only(fleet: Fleet) -> None:
    for host in fleet.hosts:
        assert fleet.ssh(host, "id -un").stdout.strip() == "root"
        # No password or keyboard-interactive method is even offered.
        refused = subprocess.run(
            [
                *fleet.ssh_command(host)[:-1],
                "-o", "PubkeyAuthentication=no",
                "-o", "PreferredAuthentications=password,keyboard-interactive",
                f"root@{host.public}", "true",
            ],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert refused.returncode == 255
        assert "Permission denied (publickey)" in refused.stderr, refused.stderr
    config = fleet.ssh("edge-1", "sshd -T", check=True).stdout
    assert "passwordauthentication no" in config
    assert "kbdinteractiveauthentication no" in config
    assert "permitrootlogin without-password" in config  # prohibit-password, as sshd -T spells it


def test_each_host_has_its_own_host_keys_and_machine_id(fleet: Fleet) -> None:
    seen: dict[str, set[str]] = {"key": set(), "machine-id": set()}
    for host in fleet.hosts:
        out = fleet.ssh(host, "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub; cat /etc/machine-id", check=True)
        fingerprint, machine_id = out.stdout.split()[1], out.stdout.split()[-1]
        seen["key"].add(fingerprint)
        seen["machine-id"].add(machine_id)
    assert len(seen["key"]) == len(fleet.hosts)
    assert len(seen["machine-id"]) == len(fleet.hosts)
    # None is in the image.
    baked = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "sh", fleet_tool.VPS_IMAGE, "-c", "ls /etc/ssh/ssh_host_* 2>/dev/null | wc -l"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert baked.stdout.strip() == "0"


def test_systemd_runs_every_host(fleet: Fleet) -> None:
    for host in fleet.hosts:
        out = fleet.ssh(host, "ps -o comm= -p 1; systemctl is-system-running; systemctl is-active ssh").stdout.split()
        assert out == ["systemd", "running", "active"], (host.name, out)
    offsite = fleet.ssh("offsite-1", "systemctl is-active docker-registry webhook-receiver").stdout.split()
    assert offsite == ["active", "active"]


def test_a_new_vps_is_bare(fleet: Fleet, scratch: Host) -> None:
    """Nothing of the program's: its bootstrap installs Docker, ufw and fail2ban with apt, which
    reaches the mirror (images/build.sh wrote the base image's sources) and starts services."""
    ours = fleet.ssh(
        scratch,
        "for p in docker.io containerd ufw fail2ban; do dpkg -s $p >/dev/null 2>&1 && echo $p; done; "
        "command -v docker dockerd ufw fail2ban-server; test -e /usr/sbin/policy-rc.d && echo policy-rc.d; true",
    )
    assert ours.stdout.split() == [], ours.stdout
    uris = fleet.ssh(scratch, "grep -h '^URIs:' /etc/apt/sources.list.d/*.sources", check=True).stdout.split()
    assert uris[0::2] == ["URIs:", "URIs:"] and all(u.startswith("http") for u in uris[1::2]), uris
    assert fleet.ssh(scratch, "systemctl is-system-running").stdout.strip() == "running"


def test_sysctls_stay_in_their_host(fleet: Fleet, scratch: Host) -> None:
    """fs.* and vm.* are the machine's kernel's: a host writes its own copy (images/vps/vps-init)."""
    keys = ("fs.file-max", "vm.swappiness")
    machine = subprocess.run(["sysctl", "-n", *keys], capture_output=True, text=True, check=True).stdout.split()
    wrote = fleet.ssh(scratch, "sysctl -w fs.file-max=2097152 vm.swappiness=7 && sysctl -n fs.file-max vm.swappiness")
    assert wrote.returncode == 0, wrote.stderr
    assert wrote.stdout.split()[-2:] == ["2097152", "7"]
    assert subprocess.run(["sysctl", "-n", *keys], capture_output=True, text=True).stdout.split() == machine
    assert fleet.ssh("edge-1", "sysctl -n vm.swappiness").stdout.strip() != "7"
    # Namespaced ones are the host's own anyway.
    assert (
        fleet.ssh(
            scratch, "sysctl -w net.core.somaxconn=4242 >/dev/null && sysctl -n net.core.somaxconn"
        ).stdout.strip()
        == "4242"
    )


def test_hosts_reach_each_other_on_the_private_network(fleet: Fleet) -> None:
    addresses = " ".join(h.private for h in fleet.hosts)
    for host in fleet.hosts:
        done = fleet.ssh(
            host,
            f'for a in {addresses}; do timeout 3 bash -c "</dev/tcp/$a/22" && echo $a; done',
        )
        assert done.stdout.split() == addresses.split(), (host.name, done.stdout, done.stderr)
    # The registry and the webhook receiver, from a VPS.
    ports = fleet.ssh(
        "monitor-1",
        f'for p in 5000 9099; do timeout 3 bash -c "</dev/tcp/{fleet.offsite.private}/$p" && echo $p; done',
    )
    assert ports.stdout.split() == ["5000", "9099"]


def test_only_the_loopback_ports_are_published(fleet: Fleet) -> None:
    for host in fleet.hosts:
        bindings = inspect(host.container)["HostConfig"]["PortBindings"]
        published = {int(port.split("/")[0]): b for port, b in bindings.items()}
        assert sorted(published) == sorted(host.ports), host.name
        for port, binds in published.items():
            assert binds == [{"HostIp": host.public, "HostPort": str(port)}], (host.name, binds)
    assert fleet.host(fleet.edge).ports == (22, 80, 443)
    assert fleet.offsite.ports == (22, 5000)
    assert all(h.ports == (22,) for h in fleet.vps if h.name != fleet.edge)


def test_up_is_idempotent_and_quick(fleet: Fleet) -> None:
    before = {h.name: inspect(h.container)["Id"] for h in fleet.hosts}
    started = time.monotonic()
    again = fleet_tool.start()
    seconds = time.monotonic() - started
    print(f"\nsecond up: {seconds:.1f}s {again.timings}")
    assert {h.name: inspect(h.container)["Id"] for h in fleet.hosts} == before
    assert seconds < 30
    assert again.images == fleet.images


def test_a_stopped_host_boots_clean_again(fleet: Fleet) -> None:
    """A machine's restart (or dockerd's) leaves the fleet's hosts stopped: `up` starts them,
    and the second boot runs first-boot again without failing (it once raced systemd's
    cleaning of /tmp under update-ca-certificates, on offsite-1, the host with a CA)."""
    offsite = fleet.offsite
    subprocess.run(["docker", "stop", "--time", "20", offsite.container], capture_output=True, check=True)
    before = inspect(offsite.container)["Id"]
    fleet_tool.start()  # raises FleetError naming the unit when systemd comes up degraded
    assert inspect(offsite.container)["Id"] == before, "the host was made anew, not restarted"
    state = fleet.ssh(offsite, "systemctl is-active vps-firstboot.service docker-registry.service", check=False)
    assert state.stdout.split() == ["active", "active"], state.stdout + state.stderr
    assert fleet_tool._registry_get(fleet, "/v2/", auth=False)[0] == 401


def test_cli_status_and_env(fleet: Fleet) -> None:
    python = [sys.executable, "-m", "tools.fleet"]
    status = subprocess.run([*python, "status"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert status.returncode == 0, status.stdout + status.stderr
    lines = status.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [h.name for h in fleet.hosts]
    assert all(line.endswith("ssh yes") for line in lines), status.stdout
    env = subprocess.run([*python, "env"], cwd=REPO, capture_output=True, text=True, timeout=60, check=True)
    exports = dict(shlex.split(line)[1].split("=", 1) for line in env.stdout.splitlines())
    assert exports["WEBSTACK_FLEET_KEY"] == str(fleet.key)
    assert exports["WEBSTACK_FLEET_CA"] == str(fleet.ca)
    assert exports["WEBSTACK_FLEET_REGISTRY"] == "127.0.0.17:5000"
    assert exports["WEBSTACK_FLEET_REGISTRY_PRIVATE"] == "10.210.0.17:5000"
    assert Path(exports["WEBSTACK_FLEET_REGISTRY_PASSWORD_FILE"]).read_text().strip() == fleet.registry_password
    described = json.loads(fleet.json_file.read_text())
    assert described["registry"]["public"] == fleet.registry
    assert {i["local"] for i in described["images"]} >= {fleet_tool.BASE_IMAGE, DEMO_APP}
    for image in described["images"]:
        assert image["private"] == fleet.image(image["local"])
        assert image["public"] == fleet.image(image["local"], private=False)


def test_missing_pieces_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(fleet_tool, "BASE_IMAGE", "webstack-local/debian:no-such-tag")
    with pytest.raises(FleetError, match=r"images/build\.sh"):
        fleet_tool.check_machine()
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FleetError, match=r"docker"):
        fleet_tool.check_machine()


# --- offsite-1 --------------------------------------------------------------------------------


def test_registry_serves_with_the_credentials_only(fleet: Fleet) -> None:
    assert fleet.images, "nothing was pushed"
    status, headers, _ = fleet_tool._registry_get(fleet, "/v2/", auth=False)
    assert status == 401
    assert headers["www-authenticate"].startswith("Basic ")
    demo = next(i for i in fleet.images if i.local == DEMO_APP)
    repository, _, tag = fleet_tool.registry_path(DEMO_APP).rpartition(":")
    assert fleet_tool._registry_get(fleet, f"/v2/{repository}/manifests/{tag}", auth=False)[0] == 401
    assert fleet_tool._manifest_digest(fleet, f"{repository}:{tag}") == demo.digest
    # The certificate: issued by the test CA for both of the registry's addresses.
    with pytest.raises(ssl.SSLCertVerificationError):
        ssl.get_server_certificate(("127.0.0.17", 5000), ca_certs="/etc/ssl/certs/ca-certificates.crt")
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(fleet.state_dir / "registry.crt")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "IP Address:10.210.0.17" in text and "IP Address:127.0.0.17" in text
    # docker pull: refused without credentials, served with them.
    anonymous = {**os.environ, "DOCKER_CONFIG": str(fleet.state_dir / "no-credentials")}
    subprocess.run(["docker", "image", "rm", "-f", demo.public], capture_output=True)
    refused = subprocess.run(
        ["docker", "pull", demo.public], env=anonymous, capture_output=True, text=True, timeout=120
    )
    # (This machine's engine treats 127.0.0.0/8 as an insecure registry: after the 401 it
    # retries over plain HTTP and reports that; from the hosts it says "no basic auth".)
    assert refused.returncode != 0, refused.stdout
    logged_in = {**os.environ, "DOCKER_CONFIG": str(fleet.docker_config)}
    pulled = subprocess.run(["docker", "pull", demo.public], env=logged_in, capture_output=True, text=True, timeout=300)
    assert pulled.returncode == 0, pulled.stderr
    assert demo.digest in pulled.stdout


def test_restic_backs_up_over_sftp_only(fleet: Fleet, tmp_path: Path) -> None:
    repo = f"test-{uuid.uuid4().hex[:8]}"
    ssh = shlex.join(["ssh", *fleet.ssh_options(fleet.restic_key), f"restic@{fleet.offsite.public}", "-s", "sftp"])
    env = {**os.environ, "RESTIC_PASSWORD": "fleet-test", "RESTIC_CACHE_DIR": str(tmp_path / "cache")}
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "file.txt").write_text("precious\n")
    restic = [
        "restic",
        "-r",
        f"sftp:restic@{fleet.offsite.public}:{fleet_tool.RESTIC_HOME}/{repo}",
        "-o",
        f"sftp.command={ssh}",
    ]
    try:
        for args in (["init"], ["backup", str(tmp_path / "data")], ["snapshots", "--json"]):
            done = subprocess.run([*restic, *args], env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        assert len(json.loads(done.stdout)) == 1
        # A shell is refused; root's key does not open restic's account.
        shell = fleet.ssh("offsite-1", "id", user="restic", key=fleet.restic_key)
        assert shell.returncode != 0 and "sftp connections only" in shell.stdout + shell.stderr
        assert fleet.ssh("offsite-1", "true", user="restic").returncode == 255
        owner = fleet.ssh("offsite-1", f"stat -c %U {fleet_tool.RESTIC_HOME}/{repo}/config", check=True)
        assert owner.stdout.strip() == "restic"
    finally:
        fleet.ssh("offsite-1", f"rm -rf {fleet_tool.RESTIC_HOME}/{repo}")


def test_webhook_receiver_logs_each_post(fleet: Fleet) -> None:
    marker = uuid.uuid4().hex
    body = json.dumps({"receiver": "fleet-test", "status": "firing", "marker": marker})
    request = (
        f"POST /alertmanager HTTP/1.1\r\nHost: {fleet.offsite.private}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}"
    )
    sent = fleet.ssh(
        "monitor-1",
        f"exec 3<>/dev/tcp/{fleet.offsite.private}/{fleet_tool.WEBHOOK_PORT}; cat >&3; head -1 <&3",
        input=request,
    )
    assert sent.stdout.startswith("HTTP/1.0 200"), sent.stdout + sent.stderr
    logged = fleet.ssh("offsite-1", f"grep {marker} {fleet_tool.WEBHOOK_LOG}", check=True).stdout.splitlines()
    assert [json.loads(line) for line in logged] == [json.loads(body)]


# --- a nested Docker engine, as the bootstrap installs it ----------------------------------


def test_nested_docker_runs_containers_and_pulls_from_the_registry(fleet: Fleet, scratch: Host) -> None:
    host = scratch
    started = time.monotonic()
    installed = fleet.ssh(
        host,
        "export DEBIAN_FRONTEND=noninteractive; apt-get update -q >/dev/null && "
        "apt-get install -y -q --no-install-recommends docker.io >/dev/null && "
        "systemctl is-active docker && docker info --format '{{.Driver}} {{.CgroupDriver}}'",
        timeout=600,
    )
    print(f"\napt-get install docker.io on {host.name}: {time.monotonic() - started:.1f}s")
    assert installed.returncode == 0, installed.stderr[-3000:]
    assert installed.stdout.split() == ["active", "overlay2", "cgroupfs"]
    # An image moved in with docker save | docker load, run with a published port.
    save = subprocess.Popen(["docker", "save", DEMO_APP], stdout=subprocess.PIPE)
    load = subprocess.run(
        ["docker", "exec", "-i", host.container, "docker", "load", "-q"],
        stdin=save.stdout,
        capture_output=True,
        text=True,
    )
    save.wait()
    assert load.returncode == 0, load.stderr
    ran = fleet.ssh(host, f"docker run -d --name demo -p 8000:8000 {DEMO_APP}")
    assert ran.returncode == 0, ran.stderr
    health = (
        "for i in $(seq 100); do r=$( (exec 3<>/dev/tcp/{a}/8000 && printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3 "
        "&& head -1 <&3) 2>/dev/null); case $r in *200*) echo ok; exit 0;; esac; sleep 0.2; done; exit 1"
    )
    assert fleet.ssh(host, health.format(a="127.0.0.1")).stdout.strip() == "ok"
    # From another host, over the private network.
    assert fleet.ssh("app-1", health.format(a=host.private)).stdout.strip() == "ok"
    # The nested container's cgroup is inside the VPS's, not beside it on the machine.
    nested_id = fleet.ssh(host, "docker inspect --format '{{.Id}}' demo", check=True).stdout.strip()
    vps_id = inspect(host.container)["Id"]
    paths = [str(p) for p in Path("/sys/fs/cgroup/memory").rglob(nested_id)] or [
        str(p) for p in Path("/sys/fs/cgroup").rglob(nested_id)
    ]
    assert paths and all(vps_id in p for p in paths), paths
    # The registry over the private network. A bare host does not trust the test CA; the
    # program's `registry.caCertificate` puts it where Docker trusts it for that registry.
    image = fleet.image("webstack-local/redis:bookworm")
    untrusted = fleet.ssh(host, f"docker pull -q {image}")
    assert untrusted.returncode != 0 and "certificate signed by unknown authority" in untrusted.stderr, untrusted.stderr
    certs = f"/etc/docker/certs.d/{fleet.registry_private}"
    fleet.ssh(host, f"mkdir -p {certs} && cat > {certs}/ca.crt", input=fleet.ca.read_text(), check=True)
    anonymous = fleet.ssh(host, f"docker pull -q {image}")
    assert anonymous.returncode != 0 and "no basic auth credentials" in anonymous.stderr, anonymous.stderr
    pulled = fleet.ssh(
        host,
        f"docker login {fleet.registry_private} -u {fleet.registry_user} --password-stdin >/dev/null 2>&1 && "
        f"docker pull -q {image} && docker run --rm {image} redis-server --version",
        input=fleet.registry_password + "\n",
        timeout=300,
    )
    assert pulled.returncode == 0, pulled.stderr
    assert "Redis server v=7" in pulled.stdout
