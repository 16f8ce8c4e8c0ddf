"""Resilience policies on hand-built resources."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policy.resilience_rules import (
    backup_script_problems,
    container_healthcheck,
    container_memory_limit,
    container_restart_policy,
    production_backup,
    production_monitoring,
)
from tests.policy.helpers import Reports, resource_args, stack_args

CONTAINER = "docker:index/container:Container"
HEALTH = {"tests": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8000/health || exit 1"], "interval": "10s"}


def container(
    policy: Any, props: dict[str, Any], name: str = "app-backend-0", config: dict[str, Any] | None = None
) -> Reports:
    reports = Reports()
    policy(resource_args(CONTAINER, props, name=name, config=config), reports)
    return reports


@pytest.mark.parametrize("restart", ["unless-stopped", "always", "on-failure", UNKNOWN_STRING_VALUE])
def test_restart_policy_passes(restart: str) -> None:
    assert not container(container_restart_policy, {"restart": restart})


@pytest.mark.parametrize("props", [{}, {"restart": "no"}, {"restart": ""}])
def test_restart_policy_fails(props: dict[str, Any]) -> None:
    assert "app-backend-0" in container(container_restart_policy, props).text()


def test_healthcheck() -> None:
    assert not container(container_healthcheck, {"healthcheck": HEALTH})
    assert "no health check" in container(container_healthcheck, {}).text()
    assert container(container_healthcheck, {"healthcheck": {"tests": ["NONE"]}})
    assert container(container_healthcheck, {"healthcheck": {"tests": []}})
    assert not container(container_healthcheck, {"healthcheck": UNKNOWN_STRING_VALUE})
    # the shell-less exporters are exempt by default, by container name; configurable
    assert not container(container_healthcheck, {"name": "webstack-production-redis-exporter"}, "redis-exporter")
    assert not container(container_healthcheck, {"name": "webstack-production-edge-exporter"}, "edge-exporter")
    assert container(
        container_healthcheck, {"name": "webstack-production-node-exporter"}, "monitoring-node-exporter-app-1"
    )
    assert container(container_healthcheck, {"name": "webstack-production-backup"}, "backup-runner")
    assert container(
        container_healthcheck,
        {"name": "webstack-production-redis-exporter"},
        "redis-exporter",
        {"exemptContainers": []},
    )


def test_memory_limit() -> None:
    assert not container(container_memory_limit, {"memory": 512.0})
    assert "no memory limit" in container(container_memory_limit, {}).text()
    assert container(container_memory_limit, {"memory": 0.0})
    assert not container(container_memory_limit, {"memory": UNKNOWN_STRING_VALUE})


SCRIPT = """#!/usr/bin/env bash
# restic forget --keep-daily 1   (a comment, not a command)
restic forget --prune --host "$STACK" \\
    --keep-daily 30 \\
    --keep-weekly 8
restic check --read-data-subset=10% >&2
"""


def test_backup_script_problems() -> None:
    assert backup_script_problems(SCRIPT, 7) == []
    assert backup_script_problems(SCRIPT, 31) == ["keeps 30 daily snapshots (at least 31 required)"]
    assert "never verifies" in " ".join(backup_script_problems(SCRIPT.replace("restic check", "echo"), 7))
    assert "never applies a retention" in " ".join(backup_script_problems("restic backup /data\nrestic check\n", 7))
    assert "--keep-daily` missing" in " ".join(backup_script_problems(SCRIPT.replace("--keep-daily 30", ""), 7))


def backup_stack(
    *,
    repository: str = "s3:https://s3.example.com/bucket/prod",
    crontab: str | None = "0 2 * * * . /run/env && /etc/webstack-backup/backup.sh >> /proc/1/fd/1 2>&1\n",
    script: str = SCRIPT,
    job: bool = True,
    env: str = "production",
) -> list[tuple[str, str, dict[str, Any]]]:
    files = [{"file": "/etc/webstack-backup/backup.sh", "content": script, "executable": True}]
    if crontab is not None:
        files.append({"file": "/etc/webstack-backup/crontabs/root", "content": crontab})
    runner = {
        "name": "webstack-production-backup",
        "envs": [f"RESTIC_REPOSITORY={repository}", "TZ=UTC"],
        "uploads": files,
    }
    out: list[tuple[str, str, dict[str, Any]]] = [
        (CONTAINER, "app-backend-0", {"envs": [f"WEBSTACK_ENVIRONMENT={env}"]})
    ]
    if job:
        out += [("webstack:backup:BackupJob", "backup", {}), (CONTAINER, "backup-runner", runner)]
    return out


def backup(resources: list[tuple[str, str, dict[str, Any]]], config: dict[str, Any] | None = None) -> Reports:
    reports = Reports()
    production_backup(stack_args(resources, config=config), reports)
    return reports


def test_production_backup() -> None:
    assert not backup(backup_stack())
    assert "declares no BackupJob" in backup(backup_stack(job=False)).text()
    assert not backup(backup_stack(job=False, env="local"))
    assert "not offsite" in backup(backup_stack(repository="/var/backups/restic")).text()
    assert "no crontab" in backup(backup_stack(crontab=None)).text()
    assert "no schedule line" in backup(backup_stack(crontab="# 0 2 * * * backup.sh\n")).text()
    assert "keeps 3 daily" in backup(backup_stack(script=SCRIPT.replace("--keep-daily 30", "--keep-daily 3"))).text()
    assert not backup(backup_stack(script=SCRIPT.replace("--keep-daily 30", "--keep-daily 3")), {"minDailyCopies": 3})
    assert backup(backup_stack(job=False, env="staging"), {"environments": ["production", "staging"]})
    unknown = backup_stack()
    unknown[-1][2]["uploads"] = [
        {"file": "/etc/webstack-backup/backup.sh", "content": UNKNOWN_STRING_VALUE},
        {"file": "/etc/webstack-backup/crontabs/root", "content": UNKNOWN_STRING_VALUE},
    ]
    assert not backup(unknown)


RULES = """groups:
- name: webstack
  rules:
  - alert: InstanceDown
    expr: up == 0
  - alert: HostCpuHigh
    expr: cpu > 0.9
"""
PROMETHEUS_YML = """global: {scrape_interval: 15s}
alerting:
  alertmanagers:
  - static_configs: [{targets: ['alertmanager:9093']}]
rule_files: [/etc/prometheus/rules/*.yml]
scrape_configs: []
"""


def monitoring_stack(
    rules: str = RULES, config: str = PROMETHEUS_YML, alertmanager: bool = True
) -> list[tuple[str, str, dict[str, Any]]]:
    prometheus = {
        "name": "webstack-production-prometheus",
        "command": ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"],
        "uploads": [
            {"file": "/etc/prometheus/prometheus.yml", "content": config},
            {"file": "/etc/prometheus/rules/webstack.yml", "content": rules},
        ],
    }
    out: list[tuple[str, str, dict[str, Any]]] = [
        ("webstack:monitoring:MonitoringStack", "monitoring", {}),
        (CONTAINER, "monitoring-prometheus", prometheus),
        (CONTAINER, "app-backend-0", {"envs": ["WEBSTACK_ENVIRONMENT=production"]}),
    ]
    if alertmanager:
        out.append(
            (CONTAINER, "monitoring-alertmanager", {"command": ["--config.file=/etc/alertmanager/alertmanager.yml"]})
        )
    return out


def monitoring_on_host(rules: str = RULES) -> list[tuple[str, str, dict[str, Any]]]:
    """As declared on docker: the config and rules written on the host, bound into Prometheus."""
    conf_dir = "/opt/webstack/production/monitoring/prometheus"

    def write(path: str, content: object) -> dict[str, Any]:
        return {
            "create": f"mkdir -p {conf_dir} && cat > {path}.tmp && chmod 0644 {path}.tmp && mv {path}.tmp {path}",
            "stdin": content,
        }

    config = PROMETHEUS_YML.replace("/etc/prometheus/rules/*.yml", "/etc/prometheus/webstack/rules/*.yml")
    prometheus = {
        "name": "webstack-production-prometheus",
        "command": ["--config.file=/etc/prometheus/webstack/prometheus.yml", "--storage.tsdb.path=/prometheus"],
        "volumes": [
            {"volumeName": "webstack-production-prometheus", "containerPath": "/prometheus"},
            {"hostPath": conf_dir, "containerPath": "/etc/prometheus/webstack", "readOnly": True},
        ],
    }
    return [
        *[item for item in monitoring_stack() if item[1] != "monitoring-prometheus"],
        (CONTAINER, "monitoring-prometheus", prometheus),
        ("command:remote:Command", "monitoring-prometheus-config", write(f"{conf_dir}/prometheus.yml", config)),
        ("command:remote:Command", "monitoring-prometheus-rules", write(f"{conf_dir}/rules/webstack.yml", rules)),
        (
            "command:remote:Command",
            "monitoring-targets-node",
            write(f"{conf_dir}/targets/node.json", UNKNOWN_STRING_VALUE),
        ),
    ]


def monitoring(resources: list[tuple[str, str, dict[str, Any]]], config: dict[str, Any] | None = None) -> Reports:
    reports = Reports()
    production_monitoring(stack_args(resources, config=config), reports)
    return reports


def test_production_monitoring() -> None:
    assert not monitoring(monitoring_stack())
    assert "loads 0 alert rules" in monitoring(monitoring_stack(rules="groups: []\n")).text()
    unreferenced = PROMETHEUS_YML.replace("rule_files: [/etc/prometheus/rules/*.yml]", "rule_files: []")
    assert "loads 0 alert rules" in monitoring(monitoring_stack(config=unreferenced)).text()
    assert (
        "no Alertmanager"
        in monitoring(monitoring_stack(config=PROMETHEUS_YML.replace("alertmanagers", "other"))).text()
    )
    assert "no Alertmanager runs" in monitoring(monitoring_stack(alertmanager=False)).text()
    assert "no MonitoringStack" in monitoring(monitoring_stack()[2:]).text()
    assert (
        "has no alert BackupTooOld"
        in monitoring(monitoring_stack(), {"requiredAlerts": ["InstanceDown", "BackupTooOld"]}).text()
    )
    assert "at least 3" in monitoring(monitoring_stack(), {"minAlertRules": 3}).text()
    assert not monitoring(monitoring_stack(), {"environment": "local"})


def test_production_monitoring_reads_the_host_files_bound_into_prometheus() -> None:
    """On docker the config and rules are host files bound into the container; targets of new
    replicas are not known in a preview, and that does not hide the rest."""
    assert not monitoring(monitoring_on_host())
    assert "loads 0 alert rules" in monitoring(monitoring_on_host(rules="groups: []\n")).text()


# --- Kubernetes workloads ------------------------------------------------------------------------------

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def workload(kind: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    pod = {"template": {"spec": {"containers": containers}}}
    if kind == "kubernetes:batch/v1:CronJob":
        return {"spec": {"jobTemplate": {"spec": pod}, **spec}}
    return {"spec": {**pod, **spec}}


def k8s(policy: Any, kind: str, props: dict[str, Any]) -> Reports:
    reports = Reports()
    policy(resource_args(kind, props, name="backend"), reports)
    return reports


def test_kubernetes_probes_and_limits() -> None:
    good = {
        "name": "backend",
        "readinessProbe": {"httpGet": {"path": "/health", "port": 8001}},
        "resources": {"limits": {"memory": "1024Mi"}},
    }
    assert not k8s(container_healthcheck, DEPLOYMENT, workload(DEPLOYMENT, [good]))
    assert not k8s(container_memory_limit, DEPLOYMENT, workload(DEPLOYMENT, [good]))
    bare = {"name": "backend"}
    assert (
        "no readiness or liveness probe" in k8s(container_healthcheck, DEPLOYMENT, workload(DEPLOYMENT, [bare])).text()
    )
    assert "no memory limit" in k8s(container_memory_limit, DEPLOYMENT, workload(DEPLOYMENT, [bare])).text()
    cron = "kubernetes:batch/v1:CronJob"
    assert not k8s(container_healthcheck, cron, workload(cron, [bare])), "a one-shot job needs no probe"
    assert k8s(container_memory_limit, cron, workload(cron, [bare]))


def k8s_backup_stack(
    schedule: str = "0 2 * * *", repository: str = "s3:https://s3.example.com/b/p", script: str = SCRIPT
) -> list[tuple[str, str, dict[str, Any]]]:
    cron = "kubernetes:batch/v1:CronJob"
    runner = {
        "name": "backup",
        "image": "ghcr.io/example/webstack-backup:0.17.3",
        "env": [{"name": "RESTIC_REPOSITORY", "value": repository}],
    }
    return [
        ("webstack:backup:BackupJob", "backup", {}),
        (cron, "backup-cronjob", workload(cron, [runner], schedule=schedule)),
        (
            "kubernetes:core/v1:ConfigMap",
            "backup-scripts",
            {"metadata": {"name": "backup-scripts"}, "data": {"backup.sh": script}},
        ),
    ]


def test_kubernetes_backup_cronjob() -> None:
    config = {"environment": "production"}
    assert not backup(k8s_backup_stack(), config)
    assert "no valid schedule" in backup(k8s_backup_stack(schedule="daily"), config).text()
    assert "not offsite" in backup(k8s_backup_stack(repository="/backup"), config).text()
    assert (
        "keeps 3 daily"
        in backup(k8s_backup_stack(script=SCRIPT.replace("--keep-daily 30", "--keep-daily 3")), config).text()
    )


def test_kubernetes_backup_beside_a_drill_cronjob() -> None:
    """The restore drill's CronJob and drill.sh (which forgets its own records, no --keep-daily)
    are not the backup runner: production-restore-drill judges them."""
    cron = "kubernetes:batch/v1:CronJob"
    drill = {
        "name": "backup-drill",
        "command": ["bash", "-c", "rc=0; /etc/webstack-backup/drill.sh || rc=$?; exit $rc"],
        "env": [{"name": "RESTIC_REPOSITORY", "value": "s3:https://s3.example.com/b/p"}],
    }
    drill_sh = 'restic forget --quiet --host "$STACK" --tag webstack-drill --keep-last 52\n'
    stack = k8s_backup_stack()
    stack[2][2]["data"] = {"backup.sh": SCRIPT, "drill.sh": drill_sh, "restore.sh": "restic restore\n"}
    stack.append((cron, "backup-drill-cronjob", workload(cron, [drill], schedule="0 4 * * 0")))
    config = {"environment": "production"}
    assert not backup(stack, config)
    # Its drill CronJob alone backs nothing up.
    assert "runs no restic backup" in backup([r for r in stack if r[1] != "backup-cronjob"], config).text()


def test_kubernetes_monitoring() -> None:
    prometheus = {
        "name": "prometheus",
        "image": "prom/prometheus:v2.55.1",
        "args": ["--config.file=/etc/prometheus/prometheus.yml"],
    }
    alertmanager = {"name": "alertmanager", "image": "prom/alertmanager:v0.27.0"}
    resources: list[tuple[str, str, dict[str, Any]]] = [
        ("webstack:monitoring:MonitoringStack", "monitoring", {}),
        ("kubernetes:apps/v1:StatefulSet", "prometheus", workload("kubernetes:apps/v1:StatefulSet", [prometheus])),
        (DEPLOYMENT, "alertmanager", workload(DEPLOYMENT, [alertmanager])),
        (
            "kubernetes:core/v1:ConfigMap",
            "prometheus",
            {"data": {"prometheus.yml": PROMETHEUS_YML, "webstack.rules.yml": RULES}},
        ),
    ]
    config = {"environment": "production"}
    assert not monitoring(resources, config)
    no_rules = [
        *resources[:3],
        ("kubernetes:core/v1:ConfigMap", "prometheus", {"data": {"prometheus.yml": PROMETHEUS_YML}}),
    ]
    assert "loads 0 alert rules" in monitoring(no_rules, config).text()
    crd = (
        "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
        "rules",
        {"spec": {"groups": [{"name": "g", "rules": [{"alert": "InstanceDown", "expr": "up == 0"}]}]}},
    )
    assert not monitoring([*no_rules, crd], config)
    assert "no Alertmanager runs" in monitoring([resources[0], resources[1], resources[3]], config).text()
