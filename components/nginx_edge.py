"""NginxEdge: the TLS-terminating load balancer, its certificate, and Cloudflare in front.

On platform docker: the nginx config lives in a host directory bound into the container;
a change of config rewrites the file and reloads nginx (graceful), it never replaces the
container, so upstream changes during a rolling deploy drop no connection.

On platform kubernetes the cluster's ingress controller is the edge (AppTier declares the
Ingresses): this component is Cloudflare in front of the controller's load balancer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_docker as docker

from components.capacity import EDGE
from components.cloudflare_front import cloudflare_front, cloudflare_provider
from components.config import DnsConfig, EdgeConfig, ServiceConfig
from components.render.nginx import edge_spec, render_nginx_conf
from components.render.tls import render_csr_script, render_install_cert_script, render_self_signed_script
from components.targets import KubernetesCluster, VpsHost
from components.targets.containers import Endpoint, command_healthcheck, container_defaults, exporter

CONTAINER_CONF_DIR = "/etc/nginx/webstack"
STATUS_PORT = 8081
EXPORTER_PORT = 9113


@dataclass(frozen=True)
class Site:
    """What the edge serves and the names it answers to (render.nginx.Site, and the DNS)."""

    edge: EdgeConfig
    services: dict[str, ServiceConfig]
    server_names: list[str]
    domain: str
    dns: DnsConfig


@dataclass
class NginxEdgeArgs:
    site: Site
    stack: str
    # The edge host (platform docker) or the cluster whose ingress controller is the edge.
    target: VpsHost | KubernetesCluster
    image: str
    exporter_image: str
    # Service name -> its replicas' addresses as the edge host reaches them (docker).
    upstreams: pulumi.Input[dict[str, list[str]]] | None = None
    cloudflare_api_token: pulumi.Input[str] | None = None
    # The replicas' current addresses (docker, one host: nginx reaches them by name): a
    # change reloads nginx, which resolves the upstream names again. None: not watched.
    upstream_addresses: pulumi.Input[list[str]] | None = None
    # edge.certificate `provided`: the secret PEM certificate and key.
    tls_certificate: str | None = None
    tls_private_key: str | None = None


class NginxEdge(pulumi.ComponentResource):
    container: docker.Container
    exporter: Endpoint
    nginx_conf: pulumi.Output[str]
    dns_records: list[cloudflare.DnsRecord]
    public_address: str | None

    def __init__(self, name: str, args: NginxEdgeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("webstack:edge:NginxEdge", name, None, opts)
        site = args.site
        outputs: dict[str, pulumi.Input[object]] = {}
        if isinstance(args.target, KubernetesCluster):
            self._kubernetes(name, args, args.target)
        else:
            self._docker(name, args, args.target)
            outputs["container"] = self.container.name
        self.dns_records = []
        if site.dns.enabled:
            api_paths = [s.path for s in site.services.values() if s.kind == "api"]
            self.dns_records = cloudflare_front(
                name,
                site.dns,
                domain=site.domain,
                api_paths=api_paths,
                address=self.public_address or "",
                parent=self,
                provider=self._cloudflare,
            )
        self.url = f"https://{site.server_names[0]}" + ("" if self._https_port == 443 else f":{self._https_port}")
        self.register_outputs(
            {
                "url": self.url,
                "publicAddress": self.public_address,
                "dnsRecords": [r.name for r in self.dns_records],
                **outputs,
            }
        )

    def _kubernetes(self, name: str, args: NginxEdgeArgs, cluster: KubernetesCluster) -> None:
        """Cloudflare in front of the cluster's ingress controller (its load balancer)."""
        self._cloudflare = (
            cloudflare_provider(name, args.cloudflare_api_token, parent=self) if args.site.dns.enabled else None
        )
        self.public_address = cluster.config.load_balancer_address
        self._https_port = 443

    def _docker(self, name: str, args: NginxEdgeArgs, host: VpsHost) -> None:
        """nginx on the edge host, its certificate and its exporter."""
        assert args.upstreams is not None, "platform docker: the edge needs its upstreams"
        site = args.site
        edge = site.edge
        names = site.server_names
        conf_dir = f"{host.config_root}/edge"
        tls_dir = f"{conf_dir}/tls"
        textfile_dir = f"{host.config_root}/textfile"
        on_host = pulumi.ResourceOptions(parent=self, provider=host.docker)
        self._cloudflare = (
            cloudflare_provider(name, args.cloudflare_api_token, parent=self)
            if site.dns.enabled or edge.certificate == "cloudflare-origin"
            else None
        )

        certificate_hashes: list[pulumi.Input[str]] = []
        if edge.certificate == "self-signed":
            tls = host.run(f"{name}-tls", render_self_signed_script(tls_dir, names, textfile_dir), parent=self)
        elif edge.certificate == "provided":
            certificate = args.tls_certificate or ""
            key = host.write_file(
                f"{name}-tls-key",
                f"{tls_dir}/edge.key",
                pulumi.Output.secret(args.tls_private_key or ""),
                parent=self,
                mode="0600",
            )
            tls = host.run(
                f"{name}-cert-install",
                render_install_cert_script(tls_dir, textfile_dir, names[0]),
                parent=self,
                stdin=certificate,
                depends_on=[key],
            )
            # A renewed certificate reloads nginx, like a new config does.
            certificate_hashes.append(hashlib.sha256(certificate.encode()).hexdigest())
        else:
            csr = host.run(f"{name}-csr", render_csr_script(tls_dir, names), parent=self)
            origin_cert = cloudflare.OriginCaCertificate(
                f"{name}-origin-cert",
                csr=csr.stdout,
                hostnames=names,
                request_type="origin-ecc",
                requested_validity=5475,
                opts=pulumi.ResourceOptions(parent=self, provider=self._cloudflare),
            )
            tls = host.run(
                f"{name}-cert-install",
                render_install_cert_script(tls_dir, textfile_dir, names[0]),
                parent=self,
                stdin=origin_cert.certificate,
            )

        self.nginx_conf = pulumi.Output.from_input(args.upstreams).apply(
            lambda servers: render_nginx_conf(
                edge_spec(
                    site,
                    servers,
                    certificate=f"{CONTAINER_CONF_DIR}/tls/edge.crt",
                    certificate_key=f"{CONTAINER_CONF_DIR}/tls/edge.key",
                )
            )
        )
        conf_file = host.write_file(f"{name}-conf", f"{conf_dir}/nginx.conf", self.nginx_conf, parent=self)

        image = docker.RemoteImage(f"{name}-image", name=args.image, keep_locally=True, opts=on_host)
        self.container = docker.Container(
            f"{name}-nginx",
            name=self.container_name(args.stack),
            image=image.image_id,
            command=["nginx", "-c", f"{CONTAINER_CONF_DIR}/nginx.conf", "-g", "daemon off;"],
            ports=[
                docker.ContainerPortArgs(internal=80, external=edge.http_port, ip=edge.bind_address),
                docker.ContainerPortArgs(internal=443, external=edge.https_port, ip=edge.bind_address),
            ],
            volumes=[docker.ContainerVolumeArgs(host_path=conf_dir, container_path=CONTAINER_CONF_DIR, read_only=True)],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=host.network_name, aliases=["edge"])],
            healthcheck=command_healthcheck(
                f"wget -q -O /dev/null http://127.0.0.1:{STATUS_PORT}/stub_status || exit 1"
            ),
            wait=True,
            wait_timeout=120,
            **container_defaults(memory_mb=EDGE.memory_mb, stack=args.stack, service="edge"),
            opts=pulumi.ResourceOptions(
                parent=self, provider=host.docker, depends_on=[conf_file, tls], delete_before_replace=True
            ),
        )
        # A new config (new upstreams, new limits) is tested, then reloaded gracefully.
        exec_nginx = f"docker exec {self.container_name(args.stack)} nginx -c {CONTAINER_CONF_DIR}/nginx.conf"
        host.run(
            f"{name}-reload",
            f"{exec_nginx} -t -q && {exec_nginx} -s reload",
            parent=self,
            triggers=[
                self.nginx_conf.apply(lambda text: hashlib.sha256(text.encode()).hexdigest()),
                *(
                    [pulumi.Output.from_input(args.upstream_addresses).apply(lambda a: " ".join(a))]
                    if args.upstream_addresses is not None
                    else []
                ),
                *certificate_hashes,
            ],
            depends_on=[self.container, conf_file, tls],
        )

        exporter_image = docker.RemoteImage(
            f"{name}-exporter-image", name=args.exporter_image, keep_locally=True, opts=on_host
        )
        self.exporter = exporter(
            f"{name}-exporter",
            host=host,
            stack=args.stack,
            service="edge-exporter",
            image=exporter_image.image_id,
            port=EXPORTER_PORT,
            command=[f"--nginx.scrape-uri=http://edge:{STATUS_PORT}/stub_status"],
            parent=self,
            depends_on=[self.container],
        )

        self.public_address = host.host.address
        self._https_port = edge.https_port

    @staticmethod
    def container_name(stack: str) -> str:
        return f"webstack-{stack}-edge"
