"""redis.conf and sentinel.conf for the cache. Pure: no Pulumi import.

Passwords are not written here: the container passes them from its secret
environment, so these files are plain config.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SENTINEL_MASTER = "webstack"


@dataclass(frozen=True)
class RedisSpec:
    port: int
    maxmemory_mb: int
    maxmemory_policy: str
    appendonly: bool
    appendfsync: str
    replica_of: str | None = None  # "address port" of the primary, for a replica


def render_redis_conf(spec: RedisSpec) -> str:
    lines = [
        f"port {spec.port}",
        "bind 0.0.0.0",
        "protected-mode yes",
        "dir /data",
        f"maxmemory {spec.maxmemory_mb}mb",
        f"maxmemory-policy {spec.maxmemory_policy}",
        f"appendonly {'yes' if spec.appendonly else 'no'}",
        f"appendfsync {spec.appendfsync}",
        "save 900 1",
        "save 300 10",
        "save 60 10000",
        "tcp-keepalive 60",
        "timeout 0",
    ]
    if spec.replica_of:
        lines += [f"replicaof {spec.replica_of}", "replica-read-only yes"]
    return "\n".join(lines) + "\n"


# Start commands: the password comes from $REDIS_PASSWORD into a file inside the
# container, so it is neither in the config files on the host nor in the process list.
REDIS_START = (
    'umask 077 && printf "requirepass %s\\nmasterauth %s\\n" "$REDIS_PASSWORD" "$REDIS_PASSWORD" > /tmp/auth.conf'
    " && exec redis-server /etc/redis/redis.conf --include /tmp/auth.conf"
)


def redis_start(*, sentinels: Sequence[str] = (), announce: str = "") -> str:
    """The start command of a node watched by Sentinels: before Redis starts, ask them which
    node is the primary now, and follow them rather than the role the stack file gave it, so
    that a host back from the dead, or a container a later `pulumi up` replaces, never
    demotes the node the Sentinels promoted. `announce` is this node's "address port"; when
    no Sentinel answers (the first deploy) the configured role stands."""
    if not sentinels:
        return REDIS_START
    # Each Sentinel's view of the primary with its config epoch; the highest epoch wins. A
    # Sentinel just restarted beside this node (its host back from the dead) starts from its
    # config file, naming the old primary at epoch 0, while the others know the failover.
    field = "awk -v k=$1 'p==k{print; exit} {p=$0}'"
    ask = (
        f'value() {{ {field}; }}; primary=""; best=-1; for s in ' + " ".join(sentinels) + "; do "
        'info=$(REDISCLI_AUTH="$REDIS_PASSWORD" timeout 3 redis-cli -h "${s%:*}" -p "${s##*:}" '
        f"sentinel master {SENTINEL_MASTER} 2>/dev/null) || continue; "
        'answer="$(echo "$info" | value ip) $(echo "$info" | value port)"; '
        'epoch=$(echo "$info" | value config-epoch); '
        "echo \"$answer\" | grep -Eqx '[0-9A-Za-z.:-]+ [0-9]+' || continue; "
        'case "$epoch" in ""|*[!0-9]*) continue ;; esac; '
        'if [ "$epoch" -gt "$best" ]; then best=$epoch; primary=$answer; fi; done; '
        'if [ -z "$primary" ]; then echo "webstack: no Sentinel answered: starting in the configured role" >&2; '
        f'elif [ "$primary" = "{announce}" ]; then echo "webstack: the Sentinels name this node primary" >&2; '
        'echo "replicaof no one" >> /tmp/auth.conf; '
        'else echo "webstack: the Sentinels name $primary primary: starting as its replica" >&2; '
        'echo "replicaof $primary" >> /tmp/auth.conf; fi'
    )
    auth, _, start = REDIS_START.partition(" && exec ")
    return f"{auth} && {{ {ask}; }} && exec {start}"


SENTINEL_START = (
    "umask 077 && cp /etc/redis/sentinel.conf /data/sentinel.conf"
    ' && printf "sentinel auth-pass %s %s\\nrequirepass %s\\n" '
    f'{SENTINEL_MASTER} "$REDIS_PASSWORD" "$REDIS_PASSWORD" >> /data/sentinel.conf'
    " && exec redis-server /data/sentinel.conf --sentinel"
)


def render_sentinel_conf(*, primary_address: str, primary_port: int, quorum: int, port: int = 26379) -> str:
    return (
        "\n".join(
            [
                f"port {port}",
                "dir /data",
                f"sentinel monitor {SENTINEL_MASTER} {primary_address} {primary_port} {quorum}",
                f"sentinel down-after-milliseconds {SENTINEL_MASTER} 5000",
                f"sentinel parallel-syncs {SENTINEL_MASTER} 1",
                f"sentinel failover-timeout {SENTINEL_MASTER} 10000",
                "sentinel resolve-hostnames yes",
            ]
        )
        + "\n"
    )
