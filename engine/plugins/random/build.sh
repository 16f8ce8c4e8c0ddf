#!/usr/bin/env bash
# Build pulumi-resource-random into OUT_DIR (or --tidy go.mod/go.sum): see ../bridge.sh and plugin.conf.
#   engine/plugins/random/build.sh OUT_DIR|--tidy
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "${HERE}/../bridge.sh" "${HERE}" "$@"
