"""PostgreSQL (webstack:postgres): its passwords, and a standby in production.

The ports (5432, 6432, 9187) are internal ports like Redis': `internal-services-not-public`
refuses them on a public interface (policy/containers.py lists them and the roles).

What "generated or secret" can mean to a policy: the engine hands policies every value in
plaintext, and nothing in a container's props says where a value came from. So a PostgreSQL
password passes when it looks like what pulumi_random generates (long, varied, no
placeholder), lives only in the container's environment (never in its command, files or
labels, which end up in `docker inspect` and the image of the files), and is not the value
of a plain (non-secret) stack config key.
"""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import ReportViolation, StackValidationArgs

from .common import (
    ENVIRONMENT_SCHEMA,
    Schema,
    as_dict,
    as_list,
    is_unknown,
    parse_env,
    plain,
    settings,
    stack_environment,
    subject,
    url_password,
    weakness,
)
from .containers import CONTAINER, command_args, container_name, role
from .stack_config import current_stack_config

PASSWORDS_SCHEMA: Schema = {
    "minLength": {
        "type": "integer",
        "minimum": 16,
        "default": 32,
        "description": "Least length of a PostgreSQL password (the component generates 40 letters and digits).",
    },
}
STANDBY_SCHEMA: Schema = dict(ENVIRONMENT_SCHEMA)

# The environment variables the start scripts read (components/render/postgres.py env_names).
_PASSWORD_ENV = re.compile(r"^POSTGRES_(REPLICATION_PASSWORD|EXPORTER_PASSWORD|PASSWORD_[A-Z0-9_]+|PASSWORD)$")
_URL_ENV = re.compile(r"^(DATABASE_URL|DATABASE_REPLICA_URL|DATA_SOURCE_NAME)$")
_PRIMARY_SCRIPT = "webstack-postgres-primary"
_STANDBY_SCRIPT = "webstack-postgres-standby"


def _plain_config_values() -> set[str]:
    """Values of the stack's plain (non-secret) config keys, flattened."""
    source = current_stack_config()
    if source is None:
        return set()
    config, secret_keys = source
    values: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            values.add(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for key, value in config.items():
        if key not in secret_keys:
            walk(value)
    return values


def _elsewhere(props: dict[str, Any]) -> str:
    """A container's text outside its environment: command, uploaded files, labels."""
    parts = list(command_args(props))
    for upload in as_list(props.get("uploads")):
        content = as_dict(upload).get("content")
        if isinstance(content, str):
            parts.append(content)
    for label in as_list(props.get("labels")):
        value = as_dict(label).get("value")
        if isinstance(value, str):
            parts.append(value)
    return "\n".join(parts)


def _passwords(props: dict[str, Any], database_role: bool) -> list[tuple[str, Any]]:
    """(where, value) of each PostgreSQL password in a container's env."""
    found: list[tuple[str, Any]] = []
    for name, value in parse_env(props.get("envs")).items():
        if database_role and _PASSWORD_ENV.match(name):
            found.append((name, value))
        elif _URL_ENV.match(name) and isinstance(value, str) and value.startswith(("postgres://", "postgresql://")):
            found.append((f"{name} (its password)", url_password(value) or ""))
    return found


def postgres_passwords(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Every PostgreSQL password (the roles' in the database's and PgBouncer's env, the one in a
    postgres:// URL any container gets) is generated or secret: long and varied like a generated
    one, only in the container's environment (not its command, files or labels), and not a
    plain stack config value."""
    cfg = settings(args.get_config(), PASSWORDS_SCHEMA)
    plain_values = _plain_config_values()
    for resource in args.resources:
        if resource.resource_type != CONTAINER:
            continue
        props = plain(resource.props)
        what = role(props, resource.name)
        who = subject(resource.resource_type, resource.name)
        elsewhere = _elsewhere(props)
        for where, value in _passwords(props, what in ("postgres", "pgbouncer")):
            if is_unknown(value):
                continue
            fix = (
                "fix: let PostgresCluster generate it (pulumi_random) and pass it in the environment only, "
                "or set it with `pulumi config set --secret`"
            )
            problem = weakness(str(value), min_length=int(cfg["minLength"]))
            if problem:
                report_violation(f"{who}: PostgreSQL password {where} {problem}; {fix}.", None)
            elif str(value) in elsewhere:
                report_violation(
                    f"{who}: PostgreSQL password {where} is also written in the container's command, files or "
                    f"labels ({container_name(props, resource.name)}); {fix}.",
                    None,
                )
            elif str(value) in plain_values:
                report_violation(
                    f"{who}: PostgreSQL password {where} is a plain (non-secret) stack config value; {fix}.", None
                )


def production_postgres_standby(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """A stack (production by default: configurable) that runs a PostgreSQL primary also runs a
    hot standby streaming from it (webstack:postgres standbyHost), so the loss of the primary's
    host is a switchover, not a restore."""
    cfg = settings(args.get_config(), STANDBY_SCHEMA)
    containers = [(r, plain(r.props)) for r in args.resources if r.resource_type == CONTAINER]
    environment = stack_environment(cfg.get("environment"), [(r.resource_type, p) for r, p in containers])
    if environment not in cfg["environments"]:
        return
    scripts = [" ".join(command_args(p)) for r, p in containers if role(p, r.name) == "postgres"]
    if any(_PRIMARY_SCRIPT in s for s in scripts) and not any(_STANDBY_SCRIPT in s for s in scripts):
        report_violation(
            f"{environment}: PostgreSQL runs a primary without a hot standby, so losing its host means a restore "
            "from the last backup; fix: webstack:postgres.standbyHost (another host), or take this environment "
            "out of the policy's `environments` in policy/config/<stack>.json.",
            None,
        )
