#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine, for the `local` stack and the image
# tests. Idempotent:
#   - `docker info` works already: nothing to do;
#   - otherwise install Debian's docker.io when dockerd is missing (apt-get, as root),
#     start dockerd in the background (log: $WEBSTACK_DOCKERD_LOG) and wait until
#     `docker info` answers, for at most $WEBSTACK_DOCKERD_TIMEOUT seconds.
# Exit status: 0 when the engine answers, 1 otherwise (with the reason and the log's tail).
set -euo pipefail

LOG_FILE=${WEBSTACK_DOCKERD_LOG:-/var/log/dockerd-webstack.log}
TIMEOUT=${WEBSTACK_DOCKERD_TIMEOUT:-60}

say() {
  printf 'docker-engine: %s\n' "$*" >&2
}

die() {
  say "ERROR: $*"
  exit 1
}

# pids of running dockerd processes (procps' pgrep when present, else /proc).
dockerd_pids() {
  if command -v pgrep >/dev/null 2>&1; then
    pgrep -x dockerd || true
  else
    local comm
    for comm in /proc/[0-9]*/comm; do
      [[ "$(cat "$comm" 2>/dev/null)" == dockerd ]] && basename "$(dirname "$comm")"
    done
    return 0
  fi
}

engine_answers() {
  command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

if engine_answers; then
  say "the Docker engine answers already"
  exit 0
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || die "not root and no sudo: cannot install or start dockerd"
  SUDO=(sudo)
fi

if ! command -v dockerd >/dev/null 2>&1; then
  say "installing Debian's docker.io"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 \
    || die "apt-get update failed"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    docker.io iptables >&2 || die "apt-get install docker.io failed"
fi
command -v dockerd >/dev/null 2>&1 || die "dockerd is not on PATH after installing docker.io"
command -v docker >/dev/null 2>&1 || die "no docker client on PATH"

# A dockerd that runs but does not answer yet (just started by someone else) is waited
# for, not started twice: a second one would fail on the pid file and the socket.
running=$(dockerd_pids | tr '\n' ' ')
if [[ -n "${running// /}" ]]; then
  say "dockerd is running already (pid ${running% }); waiting for it to answer"
else
  # As docker.service does (LimitNOFILE=infinity): a container can only ask for up to
  # dockerd's own limit (the edge asks for nofile 65535). Best effort: a sandbox without
  # CAP_SYS_RESOURCE keeps its hard limit.
  ulimit -Hn 1048576 2>/dev/null || true
  ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
  if [[ "$(ulimit -Hn)" != unlimited ]] && (($(ulimit -Hn) < 65535)); then
    say "WARNING: the open-files limit is $(ulimit -Hn) and cannot be raised here: containers asking for more (nofile 65535) will not start"
  fi
  say "starting dockerd in the background (log: $LOG_FILE)"
  "${SUDO[@]}" mkdir -p "$(dirname "$LOG_FILE")"
  # setsid: dockerd outlives this script and the session that ran it.
  "${SUDO[@]}" setsid dockerd >>"$LOG_FILE" 2>&1 </dev/null &
fi

deadline=$((SECONDS + TIMEOUT))
until engine_answers; do
  if ((SECONDS >= deadline)); then
    say "last lines of $LOG_FILE:"
    tail -n 20 "$LOG_FILE" >&2 2>/dev/null || true
    die "the Docker engine did not answer 'docker info' within ${TIMEOUT}s"
  fi
  if [[ -z "$(dockerd_pids)" ]]; then
    say "last lines of $LOG_FILE:"
    tail -n 20 "$LOG_FILE" >&2 2>/dev/null || true
    die "dockerd exited during start-up"
  fi
  sleep 0.5
done
say "the Docker engine answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
