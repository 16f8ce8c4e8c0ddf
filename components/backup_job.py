"""BackupJob: scheduled, encrypted, verified restic backups with retention and a restore command.

A long-running container holds cron, restic and the dump tools; at the schedule it
dumps the database and Redis, backs them and the named volumes up to the repository
(offsite in staging and production), applies retention, checks the repository and
writes a freshness metric that node exporter serves and monitoring alerts on.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from .config import Platform, StackConfig
from .render.backup import BackupSpec, render_backup_script, render_restore_script
from .vps_host import VpsHost
from .wiring import container_defaults, env_list, uploads

SCRIPTS = "/etc/webstack-backup"
TEXTFILE = "/textfile"
# cron does not pass the container's environment to its jobs: the entrypoint saves
# it to a root-only file that the job sources.
START = f"umask 077 && export -p > /run/webstack-backup.env && exec busybox crond -f -l 8 -c {SCRIPTS}/crontabs"


@dataclass
class BackupJobArgs:
    config: StackConfig
    stack: str
    hosts: dict[str, VpsHost]
    platform: Platform
    # Redis as the backup host reaches it ("host:port") and its password.
    redis_address: str | None = None
    redis_password: pulumi.Input[str] | None = None
    # Logical volume name -> Docker volume name, for the volumes to back up.
    volumes: dict[str, pulumi.Input[str]] | None = None


class BackupJob(pulumi.ComponentResource):
    container: docker.Container
    repository_password: pulumi.Output[str]

    def __init__(self, name: str, args: BackupJobArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("webstack:backup:BackupJob", name, None, opts)
        if args.platform != "docker":
            raise ValueError(f"BackupJob: platform {args.platform!r} is not available; allowed: 'docker'")
        cfg, backup = args.config, args.config.backup
        host = args.hosts[backup.host]
        volumes = args.volumes or {}

        configured = cfg.secret("backupPassword")
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
        crontab = f"{backup.schedule} . /run/webstack-backup.env && {SCRIPTS}/backup.sh >> /proc/1/fd/1 2>&1\n"
        secret_env: dict[str, pulumi.Input[str]] = {"RESTIC_PASSWORD": self.repository_password}
        plain_env = {"RESTIC_REPOSITORY": backup.repository, "TZ": "UTC"}
        if spec.redis and args.redis_address and args.redis_password is not None:
            redis_host, _, redis_port = args.redis_address.rpartition(":")
            plain_env |= {"REDIS_HOST": redis_host, "REDIS_PORT": redis_port}
            secret_env["REDISCLI_AUTH"] = args.redis_password
        if backup.database != "none":
            secret_env["DATABASE_URL"] = pulumi.Output.secret(cfg.secret("databaseUrl") or "")
        if backup.repository.startswith("s3:"):
            secret_env["AWS_ACCESS_KEY_ID"] = pulumi.Output.secret(cfg.secret("backupAccessKeyId") or "")
            secret_env["AWS_SECRET_ACCESS_KEY"] = pulumi.Output.secret(cfg.secret("backupSecretAccessKey") or "")

        mounts = [
            docker.ContainerVolumeArgs(host_path=f"{host.config_root}/textfile", container_path=TEXTFILE),
            *[
                docker.ContainerVolumeArgs(volume_name=volumes[v], container_path=f"/volumes/{v}")
                for v in sorted(volumes)
            ],
        ]
        if not backup.offsite:
            repo = docker.Volume(
                f"{name}-repository",
                name=f"webstack-{args.stack}-backup-repository",
                opts=pulumi.ResourceOptions(parent=self, provider=host.docker, protect=cfg.environment == "production"),
            )
            mounts.append(docker.ContainerVolumeArgs(volume_name=repo.name, container_path=backup.repository))

        image = docker.RemoteImage(
            f"{name}-image",
            name=cfg.images.backup,
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
            uploads=uploads(
                {
                    f"{SCRIPTS}/backup.sh": render_backup_script(spec),
                    f"{SCRIPTS}/restore.sh": render_restore_script(spec),
                    f"{SCRIPTS}/crontabs/root": crontab,
                },
                executable=[f"{SCRIPTS}/backup.sh", f"{SCRIPTS}/restore.sh"],
            ),
            volumes=mounts,
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=host.network_name)],
            **container_defaults(memory_mb=1024),
            opts=pulumi.ResourceOptions(parent=self, provider=host.docker, delete_before_replace=True),
        )
        prefix = "" if host.is_local else f"ssh {host.host.deploy_user}@{host.host.address} "
        self.restore_command = f"{prefix}docker exec -it {self.container_name} {SCRIPTS}/restore.sh <database|redis|volume:NAME> [SNAPSHOT]"
        self.run_now_command = (
            f"{prefix}docker exec {self.container_name} sh -c '. /run/webstack-backup.env && {SCRIPTS}/backup.sh'"
        )
        self.register_outputs(
            {
                "repository": backup.repository,
                "schedule": backup.schedule,
                "restoreCommand": self.restore_command,
                "container": self.container.name,
            }
        )
