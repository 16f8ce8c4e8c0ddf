#!/usr/bin/env bash
# The edge benchmark (see bench/edge/__main__.py and the README's "Edge benchmark").
# Needs Debian's nginx-light, wrk and openssl, and the venv (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec ./venv/bin/python -m bench.edge "$@"
