"""The log pipeline on real servers: the edge's JSON access log from Debian's nginx, Docker
json-file logs, Debian's syslog-ng with the rendered shipper config, VictoriaLogs and vmalert
built from the Go module proxy (images/gobin.sh), Debian's Alertmanager.

What is proved: every line reaches the store with host, stack, service and replica as fields
and is found by LogsQL (by request id across edge and back end, by service and replica); the
store stopped for a while under a stream of lines loses none of them; retention values the
config accepts are the ones VictoriaLogs accepts; an upstream that keeps answering 5xx raises
an alert at Alertmanager through vmalert's LogsQL rule.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml

from components.config.logs import LogAlerts, LogsConfig
from components.render.logs import (
    LOG_STORE_JOB,
    VMALERT_JOB,
    LogFile,
    LogStoreSpec,
    ShipperSpec,
    errors_query,
    log_alert_rules,
    render_log_alert_rules,
    render_log_pipeline_rules,
    render_shipper_conf,
    replica_query,
    request_query,
    victorialogs_args,
    vmalert_args,
)
from components.render.nginx import ACCESS_LOG_FIELDS
from tests.rendered.logs_servers import (
    ContainerLog,
    LogStore,
    Shipper,
    free_port,
    go_binary,
    http_get,
    syslog_ng,
    wait_until,
)
from tests.rendered.nginx_harness import TRUSTED_PEER, Edge, fresh_source, need, start_edge
from tools.logs import main as tools_logs

STORE_ADDRESS = "127.0.0.61"
STACK = "production"


@pytest.fixture(scope="session")
def victoria_logs() -> Path:
    return go_binary("victoria-logs")


@pytest.fixture(scope="session")
def vmalert() -> Path:
    return go_binary("vmalert")


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="webstack-logs-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def store_and_shipper(
    victoria_logs: Path, workdir: Path, *, files: tuple[LogFile, ...] = (), host: str = "app-1", buffer_mb: int = 256
) -> Iterator[tuple[LogStore, Shipper, Path]]:
    """A store, and the shipper of `host` reading a containers folder (returned) and `files`."""
    containers = workdir / "containers"
    containers.mkdir()
    (workdir / "store").mkdir()
    (workdir / "shipper").mkdir()
    store = LogStore(victoria_logs, STORE_ADDRESS, workdir / "store")
    spec = ShipperSpec(
        host=host,
        stack=STACK,
        store_url=store.url,
        containers_dir=str(containers),
        state_dir=str(workdir / "shipper"),
        buffer_mb=buffer_mb,
        files=files,
        reopen_s=2,
        batch_timeout_ms=500,
    )
    shipper = Shipper(spec, workdir / "shipper")
    try:
        store.start()
        shipper.start()
        yield store, shipper, containers
    finally:
        shipper.stop()
        store.stop()


def found(store: LogStore, logsql: str, expected: int, *, timeout: float = 30) -> int:
    """Wait until the query counts `expected` lines (flushing the store), then the count."""
    last = -1

    def enough() -> bool:
        nonlocal last
        store.flush()
        last = store.count(logsql)
        return last >= expected

    try:
        wait_until(enough, timeout=timeout, what=f"{expected} lines for {logsql!r}", interval=0.5)
    except AssertionError as err:
        raise AssertionError(f"{err}: found {last}") from None
    return last


# --- the store ---------------------------------------------------------------------------------


@pytest.mark.parametrize("retention", ["24h", "14d", "8w", "1y", "100y"])
def test_the_store_starts_with_every_retention_the_config_accepts(
    victoria_logs: Path, workdir: Path, retention: str
) -> None:
    LogsConfig(retention=retention)  # accepted by the config ...
    store = LogStore(victoria_logs, STORE_ADDRESS, workdir, retention=retention)
    try:
        store.start()  # ... and by VictoriaLogs
        assert f"-retentionPeriod={retention}" in store.args()
    finally:
        store.stop()


def test_the_store_serves_its_web_ui(victoria_logs: Path, workdir: Path) -> None:
    """The UI is compiled into the binary built here (the module carries its built assets)."""
    store = LogStore(victoria_logs, STORE_ADDRESS, workdir)
    try:
        store.start()
        status, body = http_get(f"{store.url}/select/vmui/")
        assert status == 200 and b"<!DOCTYPE html>" in body and b"./favicon.svg" in body
    finally:
        store.stop()


def test_the_store_refuses_what_the_config_refuses(victoria_logs: Path, workdir: Path) -> None:
    # 12h: the config's rule (at least a day) is VictoriaLogs' own.
    with pytest.raises(ValueError, match="at least 24"):
        LogsConfig(retention="12h")
    args = [a for a in victorialogs_args(LogStoreSpec(retention="14d", listen_address=STORE_ADDRESS))]
    args = [a if not a.startswith("-retentionPeriod") else "-retentionPeriod=12h" for a in args]
    args = [a if not a.startswith("-storageDataPath") else f"-storageDataPath={workdir}/data" for a in args]
    done = subprocess.run([str(victoria_logs), *args], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode != 0
    assert "cannot be smaller than a day" in done.stdout + done.stderr


# --- the edge's access log ---------------------------------------------------------------------


@pytest.fixture
def edge() -> Iterator[Edge]:
    edge = start_edge(STACK)
    try:
        yield edge
    finally:
        edge.stop()


def access_lines(edge: Edge, count: int) -> list[dict[str, str]]:
    """The edge's access log as JSON objects, once it holds `count` lines (flushed every 1 s)."""
    wait_until(
        lambda: edge.access_log.exists() and len(edge.access_log.read_text().splitlines()) >= count,
        timeout=10,
        what=f"{count} access log lines",
    )
    return [json.loads(line) for line in edge.access_log.read_text().splitlines()]


def test_the_edge_writes_one_json_object_a_line_with_the_fields(edge: Edge) -> None:
    client_ip = "203.0.113.77"
    with edge.client(TRUSTED_PEER) as client:
        ok = client.get("/api/items?q=1", {"CF-Connecting-IP": client_ip, "User-Agent": 'quote " and \\ slash'})
        failed = client.get("/api/status/503", {"CF-Connecting-IP": client_ip})
    assert ok.status == 200 and failed.status == 503
    lines = access_lines(edge, 2)
    assert len(lines) == 2
    names = [name for name, _ in ACCESS_LOG_FIELDS]
    for line in lines:
        assert list(line) == names  # every field, in order, and nothing else
        assert all(isinstance(value, str) for value in line.values())
    first, second = lines
    assert first["request_id"] == ok.header("X-Request-ID") and len(first["request_id"]) == 32
    assert second["request_id"] == failed.header("X-Request-ID")
    assert first["remote_addr"] == client_ip  # after the real-IP module, from a trusted peer
    assert (first["method"], first["uri"], first["status"]) == ("GET", "/api/items?q=1", "200")
    assert first["http_host"] == edge.host
    assert first["http_user_agent"] == 'quote " and \\ slash'  # escape=json kept it whole
    backends = {u.address for u in edge.upstreams["backend"]}
    assert first["upstream_addr"] in backends and first["upstream_status"] == "200"
    assert float(first["request_time"]) >= 0 and float(first["upstream_response_time"]) >= 0
    assert (second["status"], second["upstream_status"]) == ("503", "503")


def test_a_client_that_is_not_a_trusted_proxy_is_logged_as_itself(edge: Edge) -> None:
    source = fresh_source()
    with edge.client(source) as client:
        assert client.get("/api/x", {"CF-Connecting-IP": "198.51.100.9"}).status == 200
    (line,) = access_lines(edge, 1)
    assert line["remote_addr"] == source


# --- shipping ----------------------------------------------------------------------------------


def test_lines_reach_the_store_with_host_stack_service_and_replica(
    victoria_logs: Path, edge: Edge, workdir: Path
) -> None:
    """One request through the real edge, found by its request id in the edge's line and the
    back end's; a replica's stderr line found by service and replica."""
    access = LogFile(str(edge.access_log), service="edge", replica="0")
    with store_and_shipper(victoria_logs, workdir, files=(access,)) as (store, shipper, containers):
        backend_1 = ContainerLog(containers, STACK, "backend", "1")
        backend_0 = ContainerLog(containers, STACK, "backend", "0")
        with edge.client(TRUSTED_PEER) as client:
            response = client.get("/api/orders/42", {"CF-Connecting-IP": "203.0.113.5"})
        assert response.status == 200
        request_id = response.header("X-Request-ID")
        assert request_id is not None
        # The back end's own line for it, as the demo app logs a request (the id last).
        backend_1.write(f'10.0.0.11 "GET /api/orders/42 HTTP/1.1" 200 {request_id}', stream="stderr")
        backend_1.write("WARNING redis unavailable: Connection refused", stream="stderr")
        backend_0.write("INFO demo app 0.1.0 (backend, replica 0) listening on 0.0.0.0:8000")
        # On the local stack the edge's access log is its container's stdout: the same JSON, in
        # Docker's json-file line; its fields must come out the same way.
        edge_container = ContainerLog(containers, STACK, "edge", "0")
        docker_access = {"request_id": "d0c4e2", "status": "502", "upstream_addr": "10.0.0.12:8000", "host": "evil"}
        edge_container.write(json.dumps(docker_access | {"uri": "/api/x"}, separators=(",", ":")))

        found(store, request_query(request_id), 2)
        lines = store.query(request_query(request_id))
        by_service = {line["service"]: line for line in lines}
        assert set(by_service) == {"edge", "backend"}, lines
        for line in lines:
            assert (line["host"], line["stack"]) == ("app-1", STACK)
        edge_line = by_service["edge"]
        # The access log's JSON is fields in the store, and still the whole line in _msg.
        assert edge_line["request_id"] == request_id and edge_line["status"] == "200"
        assert edge_line["remote_addr"] == "203.0.113.5" and edge_line["uri"] == "/api/orders/42"
        assert edge_line["upstream_addr"] in {u.address for u in edge.upstreams["backend"]}
        assert json.loads(edge_line["_msg"])["request_id"] == request_id
        assert edge_line["_stream"] == '{host="app-1",replica="0",service="edge",stack="production"}'
        backend_line = by_service["backend"]
        assert (backend_line["replica"], backend_line["stream"]) == ("1", "stderr")
        assert backend_line["container"] == backend_1.container_id[:12]

        found(store, replica_query("backend", "1"), 2)
        stderr = store.query(replica_query("backend", "1") + " | filter stream:=stderr")
        assert {line["_msg"] for line in stderr} == {
            f'10.0.0.11 "GET /api/orders/42 HTTP/1.1" 200 {request_id}',
            "WARNING redis unavailable: Connection refused",
        }
        assert store.query(replica_query("backend", "0"))[0]["_msg"].startswith("INFO demo app")
        errors = store.query(errors_query("backend"))
        assert [line["_msg"] for line in errors] == []  # a warning is not an error
        backend_0.write("ERROR unhandled exception in /api/pay", stream="stderr")
        found(store, errors_query("backend"), 1)

        # The same questions through the tools command.
        out = io.StringIO()
        assert tools_logs(["--url", store.url, "request", request_id], out=out) == 0
        # Oldest first; the edge's line may come a second late (nginx flushes its log every second).
        printed = sorted(out.getvalue().splitlines(), key=lambda line: " edge/" not in line)
        assert len(printed) == 2, printed
        assert " app-1 edge/0 200 GET /api/orders/42 upstream=127.0.0.1:" in printed[0], printed
        assert printed[0].endswith(f"s id={request_id}"), printed
        assert printed[1].endswith(f' app-1 backend/1 10.0.0.11 "GET /api/orders/42 HTTP/1.1" 200 {request_id}')
        out = io.StringIO()
        assert tools_logs(["--url", store.url, "errors", "backend", "--since", "1h"], out=out) == 0
        assert out.getvalue().splitlines()[0].endswith(" app-1 backend/0 ERROR unhandled exception in /api/pay")
        assert tools_logs(["--url", store.url, "errors", "frontend"], out=io.StringIO()) == 1
        assert tools_logs(["--url", "http://127.0.0.1:9", "errors", "backend"], out=io.StringIO()) == 2
        (docker_line,) = store.query('_time:1h {service="edge"} request_id:=d0c4e2')
        assert (docker_line["status"], docker_line["upstream_addr"], docker_line["uri"]) == (
            "502",
            "10.0.0.12:8000",
            "/api/x",
        )
        assert docker_line["host"] == "app-1"  # the app's own "host" field does not overwrite the host's
        assert docker_line["container"] == edge_container.container_id[:12] and docker_line["stream"] == "stdout"
        assert shipper.stats().get("dropped", 0) == 0


def test_the_store_down_for_a_while_under_a_stream_of_lines_loses_none(victoria_logs: Path, workdir: Path) -> None:
    """Three replicas write about 100 lines/s for 90 s; the store is stopped for a minute of it and
    the shipper restarted once meanwhile: every line is in the store afterwards (sent = found)."""
    with store_and_shipper(victoria_logs, workdir) as (store, shipper, containers):
        writers = [ContainerLog(containers, STACK, "backend", str(i)) for i in range(3)]
        sent = 0
        stop = threading.Event()

        def stream() -> None:
            nonlocal sent
            n = 0
            while not stop.is_set() and n < 9000:
                for writer in writers:
                    writer.write(f"line {n:06d} of replica {writer.replica}")
                n += 1
                sent = n * len(writers)
                time.sleep(0.03)

        thread = threading.Thread(target=stream, daemon=True)
        thread.start()
        try:
            time.sleep(5)
            store.stop()
            down_at = time.monotonic()
            time.sleep(20)
            shipper.stop()  # the shipper restarts while the store is away: its disk buffer stays
            shipper.start()
            time.sleep(max(0.0, 60 - (time.monotonic() - down_at)))
            queued = shipper.stats().get("queued", 0)
            store.start()
            time.sleep(20)
        finally:
            stop.set()
            thread.join(30)
        print(f"\nlogs: {sent} lines sent; {queued} waited in the shipper's buffer while the store was down")
        assert queued > 1000, "the store was down: lines must have waited in the buffer"
        total = found(store, '{service="backend"} "line"', sent, timeout=120)
        unique = int(store.query('{service="backend"} "line" | stats count_uniq(_msg) as n')[0]["n"])
        print(f"logs: {total} lines found, {unique} distinct")
        assert unique == sent, f"{sent - unique} of {sent} lines lost"
        # At least once: a batch the store took but did not answer is sent again, nothing more.
        assert total - sent <= 2 * shipper.spec.batch_lines
        assert shipper.stats().get("dropped", 0) == 0


def test_a_full_buffer_pauses_the_reading_and_drops_nothing(victoria_logs: Path, workdir: Path) -> None:
    """With the store away, 10,000 lines (about 2.6 MB as the shipper sends them) against a 1 MB
    buffer: the shipper stops reading when it is full, and once the store is back every line
    arrives from the files it had not read yet."""
    with store_and_shipper(victoria_logs, workdir, buffer_mb=1) as (store, shipper, containers):
        store.stop()
        writers = [ContainerLog(containers, STACK, "worker", str(i)) for i in range(2)]
        for writer in writers:
            for start in range(0, 5_000, 5_000):
                writer.write(*(f"bulk {n:06d} of {writer.replica} " + "x" * 80 for n in range(start, start + 5_000)))
        # The shipper picks the files up, its queue fills and the reading pauses: wait until the
        # queue holds lines and stops growing (a fixed sleep raced a busy machine's file polling).
        deadline, previous = time.monotonic() + 90, -1
        while True:
            stats = shipper.stats()
            queued = stats.get("queued", 0)
            if (queued > 0 and queued == previous) or time.monotonic() > deadline:
                break
            previous = queued
            time.sleep(3)
        print(f"\nlogs: with the store away and a 1 MB buffer: {stats}")
        assert 0 < stats.get("queued", 0) < 10_000 and stats.get("dropped", 0) == 0, stats
        store.start()
        total = found(store, '{service="worker"} "bulk"', 10_000, timeout=180)
        unique = int(store.query('{service="worker"} "bulk" | stats count_uniq(_msg) as n')[0]["n"])
        assert unique == 10_000 and total - unique <= 2 * shipper.spec.batch_lines, (total, unique)
        assert shipper.stats().get("dropped", 0) == 0


# --- the rendered configs ----------------------------------------------------------------------


def test_the_shipper_config_of_a_vps_host_reads_the_journal_too() -> None:
    spec = ShipperSpec(host="edge-1", stack=STACK, store_url="http://10.0.0.14:9428", journal=True)
    text = render_shipper_conf(spec)
    assert "systemd-journal(" in text and 'set("host" value("service"));' in text
    assert 'url("http://10.0.0.14:9428/insert/jsonline?_stream_fields=host%2Cstack%2Cservice%2Creplica' in text
    assert "reliable(yes)" in text and f"disk-buf-size({1024 * 1048576})" in text
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as conf:
        conf.write(text)
        conf.flush()
        done = subprocess.run(
            [syslog_ng(), "--syntax-only", "-f", conf.name], capture_output=True, text=True, timeout=60, check=False
        )
    assert done.returncode == 0, done.stderr


def test_a_name_that_would_break_the_config_is_refused() -> None:
    with pytest.raises(ValueError, match="shipper host"):
        render_shipper_conf(ShipperSpec(host='a"b', stack=STACK, store_url="http://x:9428"))


# --- the alert from logs -----------------------------------------------------------------------


@pytest.fixture
def alertmanager(workdir: Path) -> Iterator[str]:
    """Debian's Alertmanager with one receiver that nothing reads (the API shows the alerts)."""
    binary = need("prometheus-alertmanager")
    address = "127.0.0.62"
    port, cluster = free_port(address), free_port(address)
    conf = workdir / "alertmanager.yml"
    conf.write_text("route:\n  receiver: none\nreceivers:\n  - name: none\n")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={conf}",
            f"--storage.path={workdir}/am",
            f"--web.listen-address={address}:{port}",
            f"--cluster.listen-address={address}:{cluster}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://{address}:{port}"
    try:
        wait_until(lambda: _answers(f"{url}/-/ready"), timeout=30, what="Alertmanager")
        yield url
    finally:
        process.terminate()
        process.wait(30)


def _answers(url: str) -> bool:
    try:
        return http_get(url, timeout=2)[0] == 200
    except OSError:
        return False


def test_an_upstream_answering_5xx_raises_an_alert_from_the_logs(
    victoria_logs: Path, vmalert: Path, edge: Edge, workdir: Path, alertmanager: str
) -> None:
    alerts = LogAlerts(upstream_errors=3, window_minutes=5)
    rules = workdir / "logs.rules.yml"
    rules.write_text(render_log_alert_rules(log_alert_rules(alerts), interval_s=2))
    access = LogFile(str(edge.access_log), service="edge", replica="0")
    with store_and_shipper(victoria_logs, workdir, files=(access,), host="edge-1") as (store, _, _):
        port = free_port("127.0.0.63")
        args = vmalert_args(
            store_url=store.url,
            alertmanager_url=alertmanager,
            rules_path=str(rules),
            listen_address="127.0.0.63",
            port=port,
        )
        args = [a.replace("-rule.evalDelay=5s", "-rule.evalDelay=0s") for a in args]
        log = (workdir / "vmalert.log").open("wb")
        process = subprocess.Popen([str(vmalert), *args], stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: _answers(f"http://127.0.0.63:{port}/health"), timeout=30, what="vmalert")
            status, body = http_get(f"http://127.0.0.63:{port}/api/v1/rules")
            names = [r["name"] for g in json.loads(body)["data"]["groups"] for r in g["rules"]]
            assert status == 200 and names == ["UpstreamErrorsInLogs", "SshAuthFailures"], body
            with edge.client(TRUSTED_PEER) as client:
                statuses = [client.get("/api/status/500").status for _ in range(15)]
                assert client.get("/api/fine").status == 200
            assert statuses == [500] * 15
            found(store, '{service="edge"} upstream_status:=500', 15)
            # The edge spreads them over the back end's replicas (least_conn): each upstream
            # with at least the threshold's count must fire, and only those.
            counts = store.query('{service="edge"} upstream_status:=500 | stats by (upstream_addr) count() as n')
            offenders = {row["upstream_addr"] for row in counts if int(row["n"]) >= alerts.upstream_errors}
            assert offenders, counts

            def firing() -> list[dict[str, object]]:
                _, raw = http_get(f"{alertmanager}/api/v2/alerts")
                return [a for a in json.loads(raw) if a["labels"].get("alertname") == "UpstreamErrorsInLogs"]

            try:
                wait_until(
                    lambda: {str(a["labels"]["upstream_addr"]) for a in firing()} == offenders,  # type: ignore[index]
                    timeout=60,
                    what=f"UpstreamErrorsInLogs at Alertmanager for {sorted(offenders)}",
                    interval=1,
                )
            except AssertionError as err:
                _, state = http_get(f"http://127.0.0.63:{port}/api/v1/rules")
                vmalert_log = (workdir / "vmalert.log").read_text(errors="replace")[-3000:]
                expr = log_alert_rules(alerts)[0].expr
                _, direct = http_get(f"{store.url}/select/logsql/stats_query?" + urlencode({"query": expr}))
                rows = store.query('{service="edge"}')
                raise AssertionError(
                    f"{err}\nvmalert's rules: {state.decode()}\nvmalert's log: {vmalert_log}\n"
                    f"stats_query now: {direct.decode()}\nedge lines: {rows}"
                ) from None
            for alert in firing():
                labels = alert["labels"]
                assert isinstance(labels, dict)
                assert labels["upstream_addr"] in {u.address for u in edge.upstreams["backend"]}
                assert (labels["severity"], labels["source"]) == ("warning", "logs")
                assert "answered the edge with 5xx" in str(alert["annotations"])
        finally:
            process.terminate()
            process.wait(30)
            log.close()


# --- Prometheus' rules on the pipeline ---------------------------------------------------------

PIPELINE_RULES_TEST = f"""
rule_files: [pipeline_plain.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'up{{job="{LOG_STORE_JOB}",instance="monitor-1:9428"}}'
        values: '1 1 0x10'
      - series: 'up{{job="{VMALERT_JOB}",instance="monitor-1:8880"}}'
        values: '1x12'
      - series: 'vl_storage_is_read_only{{instance="monitor-1:9428",path="/victoria-logs-data"}}'
        values: '0 0 0 1x10'
      - series: 'vl_rows_dropped_total{{instance="monitor-1:9428",reason="too_many_fields"}}'
        values: '0x5 3x7'
      - series: 'vl_http_errors_total{{instance="monitor-1:9428",path="/insert/jsonline"}}'
        values: '0x12'
    alert_rule_test:
      - eval_time: 4m
        alertname: LogStoreDown
        exp_alerts: []
      - eval_time: 8m
        alertname: LogStoreDown
        exp_alerts:
          - exp_labels: {{severity: warning, job: {LOG_STORE_JOB}, instance: "monitor-1:9428"}}
      - eval_time: 9m
        alertname: LogStoreReadOnly
        exp_alerts:
          - exp_labels: {{severity: critical, instance: "monitor-1:9428"}}
      - eval_time: 10m
        alertname: LogLinesDropped
        exp_alerts:
          - exp_labels: {{severity: warning, instance: "monitor-1:9428", reason: too_many_fields}}
      - eval_time: 10m
        alertname: LogIngestionErrors
        exp_alerts: []
      - eval_time: 10m
        alertname: LogAlertsNotEvaluated
        exp_alerts: []
"""


def test_the_pipeline_rules_pass_promtool_on_the_stores_real_metrics(victoria_logs: Path, workdir: Path) -> None:
    """Every metric the rules read is one the real store exposes; promtool checks the rules and
    runs them on series shaped like those (each alert fires when it should, and only then)."""
    promtool = need("promtool")
    text = render_log_pipeline_rules()
    store = LogStore(victoria_logs, STORE_ADDRESS, workdir / "store")
    (workdir / "store").mkdir()
    try:
        store.start()
        _, raw = http_get(f"{store.url}/metrics")
    finally:
        store.stop()
    exposed = {line.split("{")[0].split(" ")[0] for line in raw.decode().splitlines() if line and line[0] != "#"}
    read = set(re.findall(r"\b(vl_[a-z_]+)", text))
    assert read and read <= exposed, sorted(read - exposed)
    (workdir / "pipeline.yml").write_text(text)
    # promtool's unit test compares annotations too: they are checked above (`check rules` parses
    # their templates); the behaviour is tested on the same rules without them.
    plain = yaml.safe_load(text)
    for rule in plain["groups"][0]["rules"]:
        rule.pop("annotations")
    (workdir / "pipeline_plain.yml").write_text(yaml.safe_dump(plain))
    (workdir / "pipeline_test.yml").write_text(PIPELINE_RULES_TEST)
    for args in (["check", "rules", "pipeline.yml"], ["test", "rules", "pipeline_test.yml"]):
        done = subprocess.run([promtool, *args], cwd=workdir, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
