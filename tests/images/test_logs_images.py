"""The log pipeline of the local stack in Docker: real dockerd json-file logs with the labels
log-opt, the webstack-local/syslog-ng image running the rendered shipper config, the
webstack-local/victorialogs image with the rendered command line (docs/logs.md).

Builds only the log images (images/build.sh victorialogs vmalert syslog-ng: VictoriaLogs and
vmalert from the Go module proxy, cached) and starts each the way the component would.
"""

from __future__ import annotations

import json
import secrets
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from components.render.logs import (
    DOCKER_LOG_OPTS,
    LogStoreSpec,
    ShipperSpec,
    render_shipper_conf,
    replica_query,
    victorialogs_args,
)
from components.targets.containers import LOG_OPTS

from .helpers import wait_until
from .test_local_images import BUILD, Lab, docker, engine, open_lab, run

__all__ = ["engine"]  # the session fixture that starts Docker

pytestmark = pytest.mark.timeout(1800)
NAMES = ("victorialogs", "vmalert", "syslog-ng")


@pytest.fixture(scope="module")
def log_images(engine: None) -> dict[str, str]:
    done = run(["bash", str(BUILD), *NAMES], timeout=1700, check=False)
    if done.returncode != 0:
        pytest.fail(
            f"images/build.sh {' '.join(NAMES)} exited {done.returncode}:\n{done.stderr[-6000:]}", pytrace=False
        )
    listing = run(["bash", str(BUILD), "--list"]).stdout
    tags = dict(line.split() for line in listing.splitlines() if line.strip())
    return {name: tags[name] for name in ("debian", *NAMES)}


@pytest.fixture(scope="module")
def lab(log_images: dict[str, str]) -> Iterator[Lab]:
    with open_lab("wslogs") as opened:
        yield opened


def query(port: int, logsql: str) -> list[dict[str, str]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/select/logsql/query", data=urlencode({"query": logsql}).encode()
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return [json.loads(line) for line in response.read().decode().splitlines() if line.strip()]


def test_a_labelled_containers_lines_reach_the_store_and_docker_logs_still_works(
    lab: Lab, log_images: dict[str, str]
) -> None:
    assert {k: DOCKER_LOG_OPTS[k] for k in LOG_OPTS} == LOG_OPTS  # the rotation is kept
    root = docker("info", "--format", "{{.DockerRootDir}}").stdout.strip()
    store = lab.start(
        "log-store",
        log_images["victorialogs"],
        command=victorialogs_args(LogStoreSpec(retention="7d")),
        volumes=[f"{lab.volume('log-data')}:/victoria-logs-data"],
        aliases=["log-store"],
        publish=[9428],
        healthcheck="wget -q -O /dev/null http://127.0.0.1:9428/health",
        memory_mb=512,
    )
    store.wait_healthy()
    conf = render_shipper_conf(ShipperSpec(host="local", stack="local", store_url="http://log-store:9428"))
    lab.start(
        "shipper",
        log_images["syslog-ng"],
        files={"/etc/syslog-ng/webstack/syslog-ng.conf": conf},
        volumes=[f"{root}/containers:/var/lib/docker/containers:ro", f"{lab.volume('shipper')}:/var/lib/syslog-ng"],
        user="0:0",
        memory_mb=256,
    )
    token = secrets.token_hex(8)
    labels = {"webstack.stack": "local", "webstack.service": "backend", "webstack.replica": "1"}
    extra: list[str] = []
    for key, value in labels.items():
        extra += ["--label", f"{key}={value}"]
    extra += ["--log-opt", f"labels={DOCKER_LOG_OPTS['labels']}"]
    app = lab.start(
        "backend-1",
        log_images["debian"],
        command=["sh", "-c", f"echo hello-{token}; echo oops-{token} >&2; exec sleep infinity"],
        extra=extra,
        memory_mb=64,
    )
    port = store.port(9428)

    def shipped() -> bool:
        return len(query(port, f'"{token}"')) >= 2

    wait_until(shipped, timeout=60, what="the container's two lines in the store", interval=1)
    lines = {line["stream"]: line for line in query(port, f'"{token}"')}
    assert set(lines) == {"stdout", "stderr"}
    for stream, word in (("stdout", "hello"), ("stderr", "oops")):
        line = lines[stream]
        assert line["_msg"] == f"{word}-{token}"
        assert (line["host"], line["stack"], line["service"], line["replica"]) == ("local", "local", "backend", "1")
        assert app.inspect("{{.Id}}").startswith(line["container"])
    assert any(line["_msg"] == f"oops-{token}" for line in query(port, replica_query("backend", "1")))
    # `docker logs` reads the same json-file log, untouched.
    assert f"hello-{token}" in app.logs() and f"oops-{token}" in app.logs()
