"""Restore drills: production proves its backups restore, on a schedule (issue #18).

`production-restore-drill` reads two things. The stack config the program reads
(`webstack:backup`, validated with the program's own model): drills on
(`backup.drill.enabled`, by default whenever backups are) and a schedule whose longest gap
between two drills is at most `maxIntervalDays` (seed 004: "Monthly restore test
(required!)"). And, with `requireRunner` (on by default), the resources: the backup runner
carries a drill.sh and a crontab line that runs it (on kubernetes: a CronJob beside the
backup's whose command runs drill.sh), on a schedule within the same limit.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import ReportViolation, StackValidationArgs
from pydantic import ValidationError

from components.config import BackupConfig
from components.config.backup_drill import longest_gap_minutes
from components.config.values import decode_config_value

from .common import ENVIRONMENT_SCHEMA, Schema, as_dict, as_list, plain, settings, stack_environment, subject
from .containers import CONTAINER, CRON_JOB, POD_SPEC_PATHS, k8s_env, pod_containers, role, uploads
from .stack_config import current_stack_config

DRILL_SCHEMA: Schema = {
    **ENVIRONMENT_SCHEMA,
    "maxIntervalDays": {
        "type": "number",
        "minimum": 1,
        "default": 31,
        "description": "Longest time allowed between two restore drills, in days (seed 004: a monthly restore "
        "test, required).",
    },
    "requireRunner": {
        "type": "boolean",
        # BackupJob puts drill.sh on the Docker backup runner's crontab, or in a CronJob of its
        # own beside the backup CronJob on kubernetes.
        "default": True,
        "description": "Also require the backup runner to carry drill.sh and a schedule that runs it (the "
        "resources, not only the stack config).",
    },
}

FIX = (
    "fix: webstack:backup.drill in the stack config (enabled, a schedule such as '0 4 * * 0'), rendered by "
    "components/render/backup_drill.py onto the backup runner"
)


def _gap_problem(schedule: str, max_days: float) -> str | None:
    try:
        gap = longest_gap_minutes(schedule)
    except ValueError:
        return f"its schedule {schedule!r} is not a valid cron expression"
    if gap is None or gap > max_days * 1440:
        days = "never twice in eight years" if gap is None else f"up to {gap / 1440:g} days apart"
        return f"its schedule {schedule!r} runs drills {days}, more than the {max_days:g} days allowed"
    return None


def _config_problems(max_days: float) -> list[str]:
    source = current_stack_config()
    if source is None:
        return []
    raw, _ = source
    value = decode_config_value(raw.get("webstack:backup"))
    if not isinstance(value, dict):
        return ["webstack:backup is not set, so there are no backups to drill"]
    try:
        backup = BackupConfig.model_validate(value)
    except ValidationError as error:
        return [f"webstack:backup is invalid ({error.error_count()} problem(s)), so its drills cannot be judged"]
    if not backup.enabled:
        return ["webstack:backup.enabled is false, so nothing is backed up nor drilled"]
    if not backup.drill.effective(backup.enabled):
        return ["webstack:backup.drill.enabled is false: no restore drill proves the backups restore"]
    problem = _gap_problem(backup.drill.schedule, max_days)
    return [f"webstack:backup.drill: {problem}"] if problem else []


def _crontab_schedules(crontab: str, script: str) -> list[str]:
    """The schedules (first five fields) of the crontab lines that run `script`."""
    found = []
    for line in crontab.splitlines():
        fields = line.split()
        if len(fields) < 6 or line.lstrip().startswith("#") or "=" in fields[0]:
            continue
        if script in " ".join(fields[5:]):
            found.append(" ".join(fields[:5]))
    return found


def _runner_problems(resources: list[tuple[Any, dict[str, Any]]], max_days: float) -> list[tuple[str, str | None]]:
    """(problem, urn) for the backup runners: each must run drill.sh on a schedule."""
    problems: list[tuple[str, str | None]] = []
    runners = 0
    kubernetes_backup: str | None = None  # a backup CronJob: the drill must be a CronJob beside it
    for r, p in resources:
        who = subject(r.resource_type, r.name)
        if r.resource_type == CONTAINER and role(p, r.name) == "backup":
            runners += 1
            files = uploads(p)
            script = next((path for path in files if path.endswith("/drill.sh")), None)
            crontab = next((c for path, c in files.items() if "/crontabs/" in path or path.endswith("/crontab")), None)
            if script is None:
                problems.append((f"{who} (the backup runner) has no drill.sh", r.urn))
                continue
            if not isinstance(crontab, str):
                if crontab is None:
                    problems.append((f"{who} (the backup runner) has no crontab to run drill.sh", r.urn))
                continue
            schedules = _crontab_schedules(crontab, script)
            if not schedules:
                problems.append((f"{who} (the backup runner): no crontab line runs {script}", r.urn))
            for schedule in schedules:
                problem = _gap_problem(schedule, max_days)
                if problem:
                    problems.append((f"{who} (the backup runner): drill.sh {problem}", r.urn))
        elif r.resource_type in POD_SPEC_PATHS and any(
            "RESTIC_REPOSITORY" in k8s_env(c) for c in pod_containers(r.resource_type, p)
        ):
            pods = pod_containers(r.resource_type, p)
            command = " ".join(str(a) for c in pods for a in as_list(c.get("command")) + as_list(c.get("args")))
            if "drill.sh" not in command:
                kubernetes_backup = kubernetes_backup or who
                continue  # the backup CronJob itself: the drill is a CronJob of its own
            runners += 1
            cron = as_dict(p.get("spec")).get("schedule") if r.resource_type == CRON_JOB else None
            if not isinstance(cron, str):
                problems.append((f"{who} runs drill.sh but is not a scheduled CronJob", r.urn))
            elif problem := _gap_problem(cron, max_days):
                problems.append((f"{who}: drill.sh {problem}", r.urn))
    if runners == 0 and kubernetes_backup:
        problems.append(
            (
                f"no backup runner runs drill.sh: {kubernetes_backup} (the backups) has no drill CronJob beside it "
                "(a CronJob whose command runs drill.sh on a schedule)",
                None,
            )
        )
    elif runners == 0:
        problems.append(("no backup runner runs drill.sh (a container with it in its crontab, or a CronJob)", None))
    return problems


def production_restore_drill(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Production (configurable) runs restore drills of its backups on a schedule at most 31 days apart
    (configurable): webstack:backup.drill is on, and (requireRunner) the backup runner runs drill.sh by it."""
    cfg = settings(args.get_config(), DRILL_SCHEMA)
    resources = [(r, plain(r.props)) for r in args.resources]
    environment = stack_environment(cfg.get("environment"), [(r.resource_type, p) for r, p in resources])
    if environment not in cfg["environments"]:
        return
    max_days = float(cfg["maxIntervalDays"])
    for problem in _config_problems(max_days):
        report_violation(f"{environment}: {problem}; {FIX}.", None)
    if cfg["requireRunner"]:
        for problem, urn in _runner_problems(resources, max_days):
            report_violation(f"{environment}: {problem}; {FIX}.", urn)
