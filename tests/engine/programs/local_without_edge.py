"""The local stack's program without its edge, for the real engine here.

The edge is the one component that needs pulumi-command (its certificate, nginx.conf and
graceful reload), and that plugin cannot be built here (engine/NOTES.md). Everything else is
declared by components/stack.py's own steps, as build_stack declares it, minus the edge and
the monitoring target of its exporter; the config is loaded as __main__.py loads it.
"""

import os

import pulumi
from pulumi.runtime import config as runtime_config

from components.config import load_stack_config
from components.images import IMAGE_SOURCE_ENV, apply_image_source
from components.stack import declare_backup, declare_hosts, declare_monitoring, declare_services

stack = pulumi.get_stack()
raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
secret_keys = {*runtime_config.get_config_secret_keys_env(), *runtime_config._SECRET_KEYS.get()}
config = apply_image_source(load_stack_config(stack, raw, secret_keys), stack, os.environ.get(IMAGE_SOURCE_ENV))

hosts = declare_hosts(config, stack)
redis, app = declare_services(config, stack, hosts)
monitoring = declare_monitoring(config, stack, hosts, redis, app, edge_exporters=[])
declare_backup(config, stack, hosts, redis, monitoring)
pulumi.export("redisPassword", redis.password)
