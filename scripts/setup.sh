#!/usr/bin/env bash
# Set up a fresh Debian machine for webstack: the servers the tests run for real
# (from Debian's packages) and the Python virtualenv with the pinned requirements.
# Idempotent; run as root (or with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# nginx, promtool/amtool, restic, PostgreSQL (with PgBouncer and the postgres exporter),
# Redis and shellcheck: the rendered configs and scripts are tested on these real servers; syslog-ng
# with its HTTP destination ships logs to VictoriaLogs (docs/logs.md; the store is built from Go);
# chromium-headless-shell renders the log UI for its screenshot test (tools/browser.py).
packages=(nginx-light wrk prometheus prometheus-alertmanager restic postgresql pgbouncer prometheus-postgres-exporter redis-server redis-tools shellcheck openssl python3-venv python3-redis python3-psycopg2 syslog-ng-core syslog-ng-mod-http chromium-headless-shell)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -x venv/bin/python ]; then
  python3 -m venv venv
fi
venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
echo "setup: done" >&2
