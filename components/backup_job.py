"""BackupJob: scheduled, encrypted, verified restic backups with retention and a restore command.

Platform docker: a long-running container holds cron, restic and the dump tools; at the
schedule it dumps the database and Redis, backs them and the named volumes up to the
repository (offsite in staging and production), applies retention, checks the
repository and writes a freshness metric that node exporter serves and monitoring
alerts on.

Platform kubernetes: a CronJob runs the same backup.sh (same retention, same `restic
check`) from a ConfigMap with its secrets from a Secret; the freshness metrics stay on a
small claim between runs (a failed target keeps its last success) and go to the
MonitoringStack's Pushgateway after each run, for the same alerts.

Restore drills (`backup.drill`, components/render/backup_drill.py): drill.sh restores the
latest snapshot into scratch targets on its own schedule, from the runner's crontab on
docker and from a CronJob of its own (`backup-drill`) on kubernetes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from components.capacity import BACKUP, RESTIC_CACHE_GB
from components.config import BackupConfig
from components.render import kubernetes as manifests
from components.render.backup import BackupSpec, render_backup_script, render_restore_script
from components.render.backup_drill import DrillSpec, drill_crontab_line, render_drill_env_names, render_drill_script
from components.targets import KubernetesCluster
from components.targets.containers import command_healthcheck, container_defaults, env_list, uploads
from components.targets.vps_host import VpsHost

SCRIPTS = "/etc/webstack-backup"
TEXTFILE = "/textfile"
# cron does not pass the container's environment to its jobs: the entrypoint saves
# it to a root-only file that the job sources.
ENV_FILE = "/run/webstack-backup.env"  # the container's env, for crond's jobs and `docker exec`
START = f"umask 077 && export -p > {ENV_FILE} && exec busybox crond -f -l 8 -c {SCRIPTS}/crontabs"


@dataclass(frozen=True)
class BackupSecrets:
    """The secret config values the backup reads (None: not set)."""

    password: str | None = None  # backupPassword; None: generated (local only, validated)
    database_url: str | None = None  # databaseUrl: a database the stack does not run
    access_key_id: str | None = None  # backupAccessKeyId (s3: repositories)
    secret_access_key: str | None = None  # backupSecretAccessKey
    ssh_key: str | None = None  # backupSshKey (sftp: repositories)


@dataclass
class BackupJobArgs:
    backup: BackupConfig
    stack: str
    # The backup host (platform docker) or the cluster (platform kubernetes).
    target: VpsHost | KubernetesCluster
    image: str
    secrets: BackupSecrets
    # A repository on the host (not offsite) is kept on `pulumi destroy` (production).
    protect_repository: bool = False
    # What a restore drill may have to hold in scratch space: the Redis data set at most
    # (maxmemory) and a database dump as capacity counts one.
    redis_maxmemory_mb: int = 0
    database_dump_gb: int = 0
    # Redis as the backup host reaches it ("host:port") and its password.
    redis_address: str | None = None
    redis_password: pulumi.Input[str] | None = None
    # Sentinels ("host:port") and the name they watch the primary under: restore follows them.
    redis_sentinels: list[str] = field(default_factory=list)
    redis_sentinel_master: str | None = None
    # Logical volume name -> Docker volume name, for the volumes to back up.
    volumes: dict[str, pulumi.Input[str]] | None = None
    # backup.database postgres with webstack:postgres: its URL from the backup host (secret);
    # None: the `databaseUrl` secret (a database the stack does not run).
    database_url: pulumi.Input[str] | None = None
    # Platform kubernetes: the Pushgateway (host:port) for the freshness metrics.
    pushgateway: str | None = None


class BackupJob(pulumi.ComponentResource):
    container: docker.Container
    repository_password: pulumi.Output[str]

    def __init__(self, name: str, args: BackupJobArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("webstack:backup:BackupJob", name, None, opts)
        # Restore drills (backup.drill): the commands to run one now and to print the last records.
        self.drill_command: str | None = None
        self.drill_records_command: str | None = None
        self._repository_password(name, args)
        if isinstance(args.target, KubernetesCluster):
            self._kubernetes(name, args, args.target)
        else:
            self._docker(name, args, args.target)
        self.register_outputs(
            {
                "repository": args.backup.repository,
                "schedule": args.backup.schedule,
                "restoreCommand": self.restore_command,
                "runNowCommand": self.run_now_command,
                "drillCommand": self.drill_command,
                "drillRecordsCommand": self.drill_records_command,
            }
        )

    def _repository_password(self, name: str, args: BackupJobArgs) -> None:
        configured = args.secrets.password
        if configured is not None:
            self.repository_password = pulumi.Output.secret(configured)
        else:  # local only: config validation requires backupPassword elsewhere
            generated = random.RandomPassword(
                f"{name}-repository-password",
                length=48,
                special=False,
                opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["result"], protect=False),
            )
            self.repository_password = pulumi.Output.secret(generated.result)

    def _secret_env(self, args: BackupJobArgs, spec: BackupSpec) -> tuple[dict[str, str], dict[str, pulumi.Input[str]]]:
        """The runner's plain and secret environment (what backup.sh and restore.sh read)."""
        backup, secrets = args.backup, args.secrets
        secret_env: dict[str, pulumi.Input[str]] = {"RESTIC_PASSWORD": self.repository_password}
        plain_env = {"RESTIC_REPOSITORY": backup.repository, "TZ": "UTC"}
        if spec.redis and args.redis_address and args.redis_password is not None:
            redis_host, _, redis_port = args.redis_address.rpartition(":")
            plain_env |= {"REDIS_HOST": redis_host, "REDIS_PORT": redis_port}
            if args.redis_sentinels and args.redis_sentinel_master:
                plain_env |= {
                    "REDIS_SENTINELS": ",".join(args.redis_sentinels),
                    "REDIS_SENTINEL_MASTER": args.redis_sentinel_master,
                }
            secret_env["REDISCLI_AUTH"] = args.redis_password
        if backup.database != "none":
            url = args.database_url if args.database_url is not None else secrets.database_url or ""
            secret_env["DATABASE_URL"] = pulumi.Output.secret(url)
        if backup.repository.startswith("s3:"):
            secret_env["AWS_ACCESS_KEY_ID"] = pulumi.Output.secret(secrets.access_key_id or "")
            secret_env["AWS_SECRET_ACCESS_KEY"] = pulumi.Output.secret(secrets.secret_access_key or "")
        if backup.repository.startswith("sftp:"):
            secret_env["RESTIC_SFTP_KEY"] = pulumi.Output.secret(secrets.ssh_key or "")
        return plain_env, secret_env

    def _kubernetes(self, name: str, args: BackupJobArgs, cluster: KubernetesCluster) -> None:
        assert args.pushgateway is not None, "platform kubernetes: the backup needs a Pushgateway"
        backup, k8s_cfg, target = args.backup, cluster.config, cluster.target
        spec = BackupSpec(
            stack=args.stack,
            repository=backup.repository,
            retention=backup.retention,
            database=backup.database,
            redis=backup.redis and args.redis_address is not None,
            volume_paths={},
            verify_subset=backup.verify_subset,
            textfile_dir=manifests.BACKUP_TEXTFILE,
            work_dir=manifests.BACKUP_RUN_WORK,
        )
        plain_env, secret_env = self._secret_env(args, spec)
        plain_env["RESTIC_CACHE_DIR"] = f"{manifests.BACKUP_WORK}/cache"
        scripts = {"backup.sh": render_backup_script(spec), "restore.sh": render_restore_script(spec)}
        # Restore drills: drill.sh in the same ConfigMap, run by a CronJob of its own (below).
        drill = (
            DrillSpec.from_config(replace(spec, work_dir=manifests.DRILL_WORK), backup.drill)
            if backup.drill.effective(backup.enabled)
            else None
        )
        if drill is not None:
            scripts["drill.sh"] = render_drill_script(drill)
        config_map = cluster.declare(
            f"{name}-scripts", manifests.config_map(target, "backup-scripts", "backup", scripts), parent=self
        )
        secret = cluster.declare(
            f"{name}-env",
            manifests.secret(target, "backup-env", "backup", dict.fromkeys(secret_env, "")),
            parent=self,
            string_data=pulumi.Output.secret(secret_env),
        )
        claim = cluster.declare(
            f"{name}-state",
            manifests.backup_claim(target, "backup-state", k8s_cfg.storage_gi.backup, k8s_cfg.storage_class),
            parent=self,
        )
        pod = manifests.BackupPodSpec(
            image=args.image,
            plain_env=plain_env,
            secret_name="backup-env",
            secret_keys=tuple(sorted(secret_env)),
            scripts_config_map="backup-scripts",
            state_claim="backup-state",
            pushgateway=args.pushgateway,
            uses_redis=spec.redis,
            scripts_checksum=manifests.checksum(*scripts.values()),
        )
        self.cronjob = cluster.declare(
            f"{name}-cronjob",
            manifests.backup_cronjob(target, "backup", pod, schedule=backup.schedule),
            parent=self,
            depends_on=[config_map, secret, claim],
        )
        kubectl = manifests.kubectl(target, k8s_cfg.context)
        self.restore_command = manifests.restore_command(
            target, "backup", pod, targets=spec.targets, context=k8s_cfg.context
        )
        self.run_now_command = f"{kubectl} create job --from=cronjob/backup backup-now-$(date +%s)"
        if drill is None:
            return
        # The drill pod: only the env drill.sh reads (no DATABASE_URL; Redis only for the live
        # key count), scratch space for the largest data set it restores, its metrics on a claim
        # of its own between runs and pushed to the Pushgateway, the records in the repository.
        names = set(render_drill_env_names(drill))
        largest_mb = max(
            args.redis_maxmemory_mb if drill.redis else 0,  # the RDB file, at most the data set
            args.database_dump_gb * 1024 if drill.database else 0,  # as capacity counts a dump
        )
        drill_pod = manifests.DrillPodSpec(
            image=args.image,
            plain_env={k: v for k, v in plain_env.items() if not k.startswith("REDIS") or k in names},
            secret_name="backup-env",
            secret_keys=tuple(sorted(k for k in secret_env if k in names)),
            scripts_config_map="backup-scripts",
            state_claim="backup-drill-state",
            pushgateway=args.pushgateway,
            records_dir=drill.records_dir,
            reads_live_redis=drill.redis,
            scratch_mb=largest_mb + drill.scratch_min_mb + round(RESTIC_CACHE_GB * 1024),
            # the scratch redis-server holds the restored data set beside restic
            memory_mb=BACKUP.memory_mb + (args.redis_maxmemory_mb if drill.redis else 0),
            scripts_checksum=manifests.checksum(*scripts.values()),
        )
        drill_claim = cluster.declare(
            f"{name}-drill-state",
            manifests.backup_claim(target, "backup-drill-state", k8s_cfg.storage_gi.backup, k8s_cfg.storage_class),
            parent=self,
        )
        self.drill_cronjob = cluster.declare(
            f"{name}-drill-cronjob",
            manifests.backup_drill_cronjob(target, "backup-drill", drill_pod, schedule=drill.schedule),
            parent=self,
            depends_on=[config_map, secret, drill_claim],
        )
        self.drill_command = f"{kubectl} create job --from=cronjob/backup-drill backup-drill-now-$(date +%s)"
        self.drill_records_command = manifests.drill_records_command(
            target, "backup-drill", drill_pod, context=k8s_cfg.context
        )

    def _docker(self, name: str, args: BackupJobArgs, host: VpsHost) -> None:
        backup = args.backup
        volumes = args.volumes or {}
        spec = BackupSpec(
            stack=args.stack,
            repository=backup.repository,
            retention=backup.retention,
            database=backup.database,
            redis=backup.redis and args.redis_address is not None,
            volume_paths={v: f"/volumes/{v}" for v in sorted(volumes)},
            verify_subset=backup.verify_subset,
            textfile_dir=TEXTFILE,
        )
        crontab = f"{backup.schedule} . {ENV_FILE} && {SCRIPTS}/backup.sh >> /proc/1/fd/1 2>&1\n"
        plain_env, secret_env = self._secret_env(args, spec)
        drill = DrillSpec.from_config(spec, backup.drill) if backup.drill.effective(backup.enabled) else None
        scripts = {
            f"{SCRIPTS}/backup.sh": render_backup_script(spec),
            f"{SCRIPTS}/restore.sh": render_restore_script(spec),
        }
        if drill is not None:
            # Restore drills on their own schedule, into scratch targets (components/render/backup_drill.py).
            scripts[f"{SCRIPTS}/drill.sh"] = render_drill_script(drill)
            crontab += drill_crontab_line(drill, script=f"{SCRIPTS}/drill.sh", env_file=ENV_FILE)

        mounts = [
            docker.ContainerVolumeArgs(host_path=f"{host.config_root}/textfile", container_path=TEXTFILE),
            # The drills' evidence records, kept on the host too (and in the repository).
            *(
                [docker.ContainerVolumeArgs(host_path=f"{host.config_root}/drills", container_path=drill.records_dir)]
                if drill is not None
                else []
            ),
            *[
                docker.ContainerVolumeArgs(volume_name=volumes[v], container_path=f"/volumes/{v}")
                for v in sorted(volumes)
            ],
        ]
        if not backup.offsite:
            repo = docker.Volume(
                f"{name}-repository",
                name=f"webstack-{args.stack}-backup-repository",
                opts=pulumi.ResourceOptions(parent=self, provider=host.docker, protect=args.protect_repository),
            )
            mounts.append(docker.ContainerVolumeArgs(volume_name=repo.name, container_path=backup.repository))

        image = docker.RemoteImage(
            f"{name}-image",
            name=args.image,
            keep_locally=True,
            opts=pulumi.ResourceOptions(parent=self, provider=host.docker),
        )
        self.container_name = f"webstack-{args.stack}-backup"
        self.container = docker.Container(
            f"{name}-runner",
            name=self.container_name,
            image=image.image_id,
            command=["sh", "-c", START],
            envs=env_list(plain_env, secret_env),
            uploads=uploads({**scripts, f"{SCRIPTS}/crontabs/root": crontab}, executable=list(scripts)),
            volumes=mounts,
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=host.network_name)],
            # crond is PID 1 (exec); the env file its jobs source must be there.
            healthcheck=command_healthcheck("test -s /run/webstack-backup.env && kill -0 1"),
            **container_defaults(memory_mb=BACKUP.memory_mb, stack=args.stack, service="backup"),
            opts=pulumi.ResourceOptions(parent=self, provider=host.docker, delete_before_replace=True),
        )
        # No terminal asked for: the commands work from a script or a drill as from a shell.
        restore = f"docker exec {self.container_name} {SCRIPTS}/restore.sh <database|redis|volume:NAME> [SNAPSHOT]"
        run_now = f"docker exec {self.container_name} sh -c '. {ENV_FILE} && {SCRIPTS}/backup.sh'"
        self.restore_command = host.operator_command(restore)
        self.run_now_command = host.operator_command(run_now)
        if drill is not None:
            drill_now = f"docker exec {self.container_name} sh -c '. {ENV_FILE} && {SCRIPTS}/drill.sh'"
            records = f"docker exec {self.container_name} sh -c '. {ENV_FILE} && {SCRIPTS}/drill.sh records 10'"
            self.drill_command = host.operator_command(drill_now)
            self.drill_records_command = host.operator_command(records)
