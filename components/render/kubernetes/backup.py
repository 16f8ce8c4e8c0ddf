"""The backup job's Kubernetes objects: the scripts' pods, the backup's state claim and
CronJob, the restore drill's CronJob, and the one-off pods' kubectl command lines (restore,
the drill's records)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.render.backup_drill import DRILL_METRICS_FILE
from components.render.kubernetes.objects import (
    CHECKSUM,
    NOBODY,
    REDIS_CLIENT,
    Manifest,
    Target,
    claim_template,
    container_security,
    env_list,
    kubectl,
    pod_security,
    resources,
)

BACKUP_SCRIPTS = "/etc/webstack-backup"
BACKUP_TEXTFILE = "/textfile"
BACKUP_WORK = "/var/lib/webstack-backup"
# backup.sh's and restore.sh's own folder inside the work emptyDir: the kubelet makes the mount
# point root's, and the scripts chmod their work dir 0700 as uid 65534.
BACKUP_RUN_WORK = f"{BACKUP_WORK}/run"
BACKUP_METRICS_JOB = "webstack-backup"


@dataclass(frozen=True)
class BackupPodSpec:
    image: str
    plain_env: Mapping[str, str]
    secret_name: str
    secret_keys: tuple[str, ...]
    scripts_config_map: str
    state_claim: str
    pushgateway: str  # host:port
    uses_redis: bool
    scripts_checksum: str


def run_and_push(script: str, metrics_file: str, job: str, failure: str) -> str:
    """The scheduled run: `script`, then its metrics file to the Pushgateway (also after a failed
    run: the metrics say which target failed); the job fails if either did."""
    return (
        f"rc=0; {BACKUP_SCRIPTS}/{script} || rc=$?; "
        "busybox wget -q -O /dev/null --header 'Content-Type: text/plain; version=0.0.4' "
        f"--post-file {BACKUP_TEXTFILE}/{metrics_file} "
        f'"http://$PUSHGATEWAY/metrics/job/{job}" '
        f'|| {{ echo "{failure} to $PUSHGATEWAY" >&2; rc=1; }}; exit "$rc"'
    )


BACKUP_RUN = run_and_push(
    "backup.sh", "webstack_backup.prom", BACKUP_METRICS_JOB, "backup: could not push the freshness metrics"
)


def script_pod(
    name: str,
    *,
    image: str,
    env: list[dict[str, Any]],
    limits: dict[str, Any],
    scripts_config_map: str,
    work: dict[str, Any],
    extra: Sequence[tuple[dict[str, Any], dict[str, Any]]],
    command: Sequence[str] | None,
) -> dict[str, Any]:
    """A pod of the backup component as uid 65534 with a read-only root: the scripts from a
    ConfigMap, scratch on the `work` emptyDir, a small /tmp, and `extra` (mount, volume) pairs."""
    mounts = [
        {"name": "scripts", "mountPath": BACKUP_SCRIPTS, "readOnly": True},
        {"name": "work", "mountPath": BACKUP_WORK},
        {"name": "tmp", "mountPath": "/tmp"},
        *(mount for mount, _ in extra),
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "scripts", "configMap": {"name": scripts_config_map, "defaultMode": 0o555}},
        {"name": "work", "emptyDir": work},
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        *(volume for _, volume in extra),
    ]
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "env": env,
        "resources": limits,
        "securityContext": container_security(uid=NOBODY, gid=NOBODY, read_only=True),
        "volumeMounts": mounts,
    }
    if command is not None:
        container["command"] = list(command)
    return {
        "automountServiceAccountToken": False,
        "securityContext": pod_security(uid=NOBODY, gid=NOBODY, fs_group=NOBODY),
        "restartPolicy": "Never",
        "containers": [container],
        "volumes": volumes,
    }


def backup_pod(target: Target, name: str, spec: BackupPodSpec, *, command: Sequence[str] | None) -> dict[str, Any]:
    """The backup pod's spec: scripts from a ConfigMap, secrets from a Secret, scratch on emptyDir.
    With a command (the scheduled run) its metrics stay on a claim between runs."""
    state = (
        {"name": "state", "mountPath": BACKUP_TEXTFILE},
        {"name": "state", "persistentVolumeClaim": {"claimName": spec.state_claim}},
    )
    return script_pod(
        name,
        image=spec.image,
        env=env_list({**spec.plain_env, "PUSHGATEWAY": spec.pushgateway}, spec.secret_name, spec.secret_keys),
        limits=resources(1, 1024),
        scripts_config_map=spec.scripts_config_map,
        work={},
        extra=[state] if command is not None else [],
        command=command,
    )


def backup_pod_labels(target: Target, name: str, spec: BackupPodSpec) -> dict[str, str]:
    return target.labels(name, "backup", {REDIS_CLIENT: "true"} if spec.uses_redis else None)


def utc_cronjob(
    target: Target,
    name: str,
    *,
    schedule: str,
    backoff_limit: int,
    pod_labels: dict[str, str],
    checksum: str,
    pod: dict[str, Any],
) -> Manifest:
    """A CronJob of the backup component on a UTC schedule: never two runs at once, six hours
    at most, the last three jobs of each outcome kept; `checksum` rolls its pods on a change."""
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": target.metadata(name, "backup"),
        "spec": {
            "schedule": schedule,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": backoff_limit,
                    "activeDeadlineSeconds": 6 * 3600,
                    "template": {"metadata": {"labels": pod_labels, "annotations": {CHECKSUM: checksum}}, "spec": pod},
                }
            },
        },
    }


def backup_cronjob(target: Target, name: str, spec: BackupPodSpec, *, schedule: str) -> Manifest:
    return utc_cronjob(
        target,
        name,
        schedule=schedule,
        backoff_limit=1,
        pod_labels=backup_pod_labels(target, name, spec),
        checksum=spec.scripts_checksum,
        pod=backup_pod(target, name, spec, command=["bash", "-c", BACKUP_RUN]),
    )


def backup_claim(target: Target, name: str, size_gi: int, storage_class: str | None) -> Manifest:
    claim = claim_template(name, size_gi, storage_class, target.labels(name, "backup"))
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {**claim["metadata"], "namespace": target.namespace},
        "spec": claim["spec"],
    }


def restore_command(
    target: Target, name: str, spec: BackupPodSpec, *, targets: Sequence[str], context: str | None
) -> str:
    """A one-off pod with the backup pod's env and scripts that runs restore.sh interactively."""
    overrides = {
        "metadata": {"labels": backup_pod_labels(target, f"{name}-restore", spec)},
        "spec": {
            **backup_pod(target, f"{name}-restore", spec, command=None),
            "containers": [
                {
                    **backup_pod(target, f"{name}-restore", spec, command=None)["containers"][0],
                    "stdin": True,
                    "tty": True,
                }
            ],
        },
    }
    return (
        f"{kubectl(target, context)} run {name}-restore --rm -it --restart=Never --image={spec.image} "
        f"--override-type=strategic --overrides='{json.dumps(overrides, separators=(',', ':'), sort_keys=True)}' "
        f"--command -- {BACKUP_SCRIPTS}/restore.sh <{'|'.join(targets)}> [SNAPSHOT]"
    )


# --- BackupJob: the restore drill ---------------------------------------------------------

DRILL_METRICS_JOB = "webstack-backup-drill"
# drill.sh's work dir: a directory of its own in the scratch emptyDir. The kubelet creates an
# emptyDir's root owned by root (mode 0777), and drill.sh makes its work dir 0700, which only
# the owner may do.
DRILL_WORK = f"{BACKUP_WORK}/drill"
DRILL_RECORDS_SIZE = "16Mi"


@dataclass(frozen=True)
class DrillPodSpec:
    """The restore drill's pod: the backup's image, scripts ConfigMap and env Secret (only the
    keys drill.sh reads: never DATABASE_URL), its scratch space on an emptyDir."""

    image: str
    plain_env: Mapping[str, str]
    secret_name: str
    secret_keys: tuple[str, ...]
    scripts_config_map: str
    state_claim: str  # the drill's metrics between runs: a failed drill keeps the last success
    pushgateway: str  # host:port
    records_dir: str  # drill.sh's "host" copy of the records: an emptyDir, gone with the pod
    reads_live_redis: bool  # the Redis check compares with the live key count (INFO keyspace)
    scratch_mb: int  # the emptyDir's size: the largest snapshot restored, scratchMinMb, restic's cache
    memory_mb: int  # restic, and the scratch redis-server holding the restored data set
    scripts_checksum: str


DRILL_RUN = run_and_push("drill.sh", DRILL_METRICS_FILE, DRILL_METRICS_JOB, "drill: could not push its metrics")


def backup_drill_pod(target: Target, name: str, spec: DrillPodSpec, *, command: Sequence[str] | None) -> dict[str, Any]:
    """The drill pod's spec. With a command, the scheduled drill: scratch space for the restore
    (requested from the node), the records directory and the metrics claim. Without one, a
    one-off pod that reads the repository only (drill.sh records): no Redis, no claim."""
    scheduled = command is not None
    plain = {**spec.plain_env, "PUSHGATEWAY": spec.pushgateway}
    keys = spec.secret_keys
    if not scheduled:
        plain = {k: v for k, v in plain.items() if not k.startswith("REDIS")}
        keys = tuple(k for k in keys if not k.startswith("REDIS"))
    limits = resources(1, spec.memory_mb if scheduled else 1024)
    extra: list[tuple[dict[str, Any], dict[str, Any]]] = []
    if scheduled:
        extra = [
            (
                {"name": "records", "mountPath": spec.records_dir},
                {"name": "records", "emptyDir": {"sizeLimit": DRILL_RECORDS_SIZE}},
            ),
            (
                {"name": "state", "mountPath": BACKUP_TEXTFILE},
                {"name": "state", "persistentVolumeClaim": {"claimName": spec.state_claim}},
            ),
        ]
        # The scheduler places the pod on a node with the scratch space free.
        limits["requests"]["ephemeral-storage"] = f"{spec.scratch_mb}Mi"
    return script_pod(
        name,
        image=spec.image,
        env=env_list(plain, spec.secret_name, keys),
        limits=limits,
        scripts_config_map=spec.scripts_config_map,
        work={"sizeLimit": f"{spec.scratch_mb}Mi" if scheduled else "1Gi"},
        extra=extra,
        command=command,
    )


def backup_drill_cronjob(target: Target, name: str, spec: DrillPodSpec, *, schedule: str) -> Manifest:
    """drill.sh on its schedule. One attempt: a failed drill is evidence, not a flake to retry."""
    return utc_cronjob(
        target,
        name,
        schedule=schedule,
        backoff_limit=0,
        pod_labels=target.labels(name, "backup", {REDIS_CLIENT: "true"} if spec.reads_live_redis else None),
        checksum=spec.scripts_checksum,
        pod=backup_drill_pod(target, name, spec, command=["bash", "-c", DRILL_RUN]),
    )


def drill_records_command(
    target: Target, name: str, spec: DrillPodSpec, *, context: str | None, count: int = 10
) -> str:
    """A one-off pod with the drill's scripts and the repository's env that prints the last
    `count` evidence records from the repository (drill.sh records), then goes."""
    pod_name = f"{name}-records"
    overrides = {
        "metadata": {"labels": target.labels(pod_name, "backup")},
        "spec": backup_drill_pod(target, pod_name, spec, command=None),
    }
    return (
        f"{kubectl(target, context)} run {pod_name} --rm -i --quiet --restart=Never --image={spec.image} "
        f"--override-type=strategic --overrides='{json.dumps(overrides, separators=(',', ':'), sort_keys=True)}' "
        f"--command -- {BACKUP_SCRIPTS}/drill.sh records {count}"
    )
