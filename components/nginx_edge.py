"""NginxEdge: the TLS-terminating load balancer, its certificate, and Cloudflare in front.

The nginx config lives in a host directory bound into the container; a change of
config rewrites the file and reloads nginx (graceful), it never replaces the
container, so upstream changes during a rolling deploy drop no connection.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_docker as docker

from .config import StackConfig
from .render.nginx import edge_spec, render_nginx_conf
from .render.tls import render_csr_script, render_install_cert_script, render_self_signed_script
from .vps_host import VpsHost
from .wiring import Endpoint, command_healthcheck, container_defaults, endpoint, internal_port

CONTAINER_CONF_DIR = "/etc/nginx/webstack"
STATUS_PORT = 8081
EXPORTER_PORT = 9113


@dataclass
class NginxEdgeArgs:
    config: StackConfig
    stack: str
    host: VpsHost
    # Service name -> its replicas' addresses as the edge host reaches them.
    upstreams: pulumi.Input[dict[str, list[str]]]
    cloudflare_api_token: pulumi.Input[str] | None = None


class NginxEdge(pulumi.ComponentResource):
    container: docker.Container
    exporter: Endpoint
    nginx_conf: pulumi.Output[str]
    dns_records: list[cloudflare.DnsRecord]

    def __init__(self, name: str, args: NginxEdgeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("webstack:edge:NginxEdge", name, None, opts)
        cfg, host = args.config, args.host
        edge = cfg.edge
        names = cfg.server_names
        conf_dir = f"{host.config_root}/edge"
        tls_dir = f"{conf_dir}/tls"
        textfile_dir = f"{host.config_root}/textfile"
        on_host = pulumi.ResourceOptions(parent=self, provider=host.docker)
        self._provider = (
            cloudflare.Provider(
                f"{name}-cloudflare",
                api_token=pulumi.Output.secret(args.cloudflare_api_token or ""),
                opts=pulumi.ResourceOptions(parent=self),
            )
            if cfg.dns.enabled or edge.certificate == "cloudflare-origin"
            else None
        )

        if edge.certificate == "self-signed":
            tls = host.run(f"{name}-tls", render_self_signed_script(tls_dir, names, textfile_dir), parent=self)
        else:
            csr = host.run(f"{name}-csr", render_csr_script(tls_dir, names), parent=self)
            origin_cert = cloudflare.OriginCaCertificate(
                f"{name}-origin-cert",
                csr=csr.stdout,
                hostnames=names,
                request_type="origin-ecc",
                requested_validity=5475,
                opts=pulumi.ResourceOptions(parent=self, provider=self._provider),
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
                    cfg,
                    servers,
                    certificate=f"{CONTAINER_CONF_DIR}/tls/edge.crt",
                    certificate_key=f"{CONTAINER_CONF_DIR}/tls/edge.key",
                )
            )
        )
        conf_file = host.write_file(f"{name}-conf", f"{conf_dir}/nginx.conf", self.nginx_conf, parent=self)

        image = docker.RemoteImage(f"{name}-image", name=cfg.images.nginx, keep_locally=True, opts=on_host)
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
            ulimits=[docker.ContainerUlimitArgs(name="nofile", soft=65535, hard=65535)],
            wait=True,
            wait_timeout=120,
            **container_defaults(memory_mb=512),
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
            triggers=[self.nginx_conf.apply(lambda text: hashlib.sha256(text.encode()).hexdigest())],
            depends_on=[self.container, conf_file, tls],
        )

        exporter_image = docker.RemoteImage(
            f"{name}-exporter-image", name=cfg.images.nginx_exporter, keep_locally=True, opts=on_host
        )
        exporter = docker.Container(
            f"{name}-exporter",
            name=f"webstack-{args.stack}-edge-exporter",
            image=exporter_image.image_id,
            command=[f"--nginx.scrape-uri=http://edge:{STATUS_PORT}/stub_status"],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=host.network_name)],
            ports=[internal_port(EXPORTER_PORT, host.internal_address)] if host.multi_host else [],
            user="65534:65534",
            **container_defaults(memory_mb=64),
            opts=pulumi.ResourceOptions(
                parent=self, provider=host.docker, depends_on=[self.container], delete_before_replace=True
            ),
        )
        self.exporter = endpoint(
            exporter,
            host=host.name,
            internal_address=host.internal_address,
            port=EXPORTER_PORT,
            published=host.multi_host,
        )

        self.dns_records = []
        if cfg.dns.enabled:
            self._dns(name, args)

        self.public_address = host.host.address
        self.url = f"https://{names[0]}" + ("" if edge.https_port == 443 else f":{edge.https_port}")
        self.register_outputs(
            {
                "url": self.url,
                "publicAddress": self.public_address,
                "container": self.container.name,
                "dnsRecords": [r.name for r in self.dns_records],
            }
        )

    @staticmethod
    def container_name(stack: str) -> str:
        return f"webstack-{stack}-edge"

    def _dns(self, name: str, args: NginxEdgeArgs) -> None:
        cfg = args.config
        zone_id = cfg.dns.zone_id or ""
        cf = pulumi.ResourceOptions(parent=self, provider=self._provider)
        for record in cfg.dns.records:
            fqdn = cfg.domain if record == "@" else f"{record}.{cfg.domain}"
            self.dns_records.append(
                cloudflare.DnsRecord(
                    f"{name}-dns-{record.replace('@', 'apex')}",
                    zone_id=zone_id,
                    name=fqdn,
                    type="A",
                    content=args.host.host.address,
                    proxied=cfg.dns.proxied,
                    ttl=1,
                    comment="managed by webstack",
                    opts=cf,
                )
            )
        # Strict: Cloudflare checks the origin certificate; HTTPS only; no TLS below 1.2.
        for setting, value in (("ssl", "strict"), ("always_use_https", "on"), ("min_tls_version", "1.2")):
            cloudflare.ZoneSetting(
                f"{name}-zone-{setting.replace('_', '-')}", zone_id=zone_id, setting_id=setting, value=value, opts=cf
            )
        api_paths = sorted(s.path for s in cfg.services.values() if s.kind == "api")
        expression = " or ".join(f'starts_with(http.request.uri.path, "{p}")' for p in api_paths) or "true"
        cloudflare.Ruleset(
            f"{name}-ratelimit",
            zone_id=zone_id,
            name="webstack rate limits",
            description="Per-IP rate limit on the API, in front of the edge's own limits",
            kind="zone",
            phase="http_ratelimit",
            rules=[
                cloudflare.RulesetRuleArgs(
                    action="block",
                    expression=f"({expression})",
                    description="API requests per client IP",
                    enabled=True,
                    ratelimit=cloudflare.RulesetRuleRatelimitArgs(
                        characteristics=["cf.colo.id", "ip.src"],
                        period=60,
                        requests_per_period=cfg.dns.rate_limit_per_minute,
                        mitigation_timeout=600,
                    ),
                )
            ],
            opts=cf,
        )
