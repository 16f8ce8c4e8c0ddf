"""The stack config, by concern: what `Pulumi.<stack>.yaml` says, validated.

Each concern validates its own keys in its own module (`hosts`, `edge`, `dns`, `services`,
`redis`, `backup` and `backup_drill`, `monitoring`, `images`, `kubernetes`, `registry`,
`capacity`, `postgres`, `logs`); `stack` is the whole, `checks` the checks across concerns,
`load` the loader. Nothing here imports components.capacity: the stack's loader, with the
capacity check, is components/load.py. Callers import the names below from this package.
"""

from components.config.backup import BackupConfig, RetentionConfig
from components.config.base import NAMESPACE, ConfigError, Platform, Problem
from components.config.dns import DnsConfig
from components.config.edge import EdgeConfig, RateLimit
from components.config.hosts import HostConfig
from components.config.images import ImagesConfig
from components.config.kubernetes import KubernetesConfig, StorageConfig
from components.config.load import StackCheck, load_stack_config, placeholder_secret
from components.config.monitoring import MonitoringConfig, Thresholds
from components.config.ports import RESERVED_HOST_PORTS
from components.config.redis import RedisConfig
from components.config.services import AutoscaleConfig, SecretRef, ServiceConfig
from components.config.stack import KNOWN_SECRETS, StackConfig

__all__ = [
    "KNOWN_SECRETS",
    "NAMESPACE",
    "RESERVED_HOST_PORTS",
    "AutoscaleConfig",
    "BackupConfig",
    "ConfigError",
    "DnsConfig",
    "EdgeConfig",
    "HostConfig",
    "ImagesConfig",
    "KubernetesConfig",
    "MonitoringConfig",
    "Platform",
    "Problem",
    "RateLimit",
    "RedisConfig",
    "RetentionConfig",
    "SecretRef",
    "ServiceConfig",
    "StackCheck",
    "StackConfig",
    "StorageConfig",
    "Thresholds",
    "load_stack_config",
    "placeholder_secret",
]
