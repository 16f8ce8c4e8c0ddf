"""Resilience: containers restart, are health-checked and memory-limited; production has
verified offsite backups with retention, and monitoring with alert rules."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import Any

import yaml
from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from .common import (
    ENVIRONMENT_SCHEMA,
    Schema,
    as_dict,
    as_int,
    as_list,
    is_unknown,
    parse_env,
    plain,
    settings,
    stack_environment,
    subject,
)
from .containers import (
    CONTAINER,
    CRON_JOB,
    LONG_RUNNING,
    POD_SPEC_PATHS,
    PROMETHEUS_RULE,
    config_map_files,
    container_files,
    container_name,
    host_files,
    k8s_env,
    pod_containers,
    role,
    uploads,
)

BACKUP_JOB = "webstack:backup:BackupJob"
MONITORING_STACK = "webstack:monitoring:MonitoringStack"

RESTART_POLICIES = frozenset({"always", "unless-stopped", "on-failure"})


def container_restart_policy(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Every container restarts on failure and after a reboot (restart: unless-stopped, always
    or on-failure; Docker's default is `no`)."""
    if args.resource_type != CONTAINER:
        return
    restart = plain(args.props).get("restart")
    if is_unknown(restart) or restart in RESTART_POLICIES:
        return
    report_violation(
        f"{subject(args.resource_type, args.name)}: restart policy is {restart or 'unset (Docker: no)'}, so the "
        "container stays down after a crash or a reboot; fix: restart='unless-stopped' (components/targets/containers.py "
        "container_defaults).",
        None,
    )


HEALTHCHECK_SCHEMA: Schema = {
    "exemptContainers": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["-(redis|edge)-exporter$"],
        "description": "Regular expressions over container names that need no Docker health check: the "
        "exporters (Prometheus' `up` alerts on them; two of their images have no shell to probe with) and "
        "the backup runner (watched by the backup freshness alerts).",
    }
}


def container_healthcheck(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Every container has a health check (a Docker healthcheck other than NONE; a readiness or
    liveness probe in a Deployment, StatefulSet or DaemonSet), except the containers the config
    exempts because something else watches them."""
    exempt = [str(p) for p in settings(args.get_config(), HEALTHCHECK_SCHEMA)["exemptContainers"]]
    if args.resource_type in LONG_RUNNING:
        props = plain(args.props)
        for pod in pod_containers(args.resource_type, props, init=False):
            name = str(pod.get("name", ""))
            if any(re.search(pattern, f"-{name}") for pattern in exempt):
                continue
            if not (pod.get("readinessProbe") or pod.get("livenessProbe")):
                report_violation(
                    f"{subject(args.resource_type, args.name)}: container {name} has no readiness or liveness probe; "
                    "fix: readinessProbe (and livenessProbe) on the container.",
                    None,
                )
        return
    if args.resource_type != CONTAINER:
        return
    props = plain(args.props)
    name = container_name(props, args.name)
    if any(re.search(pattern, name) for pattern in exempt):
        return
    check = props.get("healthcheck")
    if is_unknown(check):
        return
    tests = as_list(as_dict(check).get("tests"))
    if tests and not any(is_unknown(t) for t in tests) and tests[0] != "NONE":
        return
    report_violation(
        f"{subject(args.resource_type, args.name)}: container {name} has no health check, so Docker (and "
        "`wait`) cannot tell a hung process from a healthy one; fix: healthcheck=http_healthcheck(...) or "
        "command_healthcheck(...) (components/targets/containers.py).",
        None,
    )


def container_memory_limit(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Every container has a memory limit (Docker `memory` in MB; resources.limits.memory in a
    Kubernetes workload), so one leak cannot starve the host."""
    if args.resource_type in POD_SPEC_PATHS:
        for pod in pod_containers(args.resource_type, plain(args.props)):
            limit = as_dict(as_dict(pod.get("resources")).get("limits")).get("memory")
            if limit is None:
                report_violation(
                    f"{subject(args.resource_type, args.name)}: container {pod.get('name')} has no memory limit; "
                    "fix: resources.limits.memory.",
                    None,
                )
        return
    if args.resource_type != CONTAINER:
        return
    memory = plain(args.props).get("memory")
    if is_unknown(memory):
        return
    megabytes = as_int(memory)
    if megabytes is None or megabytes <= 0:
        report_violation(
            f"{subject(args.resource_type, args.name)}: no memory limit, so a leak can exhaust the host; "
            "fix: memory=<MB> (container_defaults(memory_mb=...)).",
            None,
        )


# --- backups -------------------------------------------------------------------------------------------

BACKUP_SCHEMA: Schema = {
    **ENVIRONMENT_SCHEMA,
    "minDailyCopies": {
        "type": "integer",
        "minimum": 1,
        "default": 7,
        "description": "Least number of daily snapshots restic keeps (--keep-daily).",
    },
    "offsitePrefixes": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["s3:", "sftp:", "rest:", "b2:", "azure:", "gs:", "swift:", "rclone:"],
        "description": "restic repository prefixes that count as offsite.",
    },
}

_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")


def _commands(script: str) -> list[str]:
    """Shell commands of a script: comments dropped, backslash continuations joined."""
    joined = re.sub(r"\\\n", " ", script)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def backup_script_problems(script: str, min_daily: int) -> list[str]:
    """What a backup script lacks: pruning that keeps enough daily copies, verification."""
    commands = _commands(script)
    problems: list[str] = []
    forget = [c for c in commands if re.search(r"\brestic\s+forget\b", c)]
    daily = [int(m) for c in forget for m in re.findall(r"--keep-daily[=\s]+['\"]?(\d+)", c)]
    if not forget:
        problems.append("never applies a retention (`restic forget --keep-daily ...`)")
    elif not daily:
        problems.append("keeps no daily snapshots (`--keep-daily` missing)")
    elif min(daily) < min_daily:
        problems.append(f"keeps {min(daily)} daily snapshots (at least {min_daily} required)")
    if not any(re.search(r"\brestic\s+check\b", c) for c in commands):
        problems.append("never verifies the repository (`restic check`)")
    return problems


def _schedule_problem(crontab: str, script_path: str | None) -> str | None:
    for line in _commands(crontab):
        fields = line.split()
        if len(fields) < 6 or "=" in fields[0]:
            continue
        if all(_CRON_FIELD.match(f) for f in fields[:5]):
            command = " ".join(fields[5:])
            if script_path is None or script_path in command:
                return None
    return "has no schedule line that runs backup.sh"


def _env_of(resources: list[tuple[PolicyResource, dict[str, Any]]], config: Any) -> str:
    return stack_environment(config, [(r.resource_type, p) for r, p in resources])


# A repository the runner reads from a ConfigMap or a Secret: not judged here.
UNKNOWN_REPOSITORY = object()


def _cron_problem(schedule: Any) -> str | None:
    if is_unknown(schedule):
        return None
    fields = str(schedule or "").split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        return f"has no valid schedule ({schedule!r})"
    return None


def _runners(
    resources: list[tuple[PolicyResource, dict[str, Any]]],
) -> list[tuple[PolicyResource, dict[str, Any], str]]:
    """Backup runners: Docker containers running restic (role backup) and Kubernetes CronJobs
    whose containers have a RESTIC_REPOSITORY (but the restore drill's, which runs drill.sh:
    production-restore-drill judges it)."""
    out: list[tuple[PolicyResource, dict[str, Any], str]] = []
    for r, p in resources:
        if r.resource_type == CONTAINER and role(p, r.name) == "backup":
            out.append((r, p, "docker"))
        elif r.resource_type in POD_SPEC_PATHS and any(
            "RESTIC_REPOSITORY" in k8s_env(c) for c in pod_containers(r.resource_type, p)
        ):
            pods = pod_containers(r.resource_type, p)
            command = " ".join(str(a) for c in pods for a in as_list(c.get("command")) + as_list(c.get("args")))
            if "drill.sh" not in command:
                out.append((r, p, "kubernetes"))
    return out


def production_backup(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Production (configurable) has a BackupJob whose runner is scheduled (cron), backs up to an
    offsite restic repository, keeps at least 7 daily copies (configurable) and runs `restic check`."""
    cfg = settings(args.get_config(), BACKUP_SCHEMA)
    resources = [(r, plain(r.props)) for r in args.resources]
    environment = _env_of(resources, cfg.get("environment"))
    if environment not in cfg["environments"]:
        return
    fix = (
        "fix: webstack:backup in the stack config (enabled, schedule, an s3:/sftp:/... repository, retention.daily >= "
    )
    fix += f"{cfg['minDailyCopies']}) so that BackupJob renders it."
    if not any(r.resource_type == BACKUP_JOB for r, _ in resources):
        report_violation(f"{environment}: the stack declares no BackupJob, so nothing is backed up; {fix}", None)
        return
    runners = _runners(resources)
    if not runners:
        report_violation(f"{environment}: the BackupJob runs no restic backup (container or CronJob); {fix}", None)
        return
    prefixes = tuple(str(p) for p in cfg["offsitePrefixes"])
    config_maps = config_map_files([(r.resource_type, r.name, p) for r, p in resources])
    for runner, props, platform in runners:
        problems: list[str] = []
        if platform == "docker":
            repository = parse_env(props.get("envs")).get("RESTIC_REPOSITORY")
            files = uploads(props)
            script_path = next((path for path in files if path.endswith("/backup.sh")), None)
            script = files.get(script_path) if script_path else None
            crontab = next((c for path, c in files.items() if "/crontabs/" in path or path.endswith("/crontab")), None)
            if crontab is None:
                problems.append("it has no crontab")
            elif isinstance(crontab, str):
                problem = _schedule_problem(crontab, script_path)
                if problem:
                    problems.append(f"its crontab {problem}")
        else:
            pods = pod_containers(runner.resource_type, props)
            repository = next(
                (k8s_env(c).get("RESTIC_REPOSITORY") for c in pods if "RESTIC_REPOSITORY" in k8s_env(c)), None
            )
            if repository is None:
                repository = UNKNOWN_REPOSITORY
            spec = as_dict(props.get("spec"))
            if runner.resource_type == CRON_JOB:
                problem = _cron_problem(spec.get("schedule"))
                if problem:
                    problems.append(f"it {problem}")
                if spec.get("suspend") is True:
                    problems.append("it is suspended")
            else:
                problems.append("it is not a CronJob, so nothing schedules it")
            texts = [" ".join(str(a) for a in as_list(c.get("command")) + as_list(c.get("args"))) for c in pods]
            # the scripts, but the restore drill's (it forgets its own records, by another tag)
            texts += [c for key, c in config_maps.items() if isinstance(c, str) and not key.endswith("/drill.sh")]
            restic = [t for t in texts if "restic" in t]
            script = next((t for t in restic if "restic forget" in t), restic[0] if restic else None)
            script_path = "backup script" if script is not None else None
        if repository is None:
            problems.append("it has no RESTIC_REPOSITORY")
        elif (
            repository is not UNKNOWN_REPOSITORY
            and not is_unknown(repository)
            and not str(repository).startswith(prefixes)
        ):
            problems.append(f"it backs up to {repository}, which is not offsite (a disk on the same host)")
        if script_path is None:
            problems.append("it has no backup.sh")
        elif isinstance(script, str):
            problems += [f"its backup.sh {p}" for p in backup_script_problems(script, cfg["minDailyCopies"])]
        if problems:
            who = subject(runner.resource_type, runner.name)
            report_violation(f"{who} (the backup runner): {'; '.join(problems)}; {fix}", runner.urn)


# --- monitoring ----------------------------------------------------------------------------------------

MONITORING_SCHEMA: Schema = {
    **ENVIRONMENT_SCHEMA,
    "minAlertRules": {
        "type": "integer",
        "minimum": 1,
        "default": 1,
        "description": "Least number of alert rules Prometheus loads.",
    },
    "requiredAlerts": {
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "description": "Alert names that must be among the rules (e.g. the seeds' error rate, latency, CPU, memory, disk).",
    },
}


def _alerts(content: str) -> list[str] | None:
    """Alert names of a Prometheus rules file, or None when the text is not one."""
    try:
        document = yaml.safe_load(content)
    except yaml.YAMLError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("groups"), list):
        return None
    return [
        str(rule["alert"])
        for group in document["groups"]
        if isinstance(group, dict)
        for rule in as_list(group.get("rules"))
        if isinstance(rule, dict) and rule.get("alert")
    ]


def _image(container: Mapping[str, Any]) -> str:
    image = container.get("image")
    return image if isinstance(image, str) else ""


def production_monitoring(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Production (configurable) has a MonitoringStack: Prometheus loads alert rules (at least one,
    and the configured names) from a rules file its config references, and sends them to Alertmanager."""
    cfg = settings(args.get_config(), MONITORING_SCHEMA)
    resources = [(r, plain(r.props)) for r in args.resources]
    environment = _env_of(resources, cfg.get("environment"))
    if environment not in cfg["environments"]:
        return
    fix = "fix: keep MonitoringStack in the stack with its rendered alert rules (components/render/monitoring/)."
    if not any(r.resource_type == MONITORING_STACK for r, _ in resources):
        report_violation(f"{environment}: the stack declares no MonitoringStack, so nothing alerts; {fix}", None)
        return
    # Each Prometheus with the files it reads: a container's uploads and the host files bound
    # into it; on Kubernetes, the stack's ConfigMaps and PrometheusRules.
    written = host_files((r.resource_type, p) for r, p in resources)
    k8s_files: dict[str, Any] = config_map_files([(r.resource_type, r.name, p) for r, p in resources])
    for r, p in resources:
        if r.resource_type == PROMETHEUS_RULE:
            k8s_files[f"prometheusrule {r.name}"] = yaml.safe_dump(as_dict(p.get("spec")))
    prometheus: list[tuple[PolicyResource, dict[str, Any]]] = []
    alertmanager = False
    for r, p in resources:
        if r.resource_type == CONTAINER:
            what = role(p, r.name)
            if what == "prometheus":
                prometheus.append((r, container_files(p, written)))
            alertmanager = alertmanager or what == "alertmanager"
        for pod in pod_containers(r.resource_type, p, init=False):
            image, pod_args = _image(pod), " ".join(str(a) for a in as_list(pod.get("args")))
            if "--storage.tsdb.path" in pod_args or re.search(r"(^|/)prometheus:", image):
                prometheus.append((r, k8s_files))
            alertmanager = alertmanager or bool(re.search(r"(^|/)alertmanager:", image))
    if not prometheus:
        report_violation(f"{environment}: the MonitoringStack runs no Prometheus; {fix}", None)
        return
    if not alertmanager:
        report_violation(f"{environment}: no Alertmanager runs, so alerts reach nobody; {fix}", None)
    for resource, all_files in prometheus:
        # Not known yet in a preview: the targets of new replicas; the config and the rules are.
        files = {path: c for path, c in all_files.items() if not is_unknown(c)}
        if len(files) < len(all_files) and not any(
            isinstance(c, str) and "scrape_configs" in c for c in files.values()
        ):
            continue
        parsed = {path: _alerts(c) for path, c in files.items() if isinstance(c, str)}
        rule_files: dict[str, list[str]] = {path: alerts for path, alerts in parsed.items() if alerts is not None}
        config = next((yaml.safe_load(c) for c in files.values() if isinstance(c, str) and "scrape_configs" in c), None)
        problems: list[str] = []
        if isinstance(config, dict) and resource.resource_type == CONTAINER:
            patterns = [str(p) for p in as_list(config.get("rule_files"))]
            rule_files = {p: a for p, a in rule_files.items() if any(fnmatch.fnmatch(p, pat) for pat in patterns)}
        if isinstance(config, dict) and not as_list(as_dict(config.get("alerting")).get("alertmanagers")):
            problems.append("its config sends alerts to no Alertmanager")
        alerts = [a for names in rule_files.values() for a in names]
        if len(alerts) < cfg["minAlertRules"]:
            problems.append(f"loads {len(alerts)} alert rules (at least {cfg['minAlertRules']} required)")
        missing = [a for a in cfg["requiredAlerts"] if a not in alerts]
        if missing:
            problems.append(f"has no alert {', '.join(missing)}")
        if problems:
            report_violation(
                f"{subject(resource.resource_type, resource.name)}: Prometheus {'; '.join(problems)}; {fix}",
                resource.urn,
            )
