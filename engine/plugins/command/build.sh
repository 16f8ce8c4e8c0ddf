#!/usr/bin/env bash
# Build pulumi-resource-command into OUT_DIR from upstream's source snapshot (the folder that
# engine/third-party.sh finds: unmodified, its SOURCE.md says what it is). It builds in place,
# read-only is fine: -o writes elsewhere. The version it reports is the SDK pin in
# requirements.txt, so the engine matches the plugin to `pulumi-command==X` without a warning.
#
#   engine/plugins/command/build.sh OUT_DIR
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT_DIR="${1:?usage: build.sh OUT_DIR}"
SOURCE="$("${HERE}/../../third-party.sh" pulumi-command)"
VERSION="$(sed -n 's/^pulumi-command==\([0-9.]*\)$/\1/p' "${HERE}/../../../requirements.txt")"
[[ -n "${VERSION}" ]] || { echo "command/build.sh: no pulumi-command==X pin in requirements.txt" >&2; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false -trimpath"
cd "${SOURCE}"
go build -ldflags "-s -w -X github.com/pulumi/pulumi-command/provider/pkg/version.Version=${VERSION}" \
	-o "${OUT_DIR}/pulumi-resource-command" ./provider/cmd/pulumi-resource-command
