"""The stack config, by concern: what `Pulumi.<stack>.yaml` says, validated."""

from components.config.model import (
    RESERVED_HOST_PORTS,
    AutoscaleConfig,
    BackupConfig,
    ConfigError,
    HostConfig,
    ImagesConfig,
    KubernetesConfig,
    Platform,
    Problem,
    RateLimit,
    RetentionConfig,
    ServiceConfig,
    StackConfig,
    Thresholds,
    load_stack_config,
    placeholder_secret,
)

__all__ = [
    "RESERVED_HOST_PORTS",
    "AutoscaleConfig",
    "BackupConfig",
    "ConfigError",
    "HostConfig",
    "ImagesConfig",
    "KubernetesConfig",
    "Platform",
    "Problem",
    "RateLimit",
    "RetentionConfig",
    "ServiceConfig",
    "StackConfig",
    "Thresholds",
    "load_stack_config",
    "placeholder_secret",
]
