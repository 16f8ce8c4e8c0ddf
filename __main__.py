"""webstack: load and validate the stack's config, declare the stack, export the outputs."""

import pulumi
from pulumi.runtime import config as runtime_config

from components.config import ConfigError
from components.config.capacity import CatalogueError
from components.load import load_stack_config
from components.stack import build_stack

stack = pulumi.get_stack()
raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
secret_keys = {*runtime_config.get_config_secret_keys_env(), *runtime_config._SECRET_KEYS.get()}
try:
    config = load_stack_config(stack, raw, secret_keys)
except (ConfigError, CatalogueError) as error:
    # One message, before any resource exists; no Python traceback to wade through.
    raise SystemExit(str(error)) from None

for name, value in build_stack(config, stack).items():
    pulumi.export(name, value)
