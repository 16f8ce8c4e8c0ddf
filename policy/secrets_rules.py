"""Secret handling: no weak or placeholder secrets, Redis behind a password, no default
Grafana admin, no secrets in plain stack config."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, StackValidationArgs

from .common import (
    Schema,
    as_dict,
    as_int,
    env_complete,
    is_reference,
    is_secret_name,
    is_unknown,
    parse_env,
    plain,
    settings,
    subject,
    url_password,
    weakness,
)
from .containers import CONTAINER, command_args, labels, role, uploads
from .stack_config import current_stack_config, fix_for, plaintext_secret_findings

COMMAND_TYPES = frozenset({"command:remote:Command", "command:local:Command"})
RANDOM_PASSWORD_TYPES = frozenset(
    {"random:index/randomPassword:RandomPassword", "random:index/randomString:RandomString"}
)
K8S_SECRET = "kubernetes:core/v1:Secret"

WEAK_SCHEMA: Schema = {
    "minLength": {
        "type": "integer",
        "minimum": 1,
        "default": 16,
        "description": "Shortest acceptable secret value (and pulumi_random password length).",
    },
    "extraWeakValues": {
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "description": "More values to refuse as secrets (e.g. ones that leaked).",
    },
}

_SCRIPT_ASSIGN = re.compile(r"(?:^|[\s;&|(])(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|'[^']*'|[^\s;&|]+)")
# A flag's value: after "=", anything; after a space, not another flag (`--no-auth-warning -a`).
_SCRIPT_FLAG = re.compile(r"(?:^|\s)--([A-Za-z][\w.-]*)(?:=|\s+(?!-))(\"[^\"]*\"|'[^']*'|[^\s;&|]+)")
_SCRIPT_REDIS = re.compile(r"\b(requirepass|masterauth)\s+(\"[^\"]*\"|'[^']*'|\S+)")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _argument_secrets(args: list[str]) -> Iterator[tuple[str, str]]:
    """(name, value) of secrets passed on a command line: --password=x, --token x, KEY=x,
    and the same inside `sh -c` scripts (requirepass x). References ($VAR, %s) are skipped."""
    for index, token in enumerate(args):
        if re.search(r"\s", token):  # a script (sh -c "..."): scan it
            for pattern in (_SCRIPT_ASSIGN, _SCRIPT_FLAG, _SCRIPT_REDIS):
                for match in pattern.finditer(token):
                    name, value = match.group(1), _unquote(match.group(2))
                    # `--no-password >&2`: a switch that takes no value, then a redirection.
                    if name.startswith("no-") or value.startswith((">", "<")):
                        continue
                    if (is_secret_name(name) or name in ("requirepass", "masterauth")) and not is_reference(value):
                        yield name, value
            continue
        if token.startswith("-"):
            name, sep, value = token.lstrip("-").partition("=")
            if not is_secret_name(name):
                continue
            if not sep and index + 1 < len(args) and not args[index + 1].startswith("-"):
                value = args[index + 1]
            elif not sep:
                continue
            if not is_reference(value):
                yield name, value
        elif "=" in token:
            name, _, value = token.partition("=")
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and is_secret_name(name) and not is_reference(value):
                yield name, value


def _findings(resource_type: str, props: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, value) of each secret value the resource carries."""
    if resource_type == CONTAINER:
        for key, value in parse_env(props.get("envs")).items():
            if not isinstance(value, str):
                continue
            if is_secret_name(key):
                yield f"env {key}", value
            password = url_password(value)
            if password is not None:
                yield f"the password in the URL of env {key}", password
        for key, value in labels(props).items():
            if isinstance(value, str) and is_secret_name(key):
                yield f"label {key}", value
        for name, value in _argument_secrets(command_args(props)):
            yield f"command argument {name}", value
    elif resource_type in COMMAND_TYPES:
        for key, value in as_dict(props.get("environment")).items():
            if isinstance(value, str) and is_secret_name(key):
                yield f"environment {key}", value
    elif resource_type == K8S_SECRET:
        for key, value in as_dict(props.get("stringData")).items():
            if isinstance(value, str):
                yield f"stringData.{key}", value
        for key, value in as_dict(props.get("data")).items():
            if isinstance(value, str):
                try:
                    yield f"data.{key}", base64.b64decode(value, validate=True).decode("utf-8", "replace")
                except ValueError:
                    continue


def no_weak_secrets(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """No secret-named env var, label or command argument (PASSWORD, SECRET, TOKEN, ..._KEY, DSN,
    ..._AUTH, a URL's password) carries a placeholder, an example from the seeds, a default or a
    value under 16 characters; generated passwords are at least as long."""
    cfg = settings(args.get_config(), WEAK_SCHEMA)
    min_length, extra = int(cfg["minLength"]), [str(v) for v in cfg["extraWeakValues"]]
    props = plain(args.props)
    who = subject(args.resource_type, args.name)
    if args.resource_type in RANDOM_PASSWORD_TYPES:
        length = as_int(props.get("length"))
        if length is not None and length < min_length:
            report_violation(
                f"{who}: generates a {length}-character secret (at least {min_length} required); fix: length >= {min_length}.",
                None,
            )
        return
    for where, value in _findings(args.resource_type, props):
        if is_unknown(value):
            continue
        reason = weakness(value, min_length=min_length, extra_weak=extra)
        if reason:
            report_violation(
                f"{who}: {where} {reason}; fix: a generated secret (secretEnv {{generate: 64}}, pulumi_random) or "
                "one set with `pulumi config set --secret` — never a placeholder, an example or a default.",
                None,
            )


# --- Redis -------------------------------------------------------------------------------------------

_REQUIREPASS_LITERAL = re.compile(r"-?-?requirepass\s+([^\s%$\"'][^\s\"']*|\"[^\"$%][^\"]*\"|'[^'$%][^']*')")
_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def _requirepass_problem(props: Mapping[str, Any]) -> str | None:
    """Why a Redis (or Sentinel) container may run without a password, or None."""
    script = " ".join(command_args(props))
    env = parse_env(props.get("envs"))
    if re.search(r"requirepass", script):
        if _REQUIREPASS_LITERAL.search(script):
            return None  # a literal password (its strength is no-weak-secrets' business)
        if re.search(r"requirepass\s+(\"\"|'')", script):
            return "sets an empty requirepass"
        variables = [v for v in _VAR.findall(script) if is_secret_name(v)]
        if not variables:
            return "sets requirepass from no password variable"
        for variable in variables:
            value = env.get(variable)
            if is_unknown(value) or (value is None and not env_complete(props.get("envs"))):
                return None
            if not value:
                return f"takes requirepass from ${variable}, which the container's env does not set"
        return None
    for path, content in uploads(props).items():
        if is_unknown(content):
            return None
        if isinstance(content, str) and path.endswith(".conf"):
            match = re.search(r"^\s*requirepass\s+(\S+)", content, re.MULTILINE)
            if match and match.group(1) not in ('""', "''"):
                return None
    return "runs without requirepass (any client on its network reads and writes every key)"


def redis_requires_password(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Every Redis server and Sentinel requires a password (requirepass from a secret env var,
    or in its config file)."""
    if args.resource_type != CONTAINER:
        return
    props = plain(args.props)
    if role(props, args.name) not in ("redis", "redis-sentinel"):
        return
    problem = _requirepass_problem(props)
    if problem:
        report_violation(
            f"{subject(args.resource_type, args.name)}: Redis {problem}; fix: start it with "
            "`requirepass` from a generated secret passed in the env (REDIS_PASSWORD), as RedisCache does.",
            None,
        )


# --- Grafana -----------------------------------------------------------------------------------------

GRAFANA_DEFAULTS = frozenset({"admin", "grafana", "password", "prom-operator"})


def grafana_admin_password(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Grafana's admin password is set (GF_SECURITY_ADMIN_PASSWORD or its __FILE form) and is not
    a default: without it Grafana starts with admin/admin."""
    if args.resource_type != CONTAINER:
        return
    props = plain(args.props)
    if role(props, args.name) != "grafana":
        return
    env = parse_env(props.get("envs"))
    who = subject(args.resource_type, args.name)
    fix = "fix: GF_SECURITY_ADMIN_PASSWORD from a generated secret (MonitoringStack's random password)."
    if "GF_SECURITY_ADMIN_PASSWORD__FILE" in env:
        return
    value = env.get("GF_SECURITY_ADMIN_PASSWORD")
    if is_unknown(value) or (value is None and not env_complete(props.get("envs"))):
        return
    if value is None:
        report_violation(
            f"{who}: Grafana has no GF_SECURITY_ADMIN_PASSWORD, so its admin logs in with admin/admin; {fix}", None
        )
    elif value.strip().lower() in GRAFANA_DEFAULTS or weakness(value, min_length=16) is not None:
        report_violation(f"{who}: Grafana's admin password is a default or weak value; {fix}", None)


# --- stack config ------------------------------------------------------------------------------------


def stack_config_no_plaintext_secrets(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """No secret value sits in plain stack config: secret-named keys (top-level or nested, e.g. a
    JWT_SECRET in a service's plain env), URLs with passwords, private keys and API tokens must be
    set with `pulumi config set --secret`."""
    source = current_stack_config()
    if source is None:
        return
    config, secret_keys = source
    for finding in plaintext_secret_findings(config, secret_keys):
        report_violation(f"stack config: {finding}; fix: {fix_for(finding)}.", None)
