"""Secret values in plain stack config: a pure check, and where the stack's config comes from.

`plaintext_secret_findings(config, secret_keys)` walks a stack's config (full keys such
as `webstack:services`, values as YAML or the engine give them) and reports every place a
secret sits in plain text: a secret-named key (`JWT_SECRET`, `apiToken`, `sshPrivateKey`)
holding a value, a URL with a password, a private key, a token with a well-known prefix.
Keys set with `pulumi config set --secret` are skipped.

Under the engine the policy pack sees the config the program reads in `PULUMI_CONFIG`
(secrets decrypted, without saying which were secret); which keys are secret is read from
the stack file (`secure:` values). The offline gate passes the config it ran with through
`config_source`.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import re
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from components.config.values import decode_config_value

from .common import is_secret_name, url_password

# The program's structured keys: the program refuses them as secrets, so they are always plain.
WEBSTACK_PLAIN_KEYS = frozenset(
    f"webstack:{k}"
    for k in (
        "environment",
        "platform",
        "domain",
        "hosts",
        "edge",
        "dns",
        "services",
        "redis",
        "backup",
        "monitoring",
        "images",
        "kubernetes",
        "capacity",
        "postgres",
    )
)
# Config paths whose secret-sounding key holds the *name* of a secret, not its value.
NAMES_OF_SECRETS = frozenset({"webstack:kubernetes.tlsSecret"})

_TOKEN_RES = (
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"\b(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}\b"), "a GitHub token"),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{30,}\b"), "a GitHub token"),
    (re.compile(r"\b[sr]k_live_[A-Za-z0-9]{16,}\b"), "a live API key"),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"), "a Slack token"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "an AWS access key"),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), "a Google API key"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\b"), "a JSON web token"),
)


def _walk(path: str, name: str, value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _walk(f"{path}.{key}", str(key), item)
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(f"{path}[{index}]", name, item)
        return
    if value is None or isinstance(value, bool):
        return
    text = str(value)
    if not text.strip():
        return
    if is_secret_name(name) and path not in NAMES_OF_SECRETS:
        yield f"{path}: the secret-named key {name!r} holds a plaintext value"
        return
    if url_password(text):
        yield f"{path}: a URL with a password in plain text"
        return
    for pattern, what in _TOKEN_RES:
        if pattern.search(text):
            yield f"{path}: {what} in plain text"
            return


def plaintext_secret_findings(config: Mapping[str, Any], secret_keys: Collection[str]) -> list[str]:
    """Every secret sitting in plain stack config, as 'key.path: what' (values never echoed)."""
    findings: list[str] = []
    for key in sorted(config):
        if key in secret_keys:
            continue
        _, _, name = key.partition(":")
        findings += _walk(key, name or key, decode_config_value(config[key]))
    return findings


def fix_for(finding: str) -> str:
    """How to fix one finding of `plaintext_secret_findings`."""
    path = finding.split(": ", 1)[0]
    key = re.split(r"[.\[]", path, maxsplit=1)[0]
    if ".env." in path:
        return (
            "move it to the service's secretEnv as {config: <key>} (or {generate: <length>}) and set the key "
            "with `pulumi config set --secret webstack:<key> <value>`"
        )
    return f"`pulumi config set --secret {key} <value>` (the stack file then holds it encrypted)"


# --- where the stack's config comes from ----------------------------------------------------------

StackConfig = tuple[dict[str, Any], set[str]]
_override: contextvars.ContextVar[StackConfig | None] = contextvars.ContextVar("webstack_stack_config", default=None)


@contextlib.contextmanager
def config_source(config: Mapping[str, Any], secret_keys: Collection[str]) -> Iterator[None]:
    """Within the block, the stack-config policy checks this config (the offline gate, tests)."""
    token = _override.set((dict(config), set(secret_keys)))
    try:
        yield
    finally:
        _override.reset(token)


def _stack_file(stack: str) -> Path | None:
    for directory in (Path.cwd().parent, Path.cwd()):
        candidate = directory / f"Pulumi.{stack}.yaml"
        if (directory / "Pulumi.yaml").is_file() and candidate.is_file():
            return candidate
    return None


def engine_stack_config() -> StackConfig | None:
    """The config the program reads (PULUMI_CONFIG) and which keys are secret (from the stack
    file's `secure:` values; keys not in the file count as secret unless the program requires
    them plain). None when neither is available."""
    stack = os.environ.get("PULUMI_STACK", "").rsplit("/", 1)[-1]
    file_values: dict[str, Any] = {}
    file_secrets: set[str] = set()
    path = _stack_file(stack) if stack else None
    if path is not None:
        document = yaml.safe_load(path.read_text()) or {}
        for key, value in (document.get("config") or {}).items():
            if isinstance(value, dict) and set(value) == {"secure"}:
                file_secrets.add(key)
            else:
                file_values[key] = value
    try:
        engine = json.loads(os.environ.get("PULUMI_CONFIG") or "{}")
    except json.JSONDecodeError:
        engine = {}
    if not engine and path is None:
        return None
    values: dict[str, Any] = {**file_values, **engine}
    secret = set(file_secrets)
    for key in engine:
        if key not in file_values and key not in file_secrets and key not in WEBSTACK_PLAIN_KEYS:
            secret.add(key)  # from an ESC environment or set elsewhere: cannot tell, do not judge
    return values, secret


# What the engine said in its ConfigureStack call: the config and which keys are secret.
_configured: StackConfig | None = None


def capture_configure_stack() -> None:
    """Keep the stack config the engine sends the pack when it starts.

    Engines of v3.2xx hand an analyzer the stack's config and secret keys only in the
    ConfigureStack call (no PULUMI_CONFIG in its environment), and pulumi-policy 1.21
    reads just the tags from it; wrapping its servicer's handler keeps the rest.
    """
    from pulumi_policy import policy as pulumi_policy_internals

    servicer = pulumi_policy_internals._PolicyAnalyzerServicer
    original = servicer.ConfigureStack

    def configure_stack(self: Any, request: Any, context: Any) -> Any:
        global _configured
        _configured = (dict(request.config), set(request.config_secret_keys))
        return original(self, request, context)

    setattr(servicer, "ConfigureStack", configure_stack)  # noqa: B010 (replacing a method on purpose)


def current_stack_config() -> StackConfig | None:
    override = _override.get()
    if override is not None:
        return override
    return _configured if _configured is not None else engine_stack_config()
