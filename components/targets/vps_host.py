"""VpsHost: one machine of the stack and the Docker engine on it.

Over SSH it bootstraps the host (Docker, deploy user, firewall, fail2ban, limits,
unattended upgrades) and binds a Docker provider to it; on `local` it is the local
engine and skips the bootstrap. Other components put files on the host and run
commands there through `write_file` and `run`, so they never care which kind it is.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass, field

import pulumi
import pulumi_command as command
import pulumi_docker as docker

from components.config import HostConfig
from components.config.registry import RegistryConfig
from components.config.stackfile import PROJECT_DIR
from components.render.bootstrap import BootstrapSpec, render_bootstrap_script
from components.targets.ssh_identity import SshIdentity


@dataclass
class VpsHostArgs:
    host: HostConfig
    stack: str
    ssh_private_key: pulumi.Input[str] | None = None
    # The same key as a file, for Docker's ssh client.
    ssh_identity: SshIdentity | None = None
    private_peers: list[str] = field(default_factory=list)
    # Ports the world may reach besides SSH (the edge's HTTP and HTTPS on the edge host).
    public_ports: tuple[int, ...] = ()
    # Publish internal ports on the private address: other hosts need to reach them.
    multi_host: bool = False
    registry: RegistryConfig | None = None
    registry_password: pulumi.Input[str] | None = None


class VpsHost(pulumi.ComponentResource):
    def __init__(self, name: str, args: VpsHostArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("webstack:host:VpsHost", name, None, opts)
        self.host = args.host
        self.name = args.host.name
        self.multi_host = args.multi_host
        self.is_local = args.host.connection == "local"
        self._key = args.ssh_private_key
        child = pulumi.ResourceOptions(parent=self)

        if self.is_local:
            self.config_root = str(PROJECT_DIR / ".webstack" / args.stack)
            self.bootstrap: command.remote.Command | None = None
            self.docker = docker.Provider(
                f"{name}-docker",
                host="unix:///var/run/docker.sock",
                registry_auth=self._registry_auth(args),
                opts=child,
            )
        else:
            self.config_root = f"/opt/webstack/{args.stack}"
            script = render_bootstrap_script(
                BootstrapSpec(
                    hostname=args.host.name,
                    deploy_user=args.host.deploy_user,
                    config_root=self.config_root,
                    ssh_port=args.host.ssh_port,
                    private_peers=tuple(args.private_peers),
                    public_ports=args.public_ports,
                    registry_server=args.registry.server if args.registry else None,
                    registry_ca=args.registry.ca_certificate if args.registry else None,
                )
            )
            self.bootstrap = command.remote.Command(
                f"{name}-bootstrap",
                connection=self._connection(args.host.ssh_user),
                create="bash -s",
                stdin=script,
                triggers=[hashlib.sha256(script.encode()).hexdigest()],
                opts=child,
            )
            identity = args.ssh_identity
            self.docker = docker.Provider(
                f"{name}-docker",
                host=f"ssh://{args.host.deploy_user}@{args.host.address}:{args.host.ssh_port}",
                ssh_opts=identity.ssh_options() if identity else ["-o", "StrictHostKeyChecking=accept-new"],
                registry_auth=self._registry_auth(args),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.bootstrap]),
            )
        self.provider_opts = pulumi.ResourceOptions(provider=self.docker)
        self.network = docker.Network(
            f"{name}-network",
            name=f"webstack-{args.stack}",
            driver="bridge",
            opts=pulumi.ResourceOptions(parent=self, provider=self.docker),
        )
        self.network_name: pulumi.Output[str] = self.network.name
        self.register_outputs(
            {
                "name": self.name,
                "address": args.host.address,
                "internalAddress": args.host.internal_address,
                "network": self.network_name,
                "configRoot": self.config_root,
            }
        )

    @property
    def internal_address(self) -> str:
        return self.host.internal_address

    def operator_command(self, remote: str) -> str:
        """An operator's command line that runs `remote` (a shell command) on this host: itself
        on the local host, else ssh as the deploy user with the command as one argument."""
        if self.is_local:
            return remote
        port = "" if self.host.ssh_port == 22 else f" -p {self.host.ssh_port}"
        return f"ssh {self.host.deploy_user}@{self.host.address}{port} {shlex.quote(remote)}"

    @staticmethod
    def _registry_auth(args: VpsHostArgs) -> list[docker.ProviderRegistryAuthArgs] | None:
        """The engine logs in to the private registry to pull (the password stays a secret)."""
        if args.registry is None:
            return None
        return [
            docker.ProviderRegistryAuthArgs(
                address=args.registry.server,
                username=args.registry.username,
                password=args.registry_password,
            )
        ]

    def _connection(self, user: str) -> command.remote.ConnectionArgs:
        return command.remote.ConnectionArgs(
            host=self.host.address,
            port=self.host.ssh_port,
            user=user,
            private_key=self._key,
        )

    def run(
        self,
        resource_name: str,
        script: pulumi.Input[str],
        *,
        parent: pulumi.Resource,
        stdin: pulumi.Input[str] | None = None,
        triggers: list[pulumi.Input[str]] | None = None,
        depends_on: list[pulumi.Resource] | None = None,
    ) -> command.local.Command | command.remote.Command:
        """Run a shell script on this host, again whenever it or its input changes."""
        deps = [*(depends_on or []), *([self.bootstrap] if self.bootstrap else [])]
        opts = pulumi.ResourceOptions(parent=parent, depends_on=deps)
        if self.is_local:
            return command.local.Command(
                resource_name, create=script, stdin=stdin, triggers=triggers, interpreter=["/bin/sh", "-c"], opts=opts
            )
        return command.remote.Command(
            resource_name,
            connection=self._connection(self.host.deploy_user),
            create=script,
            stdin=stdin,
            triggers=triggers,
            opts=opts,
        )

    def write_file(
        self,
        resource_name: str,
        path: str,
        content: pulumi.Input[str],
        *,
        parent: pulumi.Resource,
        mode: str = "0644",
        depends_on: list[pulumi.Resource] | None = None,
    ) -> command.local.Command | command.remote.Command:
        """Write a file on this host (atomically: temp file, then rename)."""
        quoted = shlex.quote(path)
        directory = shlex.quote(path.rsplit("/", 1)[0])
        script = f"mkdir -p {directory} && cat > {quoted}.tmp && chmod {mode} {quoted}.tmp && mv {quoted}.tmp {quoted}"
        return self.run(resource_name, script, parent=parent, stdin=content, depends_on=depends_on)
