"""The Redis cache's Kubernetes objects: its StatefulSet (redis-server and the exporter
side by side, the data on a retained claim)."""

from __future__ import annotations

from dataclasses import dataclass

from components.render.kubernetes.objects import (
    CHECKSUM,
    NOBODY,
    Manifest,
    Target,
    claim_template,
    container_security,
    http_probe,
    pod_security,
    resources,
    scrape_annotations,
)

REDIS_EXPORTER_PORT = 9121
REDIS_UID, REDIS_GID = 999, 1000  # the redis user and group of the official alpine image


@dataclass(frozen=True)
class RedisPodSpec:
    image: str
    exporter_image: str
    port: int
    maxmemory_mb: int
    storage_gi: int
    storage_class: str | None
    secret_name: str
    config_name: str
    start: str  # the start command (password from $REDIS_PASSWORD into a file)
    config_checksum: str
    annotations_scrape: bool


def redis_statefulset(target: Target, name: str, spec: RedisPodSpec) -> Manifest:
    password = {"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": spec.secret_name, "key": "password"}}}
    annotations = {CHECKSUM: spec.config_checksum}
    if spec.annotations_scrape:
        annotations |= scrape_annotations("redis", REDIS_EXPORTER_PORT)
    redis = {
        "name": "redis",
        "image": spec.image,
        "command": ["sh", "-c", spec.start],
        "ports": [{"name": "redis", "containerPort": spec.port, "protocol": "TCP"}],
        "env": [password],
        "resources": resources(0.5, int(spec.maxmemory_mb * 1.5) + 64),
        "securityContext": container_security(uid=REDIS_UID, gid=REDIS_GID, read_only=True),
        "readinessProbe": {
            "exec": {
                "command": [
                    "sh",
                    "-c",
                    f'redis-cli -p {spec.port} --no-auth-warning -a "$REDIS_PASSWORD" ping | grep -q PONG',
                ]
            },
            "periodSeconds": 10,
            "timeoutSeconds": 5,
        },
        "livenessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 10, "timeoutSeconds": 5},
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "config", "mountPath": "/etc/redis", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    exporter = {
        "name": "exporter",
        "image": spec.exporter_image,
        "ports": [{"name": "metrics", "containerPort": REDIS_EXPORTER_PORT, "protocol": "TCP"}],
        "env": [{"name": "REDIS_ADDR", "value": f"redis://localhost:{spec.port}"}, password],
        "resources": resources(0.1, 64),
        "securityContext": container_security(uid=NOBODY, gid=NOBODY, read_only=True),
        "readinessProbe": http_probe("/health", "metrics"),
        "livenessProbe": http_probe("/health", "metrics", period_s=20),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": target.metadata(name, "cache"),
        "spec": {
            "serviceName": f"{name}-headless",
            "replicas": 1,
            "selector": {"matchLabels": target.selector(name)},
            # The data outlives the StatefulSet: deleting or scaling it keeps the claim.
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            "template": {
                "metadata": {"labels": target.labels(name, "cache"), "annotations": annotations},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security(uid=REDIS_UID, gid=REDIS_GID, fs_group=REDIS_GID),
                    "terminationGracePeriodSeconds": 30,
                    "containers": [redis, exporter],
                    "volumes": [
                        {"name": "config", "configMap": {"name": spec.config_name}},
                        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                    ],
                },
            },
            "volumeClaimTemplates": [
                claim_template("data", spec.storage_gi, spec.storage_class, target.labels(name, "cache"))
            ],
        },
    }
