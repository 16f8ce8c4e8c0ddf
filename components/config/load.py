"""Loading: the raw `webstack:*` key/value map to a validated `StackConfig`, or one `ConfigError`.

Pure: no Pulumi import, and nothing of components.capacity: further checks (the capacity
check) are passed in by components/load.py, the stack's loader. `load_stack_config` decodes the
values the engine hands over, validates each concern's keys (pydantic's errors translated to
one problem per key, naming what is allowed), runs the checks across concerns
(components/config/checks.py) and the given checks, and checks the secret keys: set as
secrets, known or required, present (or a placeholder offline), PEM where PEM is due.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, SecretStr, ValidationError

from components.config.base import NAMESPACE, ConfigError, Problem
from components.config.checks import stack_problems
from components.config.stack import KNOWN_SECRETS, StackConfig
from components.config.values import decode_config_value

# A check run once the config is valid and its references hold: (full key, detail) pairs.
StackCheck = Callable[[StackConfig], Iterable[tuple[str, str]]]

TOP_LEVEL_KEYS = tuple((field.alias or name) for name, field in StackConfig.model_fields.items() if name != "secrets")


def placeholder_secret(stack: str, key: str) -> str:
    """A stand-in for a secret that cannot be read offline (not set, or encrypted)."""
    digest = hashlib.sha256(f"webstack-offline:{stack}:{key}".encode()).hexdigest()
    return f"offline-placeholder-{digest[:40]}"


def load_stack_config(
    stack: str,
    raw: Mapping[str, Any],
    secret_keys: Collection[str],
    *,
    placeholder_secrets: bool = False,
    checks: Sequence[StackCheck] = (),
) -> StackConfig:
    """Validate the `webstack:*` config of one stack.

    `raw` maps full keys ("webstack:hosts") to values as the engine passes them (strings,
    structured values JSON-encoded) or as YAML gives them. Keys of other namespaces
    (provider config such as `docker:host`) are left alone. With `placeholder_secrets`
    (the offline plan), secrets that are required but not readable get a placeholder.
    `checks` run once the config is valid and its references hold (each returns (key,
    detail) pairs): components/load.py passes the capacity check, whether it fits its hosts.
    """
    problems: list[Problem] = []
    plain: dict[str, Any] = {}
    secret_values: dict[str, str] = {}
    for full_key, value in raw.items():
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:
            continue
        if key in TOP_LEVEL_KEYS:
            if full_key in secret_keys:
                problems.append(Problem(full_key, "is set as a secret; allowed: a plain value"))
            plain[key] = decode_config_value(value)
        else:
            secret_values[key] = value if isinstance(value, str) else json.dumps(value)

    try:
        config = StackConfig.model_validate(plain)
    except ValidationError as err:
        problems += [_problem(e) for e in err.errors()]
        raise ConfigError(stack, problems) from None

    problems += stack_problems(config)
    if not problems:  # placed on hosts that all exist: does it fit them (the checks given)?
        for check in checks:
            problems += [Problem(key, detail) for key, detail in check(config)]
    required = config.required_secrets()
    for key in secret_values:
        full_key = f"{NAMESPACE}:{key}"
        if key not in required and key not in KNOWN_SECRETS:
            allowed = ", ".join(sorted({*TOP_LEVEL_KEYS, *KNOWN_SECRETS, *required}))
            problems.append(Problem(full_key, f"unknown key; allowed keys: {allowed}"))
        elif full_key not in secret_keys:
            problems.append(
                Problem(
                    full_key,
                    "holds a plaintext value; allowed: a secret, set with "
                    f"`pulumi config set --secret {full_key} <value> --stack {stack}`",
                )
            )
    for key, reason in required.items():
        if key not in secret_values:
            if placeholder_secrets:
                secret_values[key] = placeholder_secret(stack, key)
            else:
                problems.append(
                    Problem(
                        f"{NAMESPACE}:{key}",
                        f"missing; required ({reason}); set it with "
                        f"`pulumi config set --secret {NAMESPACE}:{key} <value> --stack {stack}`",
                    )
                )
    problems += _check_pem_secrets(secret_values, placeholder_secrets=placeholder_secrets)
    if problems:
        raise ConfigError(stack, problems)
    return config.model_copy(update={"secrets": {k: SecretStr(v) for k, v in secret_values.items()}})


# Secrets that must hold PEM text, and the block each must contain.
_PEM_SECRETS = {
    "tlsCertificate": ("CERTIFICATE",),
    "tlsPrivateKey": ("PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"),
}


def _check_pem_secrets(values: Mapping[str, str], *, placeholder_secrets: bool) -> list[Problem]:
    problems: list[Problem] = []
    for key, kinds in _PEM_SECRETS.items():
        value = values.get(key)
        if value is None or (placeholder_secrets and value.startswith("offline-placeholder-")):
            continue
        if not any(f"-----BEGIN {kind}-----" in value and f"-----END {kind}-----" in value for kind in kinds):
            wanted = " or ".join(f"'-----BEGIN {kind}-----'" for kind in kinds)
            problems.append(Problem(f"{NAMESPACE}:{key}", f"not PEM text; allowed: a PEM block {wanted} ... END"))
    return problems


def _key(loc: tuple[int | str, ...]) -> str:
    key = NAMESPACE + ":"
    for i, part in enumerate(loc):
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += part if i == 0 else f".{part}"
    return key


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed at a config path, for 'unknown key' messages."""
    model: Any = StackConfig
    for part in loc:
        if isinstance(model, type) and issubclass(model, BaseModel):
            field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
            if field is None:
                return []
            model = _strip(field.annotation)
        elif get_origin(model) in (list, dict):  # `part` is an index or a map key
            model = _strip(get_args(model)[-1])
        else:
            return []
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or n for n, f in model.model_fields.items() if n != "secrets"]
    return []


def _strip(annotation: Any) -> Any:
    """Strip Annotated[...] and Optional[...] from a field's type."""
    while True:
        args = get_args(annotation)
        if get_origin(annotation) is Annotated:
            annotation = args[0]
        elif args and type(None) in args:
            annotation = next(a for a in args if a is not type(None))
        else:
            return annotation


def _problem(error: Any) -> Problem:
    loc = tuple(error["loc"])
    kind = error["type"]
    ctx = error.get("ctx", {})
    got = error.get("input")
    if kind == "extra_forbidden":
        allowed = ", ".join(_fields_at(loc[:-1]))
        return Problem(_key(loc), f"unknown key; allowed keys: {allowed}")
    if kind == "missing":
        return Problem(_key(loc), "missing; this key is required")
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[kind]
        limit = next(iter(ctx.values()))
        return Problem(_key(loc), f"got {got!r}; allowed: a number {bound} {limit}")
    if kind == "literal_error":
        return Problem(_key(loc), f"got {got!r}; allowed: {ctx.get('expected')}")
    if kind == "string_pattern_mismatch":
        return Problem(_key(loc), f"got {got!r}; allowed: text matching {ctx.get('pattern')}")
    if kind in ("too_short", "too_long"):
        return Problem(_key(loc), f"got {_short(got)}; allowed: {error['msg'].lower()}")
    expected = {
        "int_parsing": "an integer",
        "int_type": "an integer",
        "int_from_float": "an integer",
        "float_parsing": "a number",
        "float_type": "a number",
        "bool_parsing": "true or false",
        "bool_type": "true or false",
        "string_type": "text",
        "list_type": "a list",
        "dict_type": "a map of keys to values",
    }.get(kind)
    if kind == "model_type" or kind == "model_attributes_type":
        expected = "an object with keys: " + ", ".join(_fields_at(loc))
    if expected is not None:
        return Problem(_key(loc), f"got {_short(got)}; allowed: {expected}")
    if kind == "value_error":
        reason = str(ctx.get("error", error["msg"]))
        return Problem(_key(loc), f"got {_short(got)}; allowed: {reason}")
    return Problem(_key(loc), f"got {_short(got)}; allowed: {error['msg'].lower()}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
