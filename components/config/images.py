"""Where the local stack's images come from: the public registry, or built on this machine.

Pure: no Pulumi import. On a machine that reaches a registry the local stack pulls the
same pinned public images as production; where none can be reached (air-gapped CI),
`images/build.sh` builds equivalents from Debian's packages and `WEBSTACK_IMAGE_SOURCE=local`
(set by scripts/up.sh, which tries the registry first) points the stack at them.
"""

from __future__ import annotations

from components.config.model import ConfigError, ImagesConfig, Problem, StackConfig

IMAGE_SOURCE_ENV = "WEBSTACK_IMAGE_SOURCE"
IMAGE_SOURCES = ("registry", "local")
LOCAL_PREFIX = "webstack-local"

# The images/build.sh tag of each infrastructure image; Grafana has no local build.
LOCAL_IMAGES: dict[str, str] = {
    "nginx": f"{LOCAL_PREFIX}/nginx:bookworm",
    "redis": f"{LOCAL_PREFIX}/redis:bookworm",
    "prometheus": f"{LOCAL_PREFIX}/prometheus:bookworm",
    "alertmanager": f"{LOCAL_PREFIX}/alertmanager:bookworm",
    "node_exporter": f"{LOCAL_PREFIX}/node-exporter:bookworm",
    "redis_exporter": f"{LOCAL_PREFIX}/redis-exporter:bookworm",
    "nginx_exporter": f"{LOCAL_PREFIX}/nginx-exporter:bookworm",
    "backup": f"{LOCAL_PREFIX}/backup:bookworm",
    "postgres": f"{LOCAL_PREFIX}/postgres:bookworm",
    "victorialogs": f"{LOCAL_PREFIX}/victorialogs:v1.52.1",
    "vmalert": f"{LOCAL_PREFIX}/vmalert:v1.151.0",
    "syslog_ng": f"{LOCAL_PREFIX}/syslog-ng:bookworm",
}


def apply_image_source(config: StackConfig, stack: str, source: str | None) -> StackConfig:
    """The config with its images taken from `source` (None or "registry": unchanged)."""
    if source in (None, "", "registry"):
        return config
    if source not in IMAGE_SOURCES:
        allowed = ", ".join(repr(s) for s in IMAGE_SOURCES)
        raise ConfigError(stack, [Problem(IMAGE_SOURCE_ENV, f"got {source!r}; allowed: {allowed}")])
    if config.environment != "local":
        raise ConfigError(
            stack,
            [
                Problem(
                    IMAGE_SOURCE_ENV,
                    f"got {source!r} for a {config.environment} stack; allowed: 'local' only on the local stack",
                )
            ],
        )
    images = ImagesConfig.model_validate({**config.images.model_dump(), **LOCAL_IMAGES})
    monitoring = config.monitoring.model_copy(update={"grafana": False})
    return config.model_copy(update={"images": images, "monitoring": monitoring})
