"""The local images (images/build.sh), each started the way its component starts it.

Needs a Docker engine: scripts/docker-engine.sh starts one (installing Debian's docker.io
when missing) and a failure to do so fails every test here, loudly. The images are built
once per session (cached: a warm build is a few seconds). Each container gets the
component's command (never an entrypoint override), user, environment, uploaded files
(a tar extracted at /, as pulumi-docker's `uploads` do), volumes, network alias, container
defaults (no-new-privileges, memory limit, json-file logs) and health check, taken from
the components where they are importable; what they serve is then checked from outside:
the edge runs the `local` stack's own rendered nginx.conf in front of demo-app replicas,
Prometheus its rendered config and alert rules, the backup container its rendered
scripts on its cron.
"""

from __future__ import annotations

import gzip
import http.client
import io
import json
import os
import re
import secrets
import shutil
import ssl
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from components.backup_job import SCRIPTS as BACKUP_SCRIPTS
from components.backup_job import START as BACKUP_START
from components.config import RetentionConfig, StackConfig
from components.config.stackfile import read_stack_file
from components.load import load_stack_config
from components.nginx_edge import CONTAINER_CONF_DIR, EXPORTER_PORT, STATUS_PORT
from components.redis_cache import CONF as REDIS_CONF
from components.redis_cache import EXPORTER_PORT as REDIS_EXPORTER_PORT
from components.redis_cache import SENTINEL_PORT
from components.render.backup import BackupSpec, render_backup_script, render_restore_script
from components.render.monitoring import (
    ScrapeJob,
    render_alert_rules,
    render_alertmanager_config,
    render_prometheus_config,
)
from components.render.nginx import edge_spec, render_nginx_conf
from components.render.redis import (
    REDIS_START,
    SENTINEL_MASTER,
    SENTINEL_START,
    RedisSpec,
    render_redis_conf,
    render_sentinel_conf,
)
from components.targets.containers import LOG_DRIVER, LOG_OPTS, http_healthcheck

from .helpers import REPO, parse_metrics, request, wait_until

# A cold build (debootstrap, then every image) takes minutes; the session's first test pays it.
pytestmark = pytest.mark.timeout(1800)

BUILD = REPO / "images" / "build.sh"
ENGINE = REPO / "scripts" / "docker-engine.sh"
APP_USER = "10001:10001"
NOBODY = "65534:65534"


# --- Docker ---------------------------------------------------------------------------------


def run(
    args: Sequence[str], *, timeout: float = 120, data: bytes | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), input=data, capture_output=True, timeout=timeout)
    result = subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def docker(
    *args: str, timeout: float = 120, data: bytes | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run(["docker", *args], timeout=timeout, data=data, check=check)


def upload_tar(files: dict[str, str], executable: Sequence[str] = ()) -> bytes:
    """What pulumi-docker's `uploads` send: each file at its full path, 0644 (0744 if executable)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, content in sorted(files.items()):
            data = content.encode()
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size = len(data)
            info.mode = 0o744 if path in executable else 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class Container:
    name: str

    def inspect(self, template: str) -> str:
        return docker("inspect", "--format", template, self.name).stdout.strip()

    def port(self, internal: int) -> int:
        out = docker("port", self.name, f"{internal}/tcp").stdout.strip().splitlines()[0]
        return int(out.rsplit(":", 1)[1])

    def exec(
        self, *command: str, user: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return docker("exec", *(["--user", user] if user else []), self.name, *command, check=check, timeout=timeout)

    def logs(self) -> str:
        done = docker("logs", self.name, check=False)
        return done.stdout + done.stderr

    def running(self) -> bool:
        return self.inspect("{{.State.Running}}") == "true"

    def wait_healthy(self, timeout: float = 90) -> None:
        def healthy() -> bool:
            state = self.inspect("{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}")
            if state.startswith("exited") or state.startswith("dead"):
                raise AssertionError(f"{self.name} stopped: {state}\n{self.logs()}")
            return state == "running healthy"

        try:
            wait_until(healthy, timeout=timeout, what=f"{self.name} is healthy", interval=0.5)
        except AssertionError as exc:
            probe = self.inspect("{{json .State.Health}}") if self.running() else ""
            raise AssertionError(f"{exc}\nhealth: {probe}\nlogs:\n{self.logs()}") from None


@dataclass
class Lab:
    """Containers, volumes and one network of this test module, all removed at the end."""

    prefix: str
    network: str = ""
    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    def volume(self, name: str) -> str:
        full = f"{self.prefix}-{name}"
        docker("volume", "create", full)
        self.volumes.append(full)
        return full

    def start(
        self,
        name: str,
        image: str,
        *,
        command: Sequence[str] | None = None,
        user: str | None = None,
        env: dict[str, str] | None = None,
        files: dict[str, str] | None = None,
        executable: Sequence[str] = (),
        volumes: Sequence[str] = (),
        aliases: Sequence[str] = (),
        publish: Sequence[int] = (),
        healthcheck: str | None = None,
        memory_mb: int = 256,
        extra: Sequence[str] = (),
    ) -> Container:
        full = f"{self.prefix}-{name}"
        args = ["create", "--name", full, "--network", self.network]
        for alias in aliases:
            args += ["--network-alias", alias]
        # container_defaults(): the restart policy is left out, so that a crash shows.
        args += ["--security-opt", "no-new-privileges:true", "--memory", f"{memory_mb}m", "--log-driver", LOG_DRIVER]
        for key, value in LOG_OPTS.items():
            args += ["--log-opt", f"{key}={value}"]
        if user is not None:
            args += ["--user", user]
        for key, value in sorted((env or {}).items()):
            args += ["--env", f"{key}={value}"]
        for volume in volumes:
            args += ["--volume", volume]
        for port in publish:
            args += ["--publish", f"127.0.0.1::{port}"]
        if healthcheck is not None:
            args += [
                "--health-cmd",
                healthcheck,
                "--health-interval",
                "1s",
                "--health-timeout",
                "5s",
                "--health-retries",
                "60",
            ]
        args += [*extra, image, *(command or [])]
        docker(*args)
        self.containers.append(full)
        if files:
            docker("cp", "-", f"{full}:/", data=upload_tar(files, executable))
        docker("start", full)
        return Container(full)

    def cleanup(self) -> None:
        for name in reversed(self.containers):
            docker("rm", "--force", "--volumes", name, check=False)
        for volume in self.volumes:
            docker("volume", "rm", "--force", volume, check=False)
        if self.network:
            docker("network", "rm", self.network, check=False)


def probe(url: str) -> str:
    """The component's HTTP health check command (components.targets.containers.http_healthcheck)."""
    tests = http_healthcheck(url).tests
    assert isinstance(tests, list) and tests[0] == "CMD-SHELL", tests
    return str(tests[1])


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def engine() -> None:
    if shutil.which("bash") is None:
        pytest.fail("bash is needed to run scripts/docker-engine.sh", pytrace=False)
    done = run(["bash", str(ENGINE)], timeout=600, check=False)
    if done.returncode != 0:
        pytest.fail(
            f"no Docker engine: scripts/docker-engine.sh exited {done.returncode}\n{done.stderr}", pytrace=False
        )


@dataclass(frozen=True)
class Build:
    tags: dict[str, str]
    output: str
    seconds: float


@pytest.fixture(scope="session")
def images(engine: None) -> Build:
    started = time.monotonic()
    done = run(["bash", str(BUILD)], timeout=1700, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        pytest.fail(
            f"images/build.sh exited {done.returncode} after {seconds:.0f}s:\n{done.stderr[-6000:]}", pytrace=False
        )
    listing = run(["bash", str(BUILD), "--list"]).stdout
    tags = dict(line.split() for line in listing.splitlines() if line.strip())
    return Build(tags=tags, output=done.stderr, seconds=seconds)


@contextmanager
def open_lab(name: str) -> Iterator[Lab]:
    """A Lab on a Docker network of its own, cleaned up afterwards (names unique to this run)."""
    prefix = f"{name}-{os.getpid()}-{secrets.token_hex(3)}"
    lab = Lab(prefix=prefix, network=f"{prefix}-net")
    docker("network", "create", lab.network)
    try:
        yield lab
    finally:
        lab.cleanup()


@pytest.fixture(scope="module")
def lab(images: Build) -> Iterator[Lab]:
    with open_lab("wsimg") as opened:
        yield opened


@pytest.fixture(scope="module")
def local_config() -> StackConfig:
    raw, secret_keys = read_stack_file("local")
    return load_stack_config("local", raw, secret_keys, placeholder_secrets=True)


@dataclass(frozen=True)
class Redis:
    container: Container
    password: str
    port: int

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.container.exec(
            "redis-cli", "-p", str(self.port), "--no-auth-warning", "-a", self.password, *args, check=check
        )


@pytest.fixture(scope="module")
def redis(lab: Lab, images: Build, local_config: StackConfig) -> Redis:
    """The RedisCache primary: sh -c REDIS_START, redis.conf uploaded, a volume at /data."""
    cfg = local_config.redis
    spec = RedisSpec(
        port=cfg.port,
        maxmemory_mb=cfg.maxmemory_mb,
        maxmemory_policy=cfg.maxmemory_policy,
        appendonly=cfg.appendonly,
        appendfsync=cfg.appendfsync,
    )
    password = secrets.token_hex(24)
    container = lab.start(
        "redis",
        images.tags["redis"],
        command=["sh", "-c", REDIS_START],
        env={"REDIS_PASSWORD": password},
        files={REDIS_CONF: render_redis_conf(spec)},
        volumes=[f"{lab.volume('redis-data')}:/data"],
        aliases=["redis"],
        healthcheck=f'redis-cli -p {cfg.port} --no-auth-warning -a "$REDIS_PASSWORD" ping | grep -q PONG',
        memory_mb=int(cfg.maxmemory_mb * 1.5) + 64,
    )
    container.wait_healthy()
    return Redis(container, password, cfg.port)


def start_demo_app(lab: Lab, images: Build, name: str, *, role: str, redis: Redis | None) -> Container:
    """An AppTier replica: user 10001:10001, no capabilities, the component's env and health check."""
    env = {
        "PORT": "8000",
        "WEBSTACK_SERVICE": name.split("-")[0],
        "WEBSTACK_REPLICA": name,
        "WEBSTACK_ENVIRONMENT": "local",
    }
    env |= {"APP_ROLE": role, "LOG_LEVEL": "info", "SESSION_SECRET": secrets.token_hex(24)}
    if redis is not None:
        env["REDIS_URL"] = f"redis://:{redis.password}@redis:{redis.port}/0"
    return lab.start(
        name,
        images.tags["demo-app"],
        user=APP_USER,
        env=env,
        aliases=[name],
        publish=[8000],
        healthcheck=probe("http://127.0.0.1:8000/health"),
        extra=["--cap-drop", "ALL", "--read-only"],
    )


# --- the build ------------------------------------------------------------------------------


def test_build_is_cached_the_second_time(images: Build) -> None:
    print(f"\nimages/build.sh (first in this session): {images.seconds:.1f}s\n{images.output}")
    started = time.monotonic()
    again = run(["bash", str(BUILD)], timeout=600)
    seconds = time.monotonic() - started
    print(f"images/build.sh (warm): {seconds:.1f}s\n{again.stderr}")
    assert re.search(r"(\d+) images ready \(0 built, \1 cached\)", again.stderr), again.stderr
    assert seconds < 60


# name -> (user, entrypoint) as the public image (or the component) has them
EXPECTED = {
    "debian": ("", None),
    "nginx": ("", None),
    "redis": ("redis", None),
    "prometheus": (NOBODY, ["/usr/bin/prometheus"]),
    "alertmanager": (NOBODY, ["/usr/bin/prometheus-alertmanager"]),
    "node-exporter": (NOBODY, ["/usr/bin/prometheus-node-exporter"]),
    "nginx-exporter": (NOBODY, ["/usr/bin/prometheus-nginx-exporter"]),
    "redis-exporter": (NOBODY, ["/usr/bin/prometheus-redis-exporter"]),
    "backup": ("", None),
    "victorialogs": (NOBODY, ["/usr/local/bin/victoria-logs"]),
    "vmalert": (NOBODY, ["/usr/local/bin/vmalert"]),
    "syslog-ng": (
        "",
        [
            "/usr/sbin/syslog-ng",
            "-F",
            "--no-caps",
            "--persist-file=/var/lib/syslog-ng/syslog-ng.persist",
            "--pidfile=/run/syslog-ng.pid",
            "--control=/run/syslog-ng.ctl",
        ],
    ),
    "postgres": ("postgres", None),
    "demo-app": (APP_USER, None),
}
# Debian's PostgreSQL 15 brings perl (postgresql-common) and LLVM (its JIT): as big as the
# official postgres:15 image (about 420 MB).
# The backup image carries the same server for the restore drills' scratch cluster.
SIZE_LIMIT_MIB = {"postgres": 400, "backup": 450}


def test_every_image_is_built_labelled_and_small(images: Build) -> None:
    assert set(images.tags) == set(EXPECTED)
    for name, tag in images.tags.items():
        config = json.loads(docker("image", "inspect", "--format", "{{json .Config}}", tag).stdout)
        assert re.fullmatch(r"[0-9a-f]{64}", (config.get("Labels") or {}).get("webstack.context-hash", "")), name
        user, entrypoint = EXPECTED[name]
        assert (config.get("User") or "") == user, name
        assert config.get("Entrypoint") == entrypoint, name
        size = int(docker("image", "inspect", "--format", "{{.Size}}", tag).stdout)
        assert size < SIZE_LIMIT_MIB.get(name, 250) * 1024 * 1024, f"{name}: {size / 1048576:.0f} MiB"


# --- Redis ----------------------------------------------------------------------------------


def test_redis_requires_the_password(redis: Redis, local_config: StackConfig) -> None:
    anonymous = redis.container.exec("redis-cli", "-p", str(redis.port), "ping", check=False)
    assert "NOAUTH" in anonymous.stdout + anonymous.stderr
    wrong = redis.container.exec(
        "redis-cli", "-p", str(redis.port), "--no-auth-warning", "-a", "wrong", "ping", check=False
    )
    assert "WRONGPASS" in wrong.stdout + wrong.stderr or "invalid" in wrong.stdout + wrong.stderr
    assert redis.cli("ping").stdout.strip() == "PONG"
    # The rendered config is the one in force.
    assert redis.cli("config", "get", "maxmemory").stdout.split() == [
        "maxmemory",
        str(local_config.redis.maxmemory_mb << 20),
    ]
    assert redis.cli("config", "get", "appendonly").stdout.split() == ["appendonly", "yes"]
    # Not root; the volume is its own; the password file is private.
    assert redis.container.exec("id", "-u").stdout.strip() == "999"
    assert redis.container.exec("stat", "-c", "%U %a", "/data").stdout.split()[0] == "redis"
    assert redis.container.exec("stat", "-c", "%a", "/tmp/auth.conf").stdout.strip() == "600"
    assert redis.cli("set", "images:test", "1").stdout.strip() == "OK"
    assert "appendonly" in redis.container.exec("ls", "/data").stdout


def test_redis_sentinel_starts(lab: Lab, images: Build, redis: Redis) -> None:
    conf = render_sentinel_conf(primary_address="redis", primary_port=redis.port, quorum=1, port=SENTINEL_PORT)
    sentinel = lab.start(
        "sentinel",
        images.tags["redis"],
        command=["sh", "-c", SENTINEL_START],
        env={"REDIS_PASSWORD": redis.password},
        files={"/etc/redis/sentinel.conf": conf},
        volumes=[f"{lab.volume('sentinel-data')}:/data"],
        aliases=["redis-sentinel"],
        healthcheck=(
            f'redis-cli -p {SENTINEL_PORT} --no-auth-warning -a "$REDIS_PASSWORD" sentinel master {SENTINEL_MASTER} >/dev/null'
        ),
        memory_mb=64,
    )
    sentinel.wait_healthy()
    master = sentinel.exec(
        "redis-cli",
        "-p",
        str(SENTINEL_PORT),
        "--no-auth-warning",
        "-a",
        redis.password,
        "sentinel",
        "master",
        SENTINEL_MASTER,
    ).stdout.split()
    assert master[master.index("port") + 1] == str(redis.port)


def test_redis_exporter_reads_redis_addr_and_password_from_the_env(lab: Lab, images: Build, redis: Redis) -> None:
    exporter = lab.start(
        "redis-exporter",
        images.tags["redis-exporter"],
        env={"REDIS_ADDR": f"redis://redis:{redis.port}", "REDIS_PASSWORD": redis.password},
        user=NOBODY,
        publish=[REDIS_EXPORTER_PORT],
        memory_mb=64,
    )
    port = exporter.port(REDIS_EXPORTER_PORT)
    wait_until(lambda: request(port, "/metrics").status == 200, timeout=30, what="redis exporter /metrics")
    metrics = parse_metrics(request(port, "/metrics").body.decode())
    assert metrics.get("redis_up") == 1, exporter.logs()
    assert (metrics.get("redis_memory_max_bytes") or 0) > 0


# --- the demo app ---------------------------------------------------------------------------


def test_demo_app_serves_with_redis_and_drains_on_stop(lab: Lab, images: Build, redis: Redis) -> None:
    app = start_demo_app(lab, images, "backend-9", role="backend", redis=redis)
    app.wait_healthy()
    port = app.port(8000)
    health = request(port, "/health")
    assert health.status == 200 and health.header("X-Replica") == "backend-9"
    hits = request(port, "/api/hits")
    assert hits.status == 200, hits.body
    assert json.loads(hits.body)["replica"] == "backend-9"
    assert app.exec("id", "-u").stdout.strip() == "10001"
    assert app.exec("python3", "-c", "import redis").returncode == 0

    result: dict[str, object] = {}

    def slow() -> None:
        reply = request(port, "/api/slow?seconds=3", timeout=20)
        result.update(status=reply.status, connection=reply.header("Connection"))

    worker = threading.Thread(target=slow)
    worker.start()
    time.sleep(0.7)
    docker("stop", "--time", "20", app.name, timeout=60)
    worker.join(timeout=20)
    assert result == {"status": 200, "connection": "close"}, app.logs()
    assert app.inspect("{{.State.ExitCode}}") == "0", app.logs()
    assert "SIGTERM: draining" in app.logs()


# --- the edge -------------------------------------------------------------------------------


def make_certificate(directory: Path, names: Sequence[str]) -> None:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed: apt-get install -y --no-install-recommends openssl", pytrace=False)
    (directory / "tls").mkdir(parents=True)
    san = ",".join(f"DNS:{n}" for n in names)
    run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", "2", "-subj", f"/CN={names[0]}", "-addext", f"subjectAltName={san}",
            "-keyout", str(directory / "tls" / "edge.key"), "-out", str(directory / "tls" / "edge.crt"),
        ]
    )  # fmt: skip


def https(port: int, path: str, host: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    try:
        conn.request("GET", path, headers={"Host": host, **(headers or {})})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_edge_serves_the_local_stacks_config_in_front_of_the_demo_app(
    lab: Lab, images: Build, redis: Redis, local_config: StackConfig, tmp_path: Path
) -> None:
    backend = start_demo_app(lab, images, "backend-0", role="backend", redis=redis)
    frontend = start_demo_app(lab, images, "frontend-0", role="frontend", redis=None)
    backend.wait_healthy()
    frontend.wait_healthy()

    conf_dir = tmp_path / "edge"
    make_certificate(conf_dir, local_config.server_names)
    conf = render_nginx_conf(
        edge_spec(
            local_config,
            {"backend": ["backend-0:8000"], "frontend": ["frontend-0:8000"]},
            certificate=f"{CONTAINER_CONF_DIR}/tls/edge.crt",
            certificate_key=f"{CONTAINER_CONF_DIR}/tls/edge.key",
        )
    )
    assert "user nginx;" in conf
    (conf_dir / "nginx.conf").write_text(conf)
    edge = lab.start(
        "edge",
        images.tags["nginx"],
        command=["nginx", "-c", f"{CONTAINER_CONF_DIR}/nginx.conf", "-g", "daemon off;"],
        volumes=[f"{conf_dir}:{CONTAINER_CONF_DIR}:ro"],
        aliases=["edge"],
        publish=[80, 443],
        healthcheck=f"wget -q -O /dev/null http://127.0.0.1:{STATUS_PORT}/stub_status || exit 1",
        memory_mb=512,
    )
    edge.wait_healthy()
    host = local_config.server_names[0]
    https_port, http_port = edge.port(443), edge.port(80)

    redirect = request(http_port, "/api/hits", headers={"Host": host})
    assert redirect.status == 301 and (redirect.header("Location") or "").startswith(f"https://{host}")
    status, headers, body = https(https_port, "/api/hits", host)
    assert status == 200, body
    assert headers["x-replica"] == "backend-0" and "strict-transport-security" in headers
    assert json.loads(body)["replica"] == "backend-0"
    status, headers, body = https(https_port, "/", host)
    assert status == 200 and headers["x-replica"] == "frontend-0" and b"/static/app.js" in body
    status, headers, body = https(https_port, "/api/data", host, {"Accept-Encoding": "gzip"})
    assert status == 200 and headers.get("content-encoding") == "gzip"
    assert json.loads(gzip.decompress(body))["replica"] == "backend-0"
    # The workers run as the rendered `user nginx;`, the access log is the container's stdout.
    processes = edge.exec(
        "sh", "-c", "for s in /proc/[0-9]*/status; do awk '/^Name:/ { n = $2 } /^Uid:/ { print n, $2 }' \"$s\"; done"
    ).stdout.splitlines()
    assert "nginx 0" in processes and "nginx 101" in processes, processes  # master as root, workers as nginx
    # (the access log is buffered, flushed every second)
    # The access log is JSON (components/render/nginx.py ACCESS_LOG_FIELDS), one object a line.
    wait_until(lambda: '"uri":"/api/hits"' in edge.logs(), timeout=10, what="the access log is in the container's log")
    # The component's reload: test the config, then reload gracefully.
    exec_nginx = ["nginx", "-c", f"{CONTAINER_CONF_DIR}/nginx.conf"]
    edge.exec(*exec_nginx, "-t", "-q")
    edge.exec(*exec_nginx, "-s", "reload")
    wait_until(lambda: https(https_port, "/health", host)[0] == 200, timeout=10, what="the edge after a reload")

    exporter = lab.start(
        "edge-exporter",
        images.tags["nginx-exporter"],
        command=[f"--nginx.scrape-uri=http://edge:{STATUS_PORT}/stub_status"],
        user=NOBODY,
        publish=[EXPORTER_PORT],
        memory_mb=64,
    )
    port = exporter.port(EXPORTER_PORT)
    wait_until(lambda: request(port, "/metrics").status == 200, timeout=30, what="nginx exporter /metrics")
    metrics = parse_metrics(request(port, "/metrics").body.decode())
    assert metrics.get("nginx_up") == 1, exporter.logs()
    assert (metrics.get("nginx_connections_accepted") or 0) > 0


# --- monitoring -----------------------------------------------------------------------------


def test_monitoring_stack(lab: Lab, images: Build, local_config: StackConfig, tmp_path: Path) -> None:
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    (textfile / "images_test.prom").write_text("# TYPE webstack_images_test gauge\nwebstack_images_test 42\n")
    node = lab.start(
        "node-exporter",
        images.tags["node-exporter"],
        command=[
            "--path.rootfs=/host",
            "--collector.textfile.directory=/textfile",
            "--collector.filesystem.mount-points-exclude=^/(dev|proc|sys|run|var/lib/docker/.+)($|/)",
        ],
        volumes=["/:/host:ro", f"{textfile}:/textfile:ro"],
        aliases=["node-exporter"],
        publish=[9100],
        user=NOBODY,
        memory_mb=64,
        extra=["--pid", "host"],
    )
    alertmanager_conf = "/etc/alertmanager/alertmanager.yml"
    alertmanager = lab.start(
        "alertmanager",
        images.tags["alertmanager"],
        command=[f"--config.file={alertmanager_conf}", "--storage.path=/alertmanager", "--web.listen-address=:9093"],
        files={alertmanager_conf: render_alertmanager_config(webhook_url=None, environment="local")},
        volumes=[f"{lab.volume('alertmanager')}:/alertmanager"],
        aliases=["alertmanager"],
        publish=[9093],
        healthcheck=probe("http://127.0.0.1:9093/-/healthy"),
        user=NOBODY,
    )
    rules = "/etc/prometheus/rules/webstack.rules.yml"
    prometheus_yml = render_prometheus_config(
        scrape_interval_s=2,
        jobs=[
            ScrapeJob(name="node", targets=["node-exporter:9100"]),
            ScrapeJob(name="prometheus", targets=["localhost:9090"]),
            ScrapeJob(name="alertmanager", targets=["alertmanager:9093"]),
        ],
        alertmanager_targets=["alertmanager:9093"],
        rule_files=[rules],
        environment="local",
    )
    prometheus = lab.start(
        "prometheus",
        images.tags["prometheus"],
        command=[
            "--config.file=/etc/prometheus/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
            f"--storage.tsdb.retention.time={local_config.monitoring.retention_days}d",
            "--web.enable-lifecycle",
        ],
        files={
            "/etc/prometheus/prometheus.yml": prometheus_yml,
            rules: render_alert_rules(local_config.monitoring.thresholds, environment="local", backups=True),
        },
        volumes=[f"{lab.volume('prometheus')}:/prometheus"],
        aliases=["prometheus"],
        publish=[9090],
        healthcheck=probe("http://127.0.0.1:9090/-/ready"),
        user=NOBODY,
        memory_mb=1024,
    )
    alertmanager.wait_healthy()
    prometheus.wait_healthy()
    prom = prometheus.port(9090)
    assert request(prom, "/-/ready").status == 200
    assert request(alertmanager.port(9093), "/-/healthy").status == 200

    def targets_up() -> bool:
        active = json.loads(request(prom, "/api/v1/targets").body)["data"]["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in active}
        return health == {"node": "up", "prometheus": "up", "alertmanager": "up"}

    wait_until(targets_up, timeout=60, what="Prometheus scrapes node exporter, itself and Alertmanager", interval=1)
    groups = json.loads(request(prom, "/api/v1/rules").body)["data"]["groups"]
    assert groups and all(g["rules"] for g in groups)
    alertmanagers = json.loads(request(prom, "/api/v1/alertmanagers").body)["data"]["activeAlertmanagers"]
    assert alertmanagers and "alertmanager:9093" in alertmanagers[0]["url"]

    metrics = parse_metrics(request(node.port(9100), "/metrics").body.decode())
    assert metrics.get("webstack_images_test") == 42
    assert metrics.named("node_cpu_seconds_total") and metrics.named("node_filesystem_avail_bytes")
    assert metrics.get("node_textfile_scrape_error") == 0


# --- backups --------------------------------------------------------------------------------


def test_backup_cron_runs_the_rendered_backup_and_restore_works(
    lab: Lab, images: Build, redis: Redis, tmp_path: Path
) -> None:
    repository = "/var/backups/webstack/restic"
    spec = BackupSpec(
        stack="local",
        repository=repository,
        retention=RetentionConfig(daily=7, weekly=4, monthly=3),
        database="none",
        redis=True,
        volume_paths={"data": "/volumes/data"},
        verify_subset="5%",
        textfile_dir="/textfile",
    )
    data = lab.volume("backup-data")
    docker("run", "--rm", "--volume", f"{data}:/d", images.tags["debian"], "sh", "-c", "echo precious > /d/file.txt")
    redis.cli("set", "images:backup", "kept")
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    crontab = f"* * * * * . /run/webstack-backup.env && {BACKUP_SCRIPTS}/backup.sh >> /proc/1/fd/1 2>&1\n"
    backup = lab.start(
        "backup",
        images.tags["backup"],
        command=["sh", "-c", BACKUP_START],
        env={
            "RESTIC_REPOSITORY": repository,
            "TZ": "UTC",
            "RESTIC_PASSWORD": secrets.token_hex(24),
            "REDIS_HOST": "redis",
            "REDIS_PORT": str(redis.port),
            "REDISCLI_AUTH": redis.password,
        },
        files={
            f"{BACKUP_SCRIPTS}/backup.sh": render_backup_script(spec),
            f"{BACKUP_SCRIPTS}/restore.sh": render_restore_script(spec),
            f"{BACKUP_SCRIPTS}/crontabs/root": crontab,
        },
        executable=[f"{BACKUP_SCRIPTS}/backup.sh", f"{BACKUP_SCRIPTS}/restore.sh"],
        volumes=[
            f"{textfile}:/textfile",
            f"{data}:/volumes/data:ro",
            f"{lab.volume('backup-repository')}:{repository}",
        ],
        memory_mb=1024,
    )
    time.sleep(1)
    assert backup.running(), backup.logs()
    assert backup.exec("cat", "/proc/1/cmdline").stdout.split("\0")[:2] == ["busybox", "crond"]
    env_file = backup.exec("stat", "-c", "%U %a", "/run/webstack-backup.env").stdout.split()
    assert env_file == ["root", "600"]
    assert "RESTIC_PASSWORD=" in backup.exec("cat", "/run/webstack-backup.env").stdout

    # crond runs the job at the next minute, the job sources the saved environment.
    wait_until(
        lambda: "backup of stack local finished" in backup.logs(),
        timeout=100,
        what="the cron job's backup finishes",
        interval=2,
    )
    metrics = parse_metrics((textfile / "webstack_backup.prom").read_text())
    assert metrics.get("webstack_backup_last_run_success", target="redis") == 1
    assert metrics.get("webstack_backup_last_run_success", target="volume:data") == 1

    # The run-now command of the component, then a restore of Redis from the repository.
    backup.exec("sh", "-c", f". /run/webstack-backup.env && {BACKUP_SCRIPTS}/backup.sh", timeout=300)
    redis.cli("del", "images:backup")
    backup.exec(f"{BACKUP_SCRIPTS}/restore.sh", "redis", timeout=300)
    assert redis.cli("get", "images:backup").stdout.strip() == "kept"
