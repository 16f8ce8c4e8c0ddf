"""The log store (VictoriaLogs), each host's shipper (syslog-ng), the log alert rules (vmalert)
and the LogsQL queries of docs/logs.md. Pure: no Pulumi import.

Design (docs/logs.md has the why):
- every container keeps Docker's json-file driver (`docker logs` unchanged) with the log-opt
  `labels` naming the webstack labels (`DOCKER_LOG_OPTS`), so each line carries its stack,
  service and replica;
- on every host, syslog-ng (Debian's package: on the host of a VPS, in the
  `webstack-local/syslog-ng` image on the local stack) reads those files, adds the host, turns a
  JSON line (the edge's access log) into fields, and posts batches to VictoriaLogs'
  `/insert/jsonline` with a reliable disk buffer: a batch is dropped from the buffer only after
  the store's 2xx, so a store that is down for a while loses nothing;
- VictoriaLogs on the monitoring host, its port published on the private address only;
- vmalert beside it runs `render_log_alert_rules` against the store and sends to Alertmanager.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import jinja2
import yaml

from components.config import StackConfig
from components.config.logs import LOG_STORE_PORT, VMALERT_PORT, LogAlerts, retention_hours
from components.render.shell import TEMPLATE_DIR

# The fields every line has in the store, and that make its stream (VictoriaLogs' _stream).
STREAM_FIELDS: tuple[str, ...] = ("host", "stack", "service", "replica")
# The Docker labels the shipper reads them from (AppTier sets these on every replica; every
# other container of the stack needs webstack.stack and webstack.service too).
LABELS: dict[str, str] = {"stack": "webstack.stack", "service": "webstack.service", "replica": "webstack.replica"}
# json-file options of every container: rotated as before, plus the labels in each line.
DOCKER_LOG_OPTS: dict[str, str] = {"max-size": "10m", "max-file": "3", "labels": ",".join(LABELS.values())}

STORE_DATA_PATH = "/victoria-logs-data"
SHIPPER_STATE_DIR = "/var/lib/syslog-ng"
DOCKER_CONTAINERS_DIR = "/var/lib/docker/containers"
# The service name of lines from the host's journal (sshd, dockerd, ...).
HOST_SERVICE = "host"


# --- the store ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogStoreSpec:
    retention: str
    port: int = LOG_STORE_PORT
    listen_address: str = ""  # "" is every interface of the container; tests pass 127.0.0.x
    data_path: str = STORE_DATA_PATH
    max_disk_bytes: int | None = None


def log_store_spec(config: StackConfig) -> LogStoreSpec:
    logs = config.logs
    max_disk = logs.max_disk_gb * 1024**3 if logs.max_disk_gb is not None else None
    return LogStoreSpec(retention=logs.retention, port=logs.port, max_disk_bytes=max_disk)


def victorialogs_args(spec: LogStoreSpec) -> list[str]:
    """VictoriaLogs' command line (the image's ENTRYPOINT is the binary)."""
    retention_hours(spec.retention)  # refuse what the store would refuse, before it starts
    args = [
        f"-storageDataPath={spec.data_path}",
        f"-httpListenAddr={spec.listen_address}:{spec.port}",
        f"-retentionPeriod={spec.retention}",
        # A query that would read the whole store is stopped instead of starving ingestion.
        "-search.maxQueryDuration=60s",
    ]
    if spec.max_disk_bytes is not None:
        args.append(f"-retention.maxDiskSpaceUsageBytes={spec.max_disk_bytes}")
    return args


def insert_url(store_url: str) -> str:
    """Where a shipper posts JSON lines: /insert/jsonline with the stream fields named."""
    query = urlencode({"_stream_fields": ",".join(STREAM_FIELDS), "_msg_field": "_msg", "_time_field": "_time"})
    return f"{store_url.rstrip('/')}/insert/jsonline?{query}"


# --- the shipper -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogFile:
    """A plain log file on the host to ship as one service's lines (a JSON line gives fields)."""

    path: str
    service: str
    replica: str = ""


@dataclass(frozen=True)
class ShipperSpec:
    host: str
    stack: str
    store_url: str  # http://<the store host's private address>:<port>
    containers_dir: str = DOCKER_CONTAINERS_DIR
    state_dir: str = SHIPPER_STATE_DIR  # syslog-ng's persist file and disk buffer
    buffer_mb: int = 1024
    journal: bool = False  # the host's systemd journal too (VPS hosts)
    files: tuple[LogFile, ...] = field(default_factory=tuple)
    batch_lines: int = 1000
    batch_timeout_ms: int = 1000
    reopen_s: int = 5  # seconds between tries while the store does not answer


def shipper_spec(config: StackConfig, stack: str, host: str, store_address: str, *, journal: bool) -> ShipperSpec:
    """The shipper of `host`; `store_address` is the store host's private address (its name on
    the Docker network on a single host), `journal` whether the host runs systemd."""
    return ShipperSpec(
        host=host,
        stack=stack,
        store_url=f"http://{store_address}:{config.logs.port}",
        buffer_mb=config.logs.buffer_mb,
        journal=journal,
    )


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_STORE_URL_RE = re.compile(r"^https?://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}/?$")


def _sng(value: object) -> str:
    """A syslog-ng string literal."""
    text = str(value)
    if "\n" in text or "\0" in text:
        raise ValueError(f"not allowed in a syslog-ng string: {text!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@functools.cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR / "logs")),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["sng"] = _sng
    return env


def render_shipper_conf(spec: ShipperSpec) -> str:
    """syslog-ng.conf of one host's shipper (syslog-ng 3.38, Debian 12's)."""
    for what, value in (("host", spec.host), ("stack", spec.stack)):
        if not _NAME_RE.fullmatch(value):
            raise ValueError(f"shipper {what} {value!r}: letters, digits, '.', '_' or '-'")
    if not _STORE_URL_RE.fullmatch(spec.store_url):
        raise ValueError(f"store URL {spec.store_url!r}: http://ADDRESS:PORT")
    for file in spec.files:
        if not file.path.startswith("/") or not _NAME_RE.fullmatch(file.service):
            raise ValueError(f"log file {file.path!r} of service {file.service!r}: an absolute path and a name")
    return (
        _templates()
        .get_template("syslog-ng.conf.j2")
        .render(
            host=spec.host,
            stack=spec.stack,
            store_url=spec.store_url,
            insert_url=insert_url(spec.store_url),
            containers_dir=spec.containers_dir,
            state_dir=spec.state_dir,
            persist_file=f"{spec.state_dir}/syslog-ng.persist",
            buffer_mb=spec.buffer_mb,
            journal=spec.journal,
            files=spec.files,
            batch_lines=spec.batch_lines,
            batch_timeout_ms=spec.batch_timeout_ms,
            reopen_s=spec.reopen_s,
        )
    )


# --- LogsQL ------------------------------------------------------------------------------------


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def errors_query(service: str, *, since: str = "1h", stack: str | None = None) -> str:
    """A service's errors: lines with an error word, on stderr, or 5xx answers of the edge."""
    stream = f"service={_quoted(service)}" + (f",stack={_quoted(stack)}" if stack else "")
    words = "i(error) or i(exception) or i(traceback) or i(fatal) or i(panic) or i(critical)"
    return f"_time:{since} {{{stream}}} ({words} or status:>=500) | sort by (_time) desc"


def request_query(request_id: str, *, since: str = "1d") -> str:
    """Every line of one request, the edge's and the back end's, oldest first: the X-Request-ID
    is a word of both (a field of the edge's JSON line, the end of the back end's line)."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", request_id):
        raise ValueError(f"request id {request_id!r}: letters, digits, '_' or '-'")
    return f"_time:{since} {_quoted(request_id)} | sort by (_time)"


def replica_query(service: str, replica: str, *, since: str = "1h") -> str:
    return f"_time:{since} {{service={_quoted(service)},replica={_quoted(replica)}}} | sort by (_time) desc"


def query_url(store_url: str, query: str, *, limit: int | None = None) -> str:
    """GET URL of /select/logsql/query (JSON lines) for a query."""
    params = {"query": query} | ({"limit": str(limit)} if limit is not None else {})
    return f"{store_url.rstrip('/')}/select/logsql/query?{urlencode(params, quote_via=quote)}"


# --- alerts ------------------------------------------------------------------------------------

EDGE_SERVICE = "edge"


@dataclass(frozen=True)
class LogAlertRule:
    name: str
    expr: str
    severity: str
    summary: str
    description: str


def log_alert_rules(alerts: LogAlerts, *, edge_service: str = EDGE_SERVICE) -> list[LogAlertRule]:
    """What only the logs can see. Each expr is a LogsQL stats query over the last window that
    returns one series per offender above the threshold (vmalert fires one alert per series)."""
    if not alerts.enabled:
        return []
    window = f"{alerts.window_minutes}m"
    return [
        LogAlertRule(
            name="UpstreamErrorsInLogs",
            expr=(
                f'_time:{window} {{service={_quoted(edge_service)}}} upstream_status:~"5[0-9][0-9]" '
                f"| stats by (upstream_addr) count() as errors | filter errors:>={alerts.upstream_errors}"
            ),
            severity="warning",
            summary="An upstream keeps answering 5xx",
            description=(
                f"{{{{ $labels.upstream_addr }}}} answered the edge with 5xx {{{{ $value }}}} times in {window} "
                f"(threshold {alerts.upstream_errors}); the edge may be retrying elsewhere, so the error rate can look "
                "fine. Logs: request_id and upstream_addr of those lines (docs/logs.md)."
            ),
        ),
        LogAlertRule(
            name="SshAuthFailures",
            expr=(
                f'_time:{window} {{service="{HOST_SERVICE}"}} unit:=sshd '
                '("Failed password" or "Invalid user" or "authentication failure") '
                f"| stats by (host) count() as failures | filter failures:>={alerts.ssh_auth_failures}"
            ),
            severity="warning",
            summary="Many failed SSH logins",
            description=(
                f"{{{{ $labels.host }}}}: {{{{ $value }}}} failed SSH logins in {window} "
                f"(threshold {alerts.ssh_auth_failures}); fail2ban bans single addresses, this sees a spread attack."
            ),
        ),
    ]


def render_log_alert_rules(rules: Sequence[LogAlertRule], *, interval_s: int = 60) -> str:
    """vmalert's rule file: one group of type vlogs (LogsQL against VictoriaLogs)."""
    group = {
        "name": "webstack-logs",
        "type": "vlogs",
        "interval": f"{interval_s}s",
        "rules": [
            {
                "alert": rule.name,
                "expr": rule.expr,
                "labels": {"severity": rule.severity, "source": "logs"},
                "annotations": {"summary": rule.summary, "description": rule.description},
            }
            for rule in rules
        ],
    }
    return yaml.safe_dump({"groups": [group]}, sort_keys=False, width=1000)


def vmalert_args(
    *,
    store_url: str,
    alertmanager_url: str,
    rules_path: str = "/etc/vmalert/logs.rules.yml",
    port: int = VMALERT_PORT,
    listen_address: str = "",
    external_url: str | None = None,
) -> list[str]:
    """vmalert's command line: LogsQL rules against the store, alerts to Alertmanager."""
    args = [
        f"-rule={rules_path}",
        "-rule.defaultRuleType=vlogs",
        f"-datasource.url={store_url}",
        f"-notifier.url={alertmanager_url}",
        f"-httpListenAddr={listen_address}:{port}",
        # VictoriaLogs has no intentional search delay: a line is searchable within a second.
        "-rule.evalDelay=5s",
    ]
    if external_url:
        args.append(f"-external.url={external_url}")
    return args


# --- Prometheus' rules on the pipeline itself --------------------------------------------------

# Scrape jobs the monitoring stack needs for them: the store's and vmalert's /metrics.
LOG_STORE_JOB = "log-store"
VMALERT_JOB = "vmalert"


def render_log_pipeline_rules(*, down_minutes: int = 5, window_minutes: int = 15) -> str:
    """Prometheus alert rules on the log pipeline (the metrics of VictoriaLogs and vmalert):
    the store or vmalert down, the store read-only (its disk full), lines it dropped or refused."""
    rules: list[dict[str, object]] = [
        {
            "alert": "LogStoreDown",
            "expr": f'up{{job="{LOG_STORE_JOB}"}} == 0',
            "for": f"{down_minutes}m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "The log store does not answer",
                "description": (
                    "VictoriaLogs on {{ $labels.instance }} is down: every host's shipper keeps the lines in its disk "
                    "buffer (logs.bufferMb) and sends them when it is back; once that is full it stops reading, and "
                    "lines wait in Docker's rotated log files until those rotate away."
                ),
            },
        },
        {
            "alert": "LogStoreReadOnly",
            "expr": "max by (instance) (vl_storage_is_read_only) > 0",
            "for": f"{down_minutes}m",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "The log store refuses new lines (its disk is full)",
                "description": (
                    "VictoriaLogs on {{ $labels.instance }} is read-only: free its disk or lower logs.retention "
                    "(or set logs.maxDiskGb)."
                ),
            },
        },
        {
            "alert": "LogLinesDropped",
            "expr": f"sum by (instance, reason) (increase(vl_rows_dropped_total[{window_minutes}m])) > 0",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "The log store dropped lines",
                "description": (
                    "VictoriaLogs on {{ $labels.instance }} dropped {{ $value }} lines in "
                    f"{window_minutes}m ({{{{ $labels.reason }}}})."
                ),
            },
        },
        {
            "alert": "LogIngestionErrors",
            "expr": (
                f'sum by (instance, path) (increase(vl_http_errors_total{{path=~"/insert/.*"}}[{window_minutes}m])) > 0'
            ),
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "The log store refused requests from a shipper",
                "description": (
                    f"{{{{ $value }}}} requests to {{{{ $labels.path }}}} failed in {window_minutes}m "
                    "on {{ $labels.instance }}: read the store's own log."
                ),
            },
        },
        {
            "alert": "LogAlertsNotEvaluated",
            "expr": f'up{{job="{VMALERT_JOB}"}} == 0',
            "for": f"{down_minutes}m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "vmalert is down: no alert from the logs can fire",
                "description": "vmalert on {{ $labels.instance }} does not answer.",
            },
        },
    ]
    return yaml.safe_dump({"groups": [{"name": "webstack-log-pipeline", "rules": rules}]}, sort_keys=False, width=1000)
