#!/usr/bin/env bash
# Build pulumi-resource-random (the plugin the pulumi-random Python SDK drives) from Go modules
# on the module proxy, and write it to OUT_DIR/pulumi-resource-random.
#
#   engine/plugins/random/build.sh OUT_DIR      build; timings go to stderr
#   engine/plugins/random/build.sh --tidy       refresh go.mod/go.sum here (go mod tidy)
#
# Steps, all in a temporary directory (nothing of the upstream lands in this repo):
#   1. copy the upstream Terraform provider out of the module cache (`go mod download -json`
#      gives its Dir; the version is the one go.mod requires) to ./upstream and add shim/shim.go,
#      which returns the provider from upstream's internal/provider package;
#   2. copy this wrapper module (go.mod's replace points at ./upstream);
#   3. build the wrapper with -tags tfgen and run `schema` to generate schema.json and
#      bridge-metadata.json;
#   4. build the wrapper again, embedding both files, with the version set by -ldflags.
#
# Environment: RANDOM_PLUGIN_VERSION (default 4.21.4, the version the pulumi-random SDK pinned in
# requirements.txt asks for), KEEP_WORK=1 keeps the temporary directory. GOPROXY, GOMODCACHE and
# GOCACHE are honoured. Needs Go >= 1.25.11 on PATH.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PLUGIN_VERSION="${RANDOM_PLUGIN_VERSION:-4.21.4}"
# The upstream module is served under its GitHub path; its go.mod names the old path.
UPSTREAM_MODULE="github.com/hashicorp/terraform-provider-random"
UPSTREAM_PATH="github.com/terraform-providers/terraform-provider-random"
WRAPPER_FILES=(go.mod go.sum main.go resources.go tfgen.go)

log() { printf 'plugins/random/build.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

TIDY=0
OUT_DIR=""
case "${1:-}" in
--tidy) TIDY=1 ;;
-h | --help | "")
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
	[[ -n "${1:-}" ]] && exit 0
	exit 2
	;;
*) OUT_DIR="$1" ;;
esac

command -v go >/dev/null || die "go is not on PATH (Go >= 1.25.11 is needed)"
export GOTOOLCHAIN=local CGO_ENABLED=0
if [[ ${TIDY} -eq 1 ]]; then
	export GOFLAGS="-mod=mod -buildvcs=false"
else
	export GOFLAGS="-mod=readonly -buildvcs=false -trimpath"
fi

# The upstream version: the one go.mod requires under the module's declared path.
UPSTREAM_VERSION="$(awk -v m="${UPSTREAM_PATH}" '$1 == m { print $2; exit }' "${HERE}/go.mod")"
[[ -n "${UPSTREAM_VERSION}" ]] || die "go.mod does not require ${UPSTREAM_PATH}"

work="$(mktemp -d "${TMPDIR:-/tmp}/pulumi-resource-random.XXXXXX")"
cleanup() {
	if [[ "${KEEP_WORK:-0}" == 1 ]]; then
		log "kept ${work}"
	else
		rm -rf "${work}"
	fi
}
trap cleanup EXIT

t0="$(now)"

# 1. Upstream copy + shim.
t="$(now)"
upstream_dir="$(cd "${work}" && go mod download -json "${UPSTREAM_MODULE}@${UPSTREAM_VERSION}" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
[[ -n "${upstream_dir}" && -f "${upstream_dir}/internal/provider/provider.go" ]] ||
	die "${UPSTREAM_MODULE}@${UPSTREAM_VERSION} not found in the module cache (Dir='${upstream_dir}')"
cp -R "${upstream_dir}" "${work}/upstream"
chmod -R u+w "${work}/upstream"
grep -q "^module ${UPSTREAM_PATH}\$" "${work}/upstream/go.mod" ||
	die "${UPSTREAM_MODULE}@${UPSTREAM_VERSION}: go.mod does not declare ${UPSTREAM_PATH}"
grep -q '^func New() provider.Provider {' "${work}/upstream/internal/provider/provider.go" ||
	die "upstream internal/provider has no 'func New() provider.Provider'; update the shim"
mkdir -p "${work}/upstream/shim"
cat >"${work}/upstream/shim/shim.go" <<EOF
// Package shim is added by webstack's engine/plugins/random/build.sh: it exposes the provider
// of internal/provider, which a module outside this one cannot import.
package shim

import (
	"github.com/hashicorp/terraform-plugin-framework/provider"

	upstream "${UPSTREAM_PATH}/internal/provider"
)

func NewProvider() provider.Provider { return upstream.New() }
EOF
for f in "${WRAPPER_FILES[@]}"; do
	cp "${HERE}/${f}" "${work}/${f}"
done
log "upstream ${UPSTREAM_MODULE}@${UPSTREAM_VERSION} copied, shim added: $(elapsed "${t}") s"

if [[ ${TIDY} -eq 1 ]]; then
	(cd "${work}" && go mod tidy)
	cp "${work}/go.mod" "${work}/go.sum" "${HERE}/"
	log "go.mod and go.sum refreshed in ${HERE}"
	exit 0
fi

mkdir -p "${OUT_DIR}"
OUT_DIR="$(cd "${OUT_DIR}" && pwd)"

# 2. tfgen: schema.json + bridge-metadata.json.
t="$(now)"
(cd "${work}" && go build -tags tfgen -ldflags "-s -w -X main.version=${PLUGIN_VERSION}" \
	-o "${work}/pulumi-tfgen-random" .)
log "tfgen built: $(elapsed "${t}") s"

t="$(now)"
# Examples are skipped: converting them needs the pulumi CLI and the terraform converter plugin.
# The docs (descriptions) come from the upstream copy's docs/ folder.
if ! (cd "${work}" && RANDOM_UPSTREAM_DIR="${work}/upstream" ./pulumi-tfgen-random schema \
	--skip-examples --out "${work}/gen") >"${work}/tfgen.log" 2>&1; then
	cat "${work}/tfgen.log" >&2
	die "tfgen failed"
fi
cp "${work}/gen/schema.json" "${work}/schema-embed.json"
cp "${work}/gen/bridge-metadata.json" "${work}/bridge-metadata.json"
log "schema generated ($(wc -c <"${work}/schema-embed.json") bytes): $(elapsed "${t}") s"

# 3. The provider, with the schema and the metadata embedded.
t="$(now)"
(cd "${work}" && go build -ldflags "-s -w -X main.version=${PLUGIN_VERSION}" \
	-o "${work}/pulumi-resource-random" .)
log "pulumi-resource-random built: $(elapsed "${t}") s"

got="$("${work}/pulumi-resource-random" -version)"
[[ "${got}" == "${PLUGIN_VERSION}" ]] || die "the built plugin says version '${got}', not ${PLUGIN_VERSION}"

install -m 0755 "${work}/pulumi-resource-random" "${OUT_DIR}/.pulumi-resource-random.tmp"
mv -f "${OUT_DIR}/.pulumi-resource-random.tmp" "${OUT_DIR}/pulumi-resource-random"
log "wrote ${OUT_DIR}/pulumi-resource-random (${PLUGIN_VERSION}, upstream ${UPSTREAM_VERSION}," \
	"$(wc -c <"${OUT_DIR}/pulumi-resource-random") bytes) in $(elapsed "${t0}") s"
