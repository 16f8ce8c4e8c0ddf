"""The monitoring renderers, checked by the real tools from Debian: promtool (package
`prometheus`) and amtool (package `prometheus-alertmanager`).

Missing tools fail the tests, never skip them: a green run must mean the rendered files
were accepted by Prometheus' and Alertmanager's own parsers and the alerts behave.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import Thresholds
from components.render import monitoring as m
from tests.images.helpers import free_port, wait_until

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[2]

DEFAULT = Thresholds()
CPU_70_85 = Thresholds(cpu_warning=70, cpu_critical=85)
# Every threshold away from its default: the seed 004 error rates, and short windows.
CUSTOM = Thresholds(
    error_rate_warning=0.05,
    error_rate_critical=0.10,
    latency_p95_warning_s=0.3,
    latency_p95_critical_s=2.5,
    cpu_warning=50,
    cpu_critical=75,
    memory_warning=70,
    memory_critical=80,
    disk_warning=60,
    disk_critical=90,
    backup_max_age_hours=2,
    certificate_expiry_days=30,
)
# A critical threshold of 100% can never be exceeded: the generated tests must cope.
CEILING = Thresholds(cpu_warning=95, cpu_critical=100, memory_warning=98, memory_critical=100)
THRESHOLDS = {"default": DEFAULT, "cpu-70-85": CPU_70_85, "custom": CUSTOM, "ceiling": CEILING}

WEBHOOK = "https://hooks.slack.example.com/services/T0000/B0000/XXXXXXXXXXXXXXXX"


# --- the tools --------------------------------------------------------------------------


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed: it comes from the Debian package '{package}' "
            f"(apt-get install -y --no-install-recommends {package})",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    return _tool("promtool", "prometheus")


@pytest.fixture(scope="session")
def amtool() -> str:
    return _tool("amtool", "prometheus-alertmanager")


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=150, check=False)


def _ok(args: list[str], cwd: Path) -> str:
    result = _run(args, cwd)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(args)} failed ({result.returncode}):\n{output}"
    return output


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


# --- prometheus.yml ---------------------------------------------------------------------


def _single_host_jobs() -> list[m.ScrapeJob]:
    return [
        m.ScrapeJob("prometheus", ["localhost:9090"]),
        m.ScrapeJob("alertmanager", ["alertmanager:9093"]),
        m.ScrapeJob("node", ["node-exporter:9100"]),
        m.ScrapeJob("nginx", ["nginx-exporter:9113"]),
        m.ScrapeJob("redis", ["redis-exporter:9121"]),
        m.ScrapeJob("app-backend", ["backend-0:8000", "backend-1:8000"], labels={"service": "backend"}),
    ]


def _multi_host_jobs() -> list[m.ScrapeJob]:
    return [
        m.ScrapeJob("prometheus", ["localhost:9090"]),
        m.ScrapeJob("alertmanager", ["10.0.0.4:9093"]),
        m.ScrapeJob("node", ["10.0.0.1:9100", "10.0.0.2:9100", "10.0.0.3:9100", "10.0.0.4:9100"]),
        m.ScrapeJob("nginx", ["10.0.0.1:9113"]),
        m.ScrapeJob("redis", ["10.0.0.3:9121", "10.0.0.4:9121"]),
        m.ScrapeJob("app-backend", ["10.0.0.2:8000", "10.0.0.3:8000"], labels={"service": "backend"}),
        m.ScrapeJob(
            "app-frontend",
            ["10.0.0.2:8001", "10.0.0.3:8001"],
            metrics_path="/internal/metrics",
            labels={"service": "frontend", "tier": "web"},
        ),
    ]


@pytest.mark.parametrize(
    ("layout", "jobs", "interval"),
    [
        ("single-host", _single_host_jobs(), 15),
        ("multi-host", _multi_host_jobs(), 5),
        ("slow", _multi_host_jobs(), 120),
    ],
)
def test_prometheus_config_passes_promtool(
    promtool: str, tmp_path: Path, layout: str, jobs: list[m.ScrapeJob], interval: int
) -> None:
    # check config also loads every rule file it references, so they sit next to it.
    _write(tmp_path, "alerts.yml", m.render_alert_rules(DEFAULT, environment="production"))
    text = m.render_prometheus_config(
        scrape_interval_s=interval,
        jobs=jobs,
        alertmanager_targets=["alertmanager:9093"],
        rule_files=["alerts.yml"],
        environment="production",
    )
    _write(tmp_path, "prometheus.yml", text)
    output = _ok([promtool, "check", "config", "prometheus.yml"], tmp_path)
    assert "1 rule files found" in output

    config = yaml.safe_load(text)
    assert config["global"]["external_labels"] == {"environment": "production"}
    assert config["global"]["scrape_interval"] == f"{interval}s"
    assert config["global"]["scrape_timeout"] == f"{min(10, interval)}s"
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    scraped = {c["job_name"]: c for c in config["scrape_configs"]}
    assert list(scraped) == [job.name for job in jobs]
    for job in jobs:
        static = scraped[job.name]["static_configs"][0]
        assert static["targets"] == job.targets
        assert static.get("labels", {}) == job.labels
        assert scraped[job.name]["metrics_path"] == job.metrics_path


def _file_sd_config(directory: Path) -> str:
    return m.render_prometheus_config(
        scrape_interval_s=1,
        jobs=[
            m.ScrapeJob("prometheus", ["localhost:9090"]),
            m.ScrapeJob("app-backend", [], targets_file=str(directory / "targets" / "app-backend.json")),
        ],
        alertmanager_targets=[],
        rule_files=[],
        environment="local",
    )


def _replace(path: Path, text: str) -> None:
    """As VpsHost.write_file does: a temporary file, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".tmp").write_text(text)
    path.with_suffix(".tmp").rename(path)


def test_targets_file_passes_promtool(promtool: str, tmp_path: Path) -> None:
    _write(tmp_path, "prometheus.yml", _file_sd_config(tmp_path))
    _replace(
        tmp_path / "targets" / "app-backend.json",
        m.render_targets_file(["b-0:8000", "b-1:8000"], job="app-backend", labels={"service": "backend"}),
    )
    _ok([promtool, "check", "config", "prometheus.yml"], tmp_path)
    groups = json.loads((tmp_path / "targets" / "app-backend.json").read_text())
    assert groups == [{"targets": ["b-0:8000", "b-1:8000"], "labels": {"service": "backend"}}]
    with pytest.raises(ValueError, match="not host:port"):
        m.render_targets_file(["no-port"], job="app-backend")


def test_prometheus_follows_a_rewritten_targets_file_without_a_reload(tmp_path: Path) -> None:
    """Debian's Prometheus: a roll rewrites the targets file, and the same process scrapes
    the new replicas (what lets a deploy of the app leave Prometheus alone)."""
    binary = _tool("prometheus", "prometheus")
    port = free_port()
    targets = tmp_path / "targets" / "app-backend.json"
    _replace(targets, m.render_targets_file(["old-0:8000", "old-1:8000"], job="app-backend"))
    _write(tmp_path, "prometheus.yml", _file_sd_config(tmp_path))
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def scraped() -> set[str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/targets", timeout=5) as response:
                active = json.load(response)["data"]["activeTargets"]
        except OSError:
            return set()
        return {t["labels"]["instance"] for t in active if t["labels"]["job"] == "app-backend"}

    try:
        wait_until(lambda: scraped() == {"old-0:8000", "old-1:8000"}, timeout=60, what="the first targets")
        _replace(targets, m.render_targets_file(["new-0:8000", "new-1:8000"], job="app-backend"))
        wait_until(lambda: scraped() == {"new-0:8000", "new-1:8000"}, timeout=60, what="the rewritten targets")
        assert process.poll() is None, "Prometheus exited"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_prometheus_config_without_alertmanager_or_rules(promtool: str, tmp_path: Path) -> None:
    # Docker container names may hold '_'; a job may have no targets yet (Prometheus accepts both).
    jobs = [*_single_host_jobs(), m.ScrapeJob("app-worker", []), m.ScrapeJob("app-api", ["webstack_api_1:8000"])]
    text = m.render_prometheus_config(
        scrape_interval_s=30, jobs=jobs, alertmanager_targets=[], rule_files=[], environment="local"
    )
    _write(tmp_path, "prometheus.yml", text)
    _ok([promtool, "check", "config", "prometheus.yml"], tmp_path)
    assert "alerting" not in yaml.safe_load(text)


def test_promtool_rejects_a_config_whose_rule_file_is_broken(promtool: str, tmp_path: Path) -> None:
    """The check above is meaningful: promtool does read the referenced rule files."""
    _write(tmp_path, "alerts.yml", "groups:\n- name: x\n  rules:\n  - alert: X\n    expr: up ==\n")
    text = m.render_prometheus_config(
        scrape_interval_s=15,
        jobs=_single_host_jobs(),
        alertmanager_targets=[],
        rule_files=["alerts.yml"],
        environment="local",
    )
    _write(tmp_path, "prometheus.yml", text)
    assert _run([promtool, "check", "config", "prometheus.yml"], tmp_path).returncode != 0


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        ([m.ScrapeJob("node", ["a:9100"]), m.ScrapeJob("node", ["b:9100"])], "duplicate scrape job names: node"),
        ([m.ScrapeJob("node", ["http://a:9100"])], "is not host:port"),
        ([m.ScrapeJob("node", ["a"])], "is not host:port"),
        ([m.ScrapeJob("app", ["a:1"], labels={"__name__": "x"})], "not a valid label name"),
        ([m.ScrapeJob("app", ["a:1"], labels={"bad-label": "x"})], "not a valid label name"),
    ],
)
def test_prometheus_config_rejects_bad_jobs(jobs: list[m.ScrapeJob], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        m.render_prometheus_config(
            scrape_interval_s=15, jobs=jobs, alertmanager_targets=[], rule_files=[], environment="local"
        )


# --- alert rules ------------------------------------------------------------------------


@pytest.mark.parametrize("name", THRESHOLDS)
def test_alert_rules_pass_promtool_check(promtool: str, tmp_path: Path, name: str) -> None:
    _write(tmp_path, "alerts.yml", m.render_alert_rules(THRESHOLDS[name], environment="staging"))
    output = _ok([promtool, "check", "rules", "alerts.yml"], tmp_path)
    assert "SUCCESS" in output


def _alerts(text: str) -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(text)["groups"] for rule in group["rules"]]


def test_alert_rules_cover_the_required_alerts() -> None:
    rules = _alerts(m.render_alert_rules(DEFAULT, environment="production"))
    pairs = {(r["alert"], r["labels"]["severity"]) for r in rules}
    assert pairs == {
        ("InstanceDown", "critical"),
        ("AppErrorRateHigh", "warning"),
        ("AppErrorRateHigh", "critical"),
        ("AppLatencyP95High", "warning"),
        ("AppLatencyP95High", "critical"),
        ("HostCpuHigh", "warning"),
        ("HostCpuHigh", "critical"),
        ("HostMemoryHigh", "warning"),
        ("HostMemoryHigh", "critical"),
        ("HostDiskUsageHigh", "warning"),
        ("HostDiskUsageHigh", "critical"),
        ("BackupTooOld", "critical"),
        ("BackupMissing", "critical"),
        ("BackupRunFailed", "warning"),
        ("TlsCertificateExpiry", "warning"),
        ("TlsCertificateExpiry", "critical"),
        ("NginxDown", "critical"),
        ("RedisMemoryNearMax", "warning"),
        ("RedisDown", "critical"),
    }
    for rule in rules:
        assert rule["labels"]["environment"] == "production"
        assert set(rule["annotations"]) == {"summary", "description"}
        assert "$value" in rule["annotations"]["description"], rule["alert"]
    by_pair = {(r["alert"], r["labels"]["severity"]): r for r in rules}
    assert by_pair[("InstanceDown", "critical")]["for"] == "2m"
    assert by_pair[("HostCpuHigh", "warning")]["for"] == "10m"
    assert by_pair[("AppErrorRateHigh", "critical")]["for"] == "5m"


def test_alert_rules_follow_thresholds() -> None:
    rules = {
        (r["alert"], r["labels"]["severity"]): r["expr"] for r in _alerts(m.render_alert_rules(CUSTOM, environment="x"))
    }
    assert rules[("AppErrorRateHigh", "warning")].endswith("> 0.05")
    assert rules[("AppErrorRateHigh", "critical")].endswith("> 0.1")
    assert rules[("AppLatencyP95High", "warning")].endswith("> 0.3")
    assert rules[("AppLatencyP95High", "critical")].endswith("> 2.5")
    assert rules[("HostCpuHigh", "warning")].endswith("> 50")
    assert rules[("HostCpuHigh", "critical")].endswith("> 75")
    assert rules[("HostMemoryHigh", "critical")].endswith("> 80")
    assert rules[("HostDiskUsageHigh", "warning")].endswith("> 60")
    assert rules[("BackupTooOld", "critical")].endswith("> 2 * 3600")
    assert "30 * 86400" in rules[("TlsCertificateExpiry", "warning")]


def test_alert_rules_without_backups(promtool: str, tmp_path: Path) -> None:
    rules = m.render_alert_rules(DEFAULT, environment="production", backups=False)
    assert not [r for r in _alerts(rules) if r["alert"].startswith("Backup")]
    _write(tmp_path, "alerts.yml", rules)
    tests = m.render_alert_rule_tests(DEFAULT, rule_file="alerts.yml", environment="production", backups=False)
    _write(tmp_path, "alerts_test.yml", tests)
    _ok([promtool, "test", "rules", "alerts_test.yml"], tmp_path)


# --- promtool rule unit tests -----------------------------------------------------------


@pytest.mark.parametrize("name", THRESHOLDS)
def test_alert_rules_behave_under_promtool_test(promtool: str, tmp_path: Path, name: str) -> None:
    thresholds = THRESHOLDS[name]
    _write(tmp_path, "alerts.yml", m.render_alert_rules(thresholds, environment="production"))
    _write(
        tmp_path,
        "alerts_test.yml",
        m.render_alert_rule_tests(thresholds, rule_file="alerts.yml", environment="production"),
    )
    output = _ok([promtool, "test", "rules", "alerts_test.yml"], tmp_path)
    assert "SUCCESS" in output


@pytest.mark.parametrize("name", ["default", "cpu-70-85", "custom"])
def test_rule_tests_fire_and_hold_back_every_alert(name: str) -> None:
    """Each alert and severity has a check where it fires and one where it must not."""
    thresholds = THRESHOLDS[name]
    rules = _alerts(m.render_alert_rules(thresholds, environment="production"))
    suite = yaml.safe_load(m.render_alert_rule_tests(thresholds, rule_file="alerts.yml", environment="production"))
    checks = [check for test in suite["tests"] for check in test["alert_rule_test"]]
    for rule in rules:
        alert, severity = rule["alert"], rule["labels"]["severity"]
        mine = [c for c in checks if c["alertname"] == alert]
        fired = [c for c in mine if any(e["exp_labels"]["severity"] == severity for e in c["exp_alerts"])]
        held = [c for c in mine if not any(e["exp_labels"]["severity"] == severity for e in c["exp_alerts"])]
        assert fired, f"no check where {alert} ({severity}) fires"
        assert held, f"no check where {alert} ({severity}) must stay silent"
        for check in fired:
            for expected in check["exp_alerts"]:
                assert set(expected["exp_annotations"]) == {"summary", "description"}


def test_rule_tests_fail_against_rules_with_other_thresholds(promtool: str, tmp_path: Path) -> None:
    """The generated tests are tied to their thresholds: they reject rules for others."""
    _write(tmp_path, "alerts.yml", m.render_alert_rules(CPU_70_85, environment="production"))
    _write(
        tmp_path,
        "alerts_test.yml",
        m.render_alert_rule_tests(DEFAULT, rule_file="alerts.yml", environment="production"),
    )
    result = _run([promtool, "test", "rules", "alerts_test.yml"], tmp_path)
    assert result.returncode != 0
    assert "HostCpuHigh" in result.stdout + result.stderr


# Written by hand, not generated: CPU at 75% on one host. Under CPU_70_85 that is a
# warning (and not critical); under the defaults (80/90) nothing fires.
HANDWRITTEN_CPU_75 = """\
rule_files: [alerts.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'node_cpu_seconds_total{job="node",instance="db-1:9100",cpu="0",mode="idle"}'
        values: '0+15x20'
    alert_rule_test:
      - eval_time: 10m
        alertname: HostCpuHigh
        exp_alerts: []
      - eval_time: 15m
        alertname: HostCpuHigh
        exp_alerts:
          - exp_labels: {severity: warning, environment: staging, job: node, instance: "db-1:9100"}
            exp_annotations:
              summary: "High CPU usage on db-1:9100"
              description: "CPU usage on db-1:9100 is 75.0% (warning above 70% for 10 minutes)."
"""


def test_handwritten_cpu_case_follows_config(promtool: str, tmp_path: Path) -> None:
    _write(tmp_path, "cpu_test.yml", HANDWRITTEN_CPU_75)
    _write(tmp_path, "alerts.yml", m.render_alert_rules(CPU_70_85, environment="staging"))
    _ok([promtool, "test", "rules", "cpu_test.yml"], tmp_path)
    _write(tmp_path, "alerts.yml", m.render_alert_rules(DEFAULT, environment="staging"))
    result = _run([promtool, "test", "rules", "cpu_test.yml"], tmp_path)
    assert result.returncode != 0, "75% CPU must not alert with the default 80% warning threshold"
    assert "got:[]" in "".join((result.stdout + result.stderr).split())


# --- Alertmanager -----------------------------------------------------------------------


@pytest.mark.parametrize("webhook", [WEBHOOK, None], ids=["webhook", "null"])
def test_alertmanager_config_passes_amtool(amtool: str, tmp_path: Path, webhook: str | None) -> None:
    text = m.render_alertmanager_config(webhook_url=webhook, environment="production")
    _write(tmp_path, "alertmanager.yml", text)
    output = _ok([amtool, "check-config", "alertmanager.yml"], tmp_path)
    assert "SUCCESS" in output

    def route(*labels: str) -> str:
        args = [amtool, "config", "routes", "test", "--config.file=alertmanager.yml", *labels]
        return _ok(args, tmp_path).splitlines()[0].strip()

    assert route("severity=critical", "alertname=InstanceDown") == "critical"
    assert route("severity=warning", "alertname=HostCpuHigh") == "warning"
    assert route("alertname=Unlabelled") == "default"

    config = yaml.safe_load(text)
    receivers = {r["name"]: r for r in config["receivers"]}
    assert set(receivers) == {"default", "critical", "warning"}
    for receiver in receivers.values():
        if webhook is None:
            assert set(receiver) == {"name"}, "the local stack has null receivers"
        else:
            assert receiver["webhook_configs"] == [{"url": webhook, "send_resolved": True}]
    routes = {r["receiver"]: r for r in config["route"]["routes"]}
    assert routes["critical"]["group_wait"] == "10s" and routes["critical"]["repeat_interval"] == "1h"
    assert routes["warning"]["repeat_interval"] == "12h"
    [inhibit] = config["inhibit_rules"]
    assert inhibit["source_matchers"] == ['severity="critical"']
    assert inhibit["target_matchers"] == ['severity="warning"']
    assert {"alertname", "instance"} <= set(inhibit["equal"])


def test_inhibit_labels_tell_apart_every_alert_family() -> None:
    """Inhibition compares these labels: each rule's own labels must be among them, so a
    critical on one disk or service never silences a warning about another."""
    equal = set(
        yaml.safe_load(m.render_alertmanager_config(webhook_url=None, environment="x"))["inhibit_rules"][0]["equal"]
    )
    suite = yaml.safe_load(m.render_alert_rule_tests(DEFAULT, rule_file="alerts.yml", environment="x"))
    for test in suite["tests"]:
        for check in test["alert_rule_test"]:
            for expected in check["exp_alerts"]:
                labels = set(expected["exp_labels"]) - {"severity"}
                # `device` and `fstype` follow from instance + mountpoint.
                assert labels - {"device", "fstype"} <= equal, (check["alertname"], labels - equal)


def test_amtool_rejects_a_broken_config(amtool: str, tmp_path: Path) -> None:
    """The check above is meaningful: amtool does reject a config it cannot load."""
    text = m.render_alertmanager_config(webhook_url="not a url", environment="production")
    _write(tmp_path, "alertmanager.yml", text)
    assert _run([amtool, "check-config", "alertmanager.yml"], tmp_path).returncode != 0


# --- Grafana ----------------------------------------------------------------------------


def test_grafana_datasource_provisioning() -> None:
    config = yaml.safe_load(m.render_grafana_datasources(prometheus_url="http://prometheus:9090"))
    assert config["apiVersion"] == 1
    [datasource] = config["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    assert datasource["access"] == "proxy"
    assert datasource["isDefault"] is True
    assert datasource["uid"] == m.GRAFANA_DATASOURCE_UID


def test_grafana_dashboard_provider() -> None:
    config = yaml.safe_load(m.render_grafana_dashboard_providers(dashboards_dir="/var/lib/grafana/dashboards"))
    assert config["apiVersion"] == 1
    [provider] = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_grafana_dashboard_queries_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    dashboard = json.loads(m.render_grafana_dashboard(environment="production"))
    assert dashboard["uid"] and "production" in dashboard["title"]
    panels = dashboard["panels"]
    titles = [p["title"] for p in panels]
    for wanted in ("Request rate", "Error rate", "Latency p95", "CPU", "Memory", "Disk", "Redis memory", "Backup age"):
        assert any(wanted in title for title in titles), f"no panel for {wanted}"
    assert len({p["id"] for p in panels}) == len(panels)
    assert len({(p["gridPos"]["x"], p["gridPos"]["y"]) for p in panels}) == len(panels)

    exprs: list[str] = []
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": m.GRAFANA_DATASOURCE_UID}
        assert panel["targets"], panel["title"]
        exprs += [target["expr"] for target in panel["targets"]]
    # promtool parses each expression as a recording rule.
    records = [{"record": f"dashboard:expr{i}", "expr": expr} for i, expr in enumerate(exprs)]
    rules = {"groups": [{"name": "dashboard", "rules": records}]}
    _write(tmp_path, "dashboard_exprs.yml", yaml.safe_dump(rules, sort_keys=False))
    output = _ok([promtool, "check", "rules", "dashboard_exprs.yml"], tmp_path)
    assert f"{len(exprs)} rules found" in output


def test_promtool_rejects_bad_promql(promtool: str, tmp_path: Path) -> None:
    """The PromQL check above is meaningful."""
    rules = {"groups": [{"name": "x", "rules": [{"record": "x:y", "expr": "sum by (job (up)"}]}]}
    _write(tmp_path, "bad.yml", yaml.safe_dump(rules))
    assert _run([promtool, "check", "rules", "bad.yml"], tmp_path).returncode != 0


# --- purity -----------------------------------------------------------------------------


def _render_all() -> list[str]:
    return [
        m.render_prometheus_config(
            scrape_interval_s=15,
            jobs=_multi_host_jobs(),
            alertmanager_targets=["10.0.0.4:9093"],
            rule_files=["alerts.yml"],
            environment="production",
        ),
        m.render_alert_rules(CUSTOM, environment="production"),
        m.render_alert_rule_tests(CUSTOM, rule_file="alerts.yml", environment="production"),
        m.render_alertmanager_config(webhook_url=WEBHOOK, environment="production"),
        m.render_alertmanager_config(webhook_url=None, environment="local"),
        m.render_grafana_datasources(prometheus_url="http://prometheus:9090"),
        m.render_grafana_dashboard_providers(dashboards_dir="/var/lib/grafana/dashboards"),
        m.render_grafana_dashboard(environment="production"),
    ]


def test_rendering_is_deterministic() -> None:
    assert _render_all() == _render_all()


PROBE = """
import hashlib, sys
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[2])
import components.render.monitoring
from test_monitoring_rendered import _render_all
loaded = sorted(n for n in sys.modules if n == "pulumi" or n.startswith("pulumi."))
print(",".join(loaded) or "-")
print(hashlib.sha256("\\0".join(_render_all()).encode()).hexdigest())
"""


def test_renderer_is_pure_and_stable_across_processes() -> None:
    """No pulumi module is loaded by importing the renderer, and other hash seeds render the same."""
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", PROBE, str(REPO), str(Path(__file__).parent)],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
            cwd=REPO,
        )
        assert result.returncode == 0, result.stderr
        loaded, digest = result.stdout.split()
        assert loaded == "-", f"importing the renderer loaded {loaded}"
        outputs.append(digest)
    assert outputs[0] == outputs[1]
    sources = [p.read_text() for p in (REPO / "components" / "render" / "monitoring").glob("*.py")]
    assert sources and not any("import pulumi" in s or "from pulumi" in s for s in sources)
