"""Helpers every policy module shares: plain props, config settings, naming, secrets, containers.

Under the engine a policy gets its resource's properties with engine (camelCase) names,
secrets in plaintext, numbers as floats, and values that are not known yet during a
preview as sentinels behind a proxy that raises on access. `plain` turns such props into
ordinary dicts and lists with `UNKNOWN` in place of each unknown value, so a policy can
skip what it cannot judge yet instead of failing.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import unquote

from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)
from pulumi_policy.secret import Secret as PolicySecret

# --- unknown values and plain props ------------------------------------------------------


class _Unknown:
    """A value the engine does not know yet (a preview of an output of another resource)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()

_SENTINELS = frozenset(
    {
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_STRING_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_OBJECT_VALUE,
    }
)


def is_unknown(value: Any) -> bool:
    return value is UNKNOWN


def plain(value: Any) -> Any:
    """Props (or any part) as plain dicts and lists, unknown values replaced by UNKNOWN."""
    if isinstance(value, PolicySecret):
        return plain(value.value)
    if isinstance(value, str):
        return UNKNOWN if value in _SENTINELS else value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in value:
            try:
                item = value[key]
            except UnknownValueError:
                out[key] = UNKNOWN
                continue
            out[key] = plain(item)
        return out
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                item = value[index]
            except UnknownValueError:
                items.append(UNKNOWN)
                continue
            items.append(plain(item))
        return items
    return value


def as_int(value: Any) -> int | None:
    """A whole number from props or config (the engine hands numbers over as floats)."""
    if isinstance(value, bool) or value is None or is_unknown(value):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


# --- policy config -------------------------------------------------------------------------

Schema = dict[str, dict[str, Any]]


def settings(config: Mapping[str, Any], schema: Schema) -> dict[str, Any]:
    """The policy's config: the schema's defaults, overridden by what the pack config sets.

    The Pulumi CLI fills in schema defaults itself; this keeps a policy right when it is
    called without them (the offline gate, tests). Integers come back as int.
    """
    merged: dict[str, Any] = {key: spec.get("default") for key, spec in schema.items()}
    for key, value in plain(config).items():
        if key in schema and value is not None:
            merged[key] = value
    for key, spec in schema.items():
        if spec.get("type") == "integer":
            number = as_int(merged[key])
            merged[key] = number if number is not None else spec.get("default")
    return merged


ENVIRONMENT_SCHEMA: Schema = {
    "environment": {
        "type": "string",
        "enum": ["local", "staging", "production"],
        "description": "The stack's environment; when unset, read from the WEBSTACK_ENVIRONMENT env of the "
        "app containers, then from the stack name (PULUMI_STACK). Unknown means production.",
    },
    "environments": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["production"],
        "description": "The environments this policy applies to.",
    },
}


# --- naming ---------------------------------------------------------------------------------


def subject(resource_type: str, name: str) -> str:
    """How a violation names a resource: its type token and its Pulumi name."""
    return f"{resource_type} '{name}'"


# --- secrets ----------------------------------------------------------------------------------

_STRONG_TOKENS = frozenset(
    {
        "PASSWORD",
        "PASSWORDS",
        "PASSWD",
        "PWD",
        "PASSPHRASE",
        "SECRET",
        "SECRETS",
        "TOKEN",
        "TOKENS",
        "APIKEY",
        "DSN",
        "CREDENTIAL",
        "CREDENTIALS",
    }
)
_WEAK_TOKENS = frozenset({"KEY", "KEYS", "AUTH", "PASS"})
# A name ending in one of these describes a secret (its file, its lifetime, its id), it is not one.
_NOT_A_VALUE_SUFFIXES = frozenset(
    {
        "FILE",
        "PATH",
        "DIR",
        "EXPIRES",
        "EXPIRY",
        "IN",
        "TTL",
        "TIMEOUT",
        "LENGTH",
        "ENABLED",
        "DISABLED",
        "NAME",
        "TYPE",
        "ALGORITHM",
        "ALG",
        "ID",
        "PREFIX",
        "HEADER",
        "MODE",
        "DAYS",
        "HOURS",
        "MINUTES",
        "SECONDS",
        "SIZE",
        "COUNT",
        "URL",
        "URI",
        "HOST",
        "PORT",
        "LOCAL",  # initdb's --auth-local (like --auth-host) names a method: peer, scram-sha-256
    }
)


def name_tokens(name: str) -> list[str]:
    """`RESEND_API_KEY`, `webstack.api-token`, `sshPrivateKey` -> upper-case words."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return [t.upper() for t in re.split(r"[^A-Za-z0-9]+", spaced) if t]


def is_secret_name(name: str) -> bool:
    """True for names that carry a secret value: PASSWORD, SECRET, TOKEN, ..._KEY, DSN, ..._AUTH."""
    tokens = name_tokens(name)
    if not tokens or tokens[-1] in _NOT_A_VALUE_SUFFIXES:
        return False
    return any(t in _STRONG_TOKENS for t in tokens) or any(t in _WEAK_TOKENS for t in tokens)


# The seeds' example values (the user's notes): copied into a real deployment, they are secrets
# everyone knows.
SEED_EXAMPLE_VALUES: Final = frozenset(
    {
        "your-super-secure-jwt-secret-key-here",
        "rzp_live_your_key_id",
        "your_live_key_secret",
        "re_your_resend_api_key",
        "your_redis_password",
        "your_sentry_dsn",
        "username:password",
        "<generate-strong-password-64-chars>",
        "<generate-64-char-random-string>",
        "<password>",
        "<secret>",
        "<redis-password>",
        "<database-password>",
        "<private-ssh-key>",
    }
)

COMMON_WEAK_VALUES: Final = frozenset(
    {
        "password",
        "passw0rd",
        "password1",
        "password123",
        "secret",
        "changeme",
        "changeit",
        "admin",
        "administrator",
        "root",
        "toor",
        "test",
        "testing",
        "default",
        "letmein",
        "welcome",
        "qwerty",
        "123456",
        "12345678",
        "123456789",
        "redis",
        "postgres",
        "guest",
        "token",
        "none",
        "null",
        "undefined",
    }
)

_PLACEHOLDER_RES = (
    re.compile(r"^<[^<>]*>$"),  # <generate-64-char-random-string>
    re.compile(r"^\$\{[^}]*\}$"),  # ${JWT_SECRET}: never expanded inside a container's env
    re.compile(r"^\{\{.*\}\}$"),  # {{ template }}
    re.compile(r"(^|[^a-z])your[-_ ]", re.IGNORECASE),  # your-..., your_..., re_your_...
    re.compile(r"change[-_ ]?(me|it|this)", re.IGNORECASE),
    re.compile(r"replace[-_ ]?(me|this)", re.IGNORECASE),
    re.compile(r"^(x+|\*+|\.+|-+|0+)$", re.IGNORECASE),
    re.compile(r"^(todo|tbd|fixme|placeholder|example|sample|dummy|fake)([-_ ].*)?$", re.IGNORECASE),
)
# The offline gate's stand-in for a secret that is set but cannot be decrypted offline
# (`webstack-offline:<stack>:<key>` hashed): under the engine the real value is there instead.
_OFFLINE_STAND_IN = re.compile(r"^offline-placeholder-[0-9a-f]{40}$")
_URL_CREDENTIALS = re.compile(r"[a-z][a-z0-9+.-]*://([^/@\s]*)@", re.IGNORECASE)


def is_reference(value: str) -> bool:
    """A shell or printf reference (`$REDIS_PASSWORD`, `"$X"`, `%s`), not a value."""
    stripped = value.strip().strip("'\"")
    return stripped.startswith(("$", "%"))


def weakness(value: str, *, min_length: int, extra_weak: Iterable[str] = ()) -> str | None:
    """Why a secret value is a placeholder or weak, or None when it is fine. Never echoes it."""
    if _OFFLINE_STAND_IN.match(value):
        return None
    lowered = value.strip().lower()
    if not lowered:
        return "is empty"
    if lowered in SEED_EXAMPLE_VALUES or lowered in {v.lower() for v in extra_weak}:
        return "is an example value from the seeds (publicly known)"
    if lowered in COMMON_WEAK_VALUES:
        return "is a well-known default password"
    for pattern in _PLACEHOLDER_RES:
        if pattern.search(value.strip()):
            return "is a placeholder, not a real secret"
    if len(value) < min_length:
        return f"is {len(value)} characters long (at least {min_length} required)"
    if len(set(value)) <= 4:
        return "has almost no variety of characters"
    return None


def url_password(value: str) -> str | None:
    """The password of a URL with credentials (`scheme://user:pass@host`, also inside a
    restic `rest:https://...`), else None (no URL, or a user without a password)."""
    match = _URL_CREDENTIALS.search(value.strip())
    if not match:
        return None
    userinfo = match.group(1)
    if ":" not in userinfo:
        return None
    return unquote(userinfo.split(":", 1)[1])


def env_complete(envs: Any) -> bool:
    """False when the env list, or an entry of it, is not known yet (a preview)."""
    return not is_unknown(envs) and not any(is_unknown(item) for item in as_list(envs))


def parse_env(envs: Any) -> dict[str, Any]:
    """Docker `envs` (["KEY=VALUE", ...]) as a map; unknown entries are left out."""
    out: dict[str, Any] = {}
    for item in as_list(envs):
        if isinstance(item, str) and "=" in item:
            key, _, value = item.partition("=")
            out[key] = value
    return out


# --- environment of a stack ------------------------------------------------------------------

ENVIRONMENTS = ("local", "staging", "production")
CONTAINER = "docker:index/container:Container"


def stack_environment(configured: Any, resources: Iterable[tuple[str, Mapping[str, Any]]]) -> str:
    """The stack's environment: policy config, else the app containers' WEBSTACK_ENVIRONMENT,
    else the stack name the engine runs (PULUMI_STACK); production when none tells."""
    if isinstance(configured, str) and configured in ENVIRONMENTS:
        return configured
    for resource_type, props in resources:
        if resource_type == CONTAINER:
            value = parse_env(props.get("envs")).get("WEBSTACK_ENVIRONMENT")
            if isinstance(value, str) and value in ENVIRONMENTS:
                return value
    stack = os.environ.get("PULUMI_STACK", "")
    if stack in ENVIRONMENTS:
        return stack
    return "production"


# --- addresses -------------------------------------------------------------------------------


# Private networks (RFC 1918, carrier-grade NAT, IPv6 unique-local), loopback and link-local.
# Not `ipaddress.is_private`, which also counts documentation ranges (203.0.113.0/24...) as private.
PRIVATE_NETWORKS: Final = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "fc00::/7",
        "::1/128",
        "fe80::/10",
    )
)


def _private(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    return any(network.version == p.version and network.subnet_of(p) for p in PRIVATE_NETWORKS)  # type: ignore[arg-type]


def is_public_bind(ip: Any) -> bool:
    """True when a published port listens on a public interface: all interfaces (no ip,
    0.0.0.0, ::) or an address outside the private, loopback and link-local networks."""
    if not isinstance(ip, str) or ip.strip() in ("", "*"):
        return True
    try:
        address = ipaddress.ip_address(ip.strip().strip("[]"))
    except ValueError:
        return True
    if address.is_unspecified:
        return True
    return not _private(ipaddress.ip_network(address))


def is_private_address(value: str) -> bool:
    """True for an address or network inside the private, loopback and link-local networks."""
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return False
    return _private(network)
