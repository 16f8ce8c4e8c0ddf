#!/usr/bin/env bash
# Build pulumi-resource-docker, a Pulumi resource plugin for the resources of pulumi-docker 5.2.0
# that are bridged from Terraform, from Go modules on the module proxy only:
#
#   engine/plugins/docker/build.sh OUT_DIR      build OUT_DIR/pulumi-resource-docker
#   engine/plugins/docker/build.sh --force OUT_DIR   rebuild even if OUT_DIR's stamp matches
#   engine/plugins/docker/build.sh --tidy       refresh go.mod/go.sum here (go mod tidy)
#
# Steps, all in a temporary directory (nothing of the upstream is ever written here):
#   1. `go mod download` the upstream Terraform provider, served by the proxy as
#      github.com/kreuzwerker/terraform-provider-docker at the version go.mod requires for
#      github.com/terraform-providers/terraform-provider-docker (its declared module path);
#   2. copy it to BUILD/upstream and add BUILD/upstream/shim/shim.go, which exports the SDKv2
#      provider from its internal/provider package (go.mod replaces the module with ./upstream);
#   3. build the tfgen binary (-tags tfgen) and run `schema` to generate the Pulumi schema and
#      bridge-metadata.json;
#   4. build the plugin with both files embedded (-tags no_compose: the framework-based
#      docker_compose resource is not bridged anyway).
# Timings go to stderr. OUT_DIR/.pulumi-resource-docker.stamp holds a hash of the inputs: when it
# matches, nothing is rebuilt. Environment: PLUGIN_VERSION (default 5.2.0, the version that
# pulumi-docker==5.2.0 asks for); GOPROXY, GOMODCACHE and GOCACHE are honoured.
set -euo pipefail

PLUGIN_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PLUGIN_VERSION="${PLUGIN_VERSION:-5.2.0}"
UPSTREAM_PATH=github.com/terraform-providers/terraform-provider-docker # as its go.mod declares
UPSTREAM_PROXY_PATH=github.com/kreuzwerker/terraform-provider-docker  # as the proxy serves it
BUILD_TAGS=no_compose
WRAPPER_FILES=(go.mod go.sum main.go resources.go tfgen.go)

log() { printf 'plugins/docker/build.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

FORCE=0
TIDY=0
OUT_DIR=""
for arg in "$@"; do
	case "${arg}" in
	--force) FORCE=1 ;;
	--tidy) TIDY=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	-*) die "unknown option: ${arg} (see --help)" ;;
	*)
		[[ -z "${OUT_DIR}" ]] || die "only one OUT_DIR, please (see --help)"
		OUT_DIR="${arg}"
		;;
	esac
done
[[ ${TIDY} -eq 1 || -n "${OUT_DIR}" ]] || die "usage: $0 [--force] OUT_DIR | $0 --tidy"

export GOTOOLCHAIN=local CGO_ENABLED=0
export GOFLAGS="-mod=readonly -buildvcs=false -trimpath"
command -v go >/dev/null || die "go is not on PATH (Go >= 1.25.11 is needed)"

UPSTREAM_VERSION="$(awk -v m="${UPSTREAM_PATH}" '
	$1 == m && $2 ~ /^v/ { print $2; exit }
	$1 == "require" && $2 == m { print $3; exit }' "${PLUGIN_DIR}/go.mod")"
[[ -n "${UPSTREAM_VERSION}" ]] || die "go.mod does not require ${UPSTREAM_PATH}"

# Everything that decides what gets built.
stamp_inputs() {
	local f
	printf 'version %s\n%s\ntags %s\n' "${PLUGIN_VERSION}" "$(go version)" "${BUILD_TAGS}"
	for f in build.sh "${WRAPPER_FILES[@]}"; do
		printf '== %s\n' "${f}"
		cat "${PLUGIN_DIR}/${f}"
	done
}

t0="$(now)"
if [[ ${TIDY} -eq 0 ]]; then
	mkdir -p "${OUT_DIR}"
	OUT_DIR="$(cd "${OUT_DIR}" && pwd)"
	STAMP="${OUT_DIR}/.pulumi-resource-docker.stamp"
	KEY="$(stamp_inputs | sha256sum | cut -c1-16)"
	if [[ ${FORCE} -eq 0 && -x "${OUT_DIR}/pulumi-resource-docker" && -f "${STAMP}" ]] &&
		[[ "$(head -1 "${STAMP}")" == "key ${KEY}" ]]; then
		log "up to date: ${OUT_DIR}/pulumi-resource-docker (key ${KEY})"
		exit 0
	fi
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/pulumi-docker-build.XXXXXX")"
# shellcheck disable=SC2064 # expand TMP now, on purpose
trap "chmod -R u+w '${TMP}' 2>/dev/null; rm -rf '${TMP}'" EXIT
BUILD="${TMP}/build"
mkdir -p "${BUILD}" "${TMP}/gen"

# 1 + 2: the upstream module and the shim.
t="$(now)"
upstream_dir="$(cd "${TMP}" && go mod download -json "${UPSTREAM_PROXY_PATH}@${UPSTREAM_VERSION}" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
[[ -n "${upstream_dir}" && -f "${upstream_dir}/internal/provider/provider.go" ]] ||
	die "could not download ${UPSTREAM_PROXY_PATH}@${UPSTREAM_VERSION}"
declared="$(awk '$1 == "module" { print $2; exit }' "${upstream_dir}/go.mod")"
[[ "${declared}" == "${UPSTREAM_PATH}" ]] ||
	die "${UPSTREAM_PROXY_PATH}@${UPSTREAM_VERSION} declares module ${declared}, expected ${UPSTREAM_PATH}"
grep -q '^func New(version string) func() \*schema.Provider' "${upstream_dir}/internal/provider/provider.go" ||
	die "internal/provider.New(version) func() *schema.Provider not found upstream; update the shim"
cp -R "${upstream_dir}" "${BUILD}/upstream"
chmod -R u+w "${BUILD}/upstream"
mkdir -p "${BUILD}/upstream/shim"
cat >"${BUILD}/upstream/shim/shim.go" <<'EOF'
// Package shim exports the SDKv2 provider of terraform-provider-docker, which lives in an
// internal package. Added at build time by webstack's engine/plugins/docker/build.sh.
package shim

import (
	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"
	"github.com/terraform-providers/terraform-provider-docker/internal/provider"
)

// NewProvider returns the SDKv2 part of the provider (every resource but docker_compose).
func NewProvider(version string) *schema.Provider {
	return provider.New(version)()
}
EOF
for f in "${WRAPPER_FILES[@]}"; do
	cp "${PLUGIN_DIR}/${f}" "${BUILD}/${f}"
done
echo '{}' >"${BUILD}/bridge-metadata.json"
echo '{}' >"${BUILD}/schema-embed.json"
log "upstream ${UPSTREAM_PROXY_PATH}@${UPSTREAM_VERSION} copied, shim added: $(elapsed "${t}") s"

if [[ ${TIDY} -eq 1 ]]; then
	(cd "${BUILD}" && GOFLAGS="-mod=mod" go mod tidy)
	cp "${BUILD}/go.mod" "${BUILD}/go.sum" "${PLUGIN_DIR}/"
	log "go.mod and go.sum refreshed in ${PLUGIN_DIR}: $(elapsed "${t0}") s"
	exit 0
fi

LDFLAGS="-s -w -X main.version=${PLUGIN_VERSION}"

# 3: tfgen, then the schema.
t="$(now)"
(cd "${BUILD}" && go build -tags "tfgen,${BUILD_TAGS}" -ldflags "${LDFLAGS}" -o "${TMP}/pulumi-tfgen-docker" .)
log "pulumi-tfgen-docker built: $(elapsed "${t}") s"
t="$(now)"
(cd "${TMP}" && ./pulumi-tfgen-docker schema --out "${TMP}/gen" --skip-docs --skip-examples >"${TMP}/tfgen.log" 2>&1) || {
	tail -n 30 "${TMP}/tfgen.log" >&2
	die "tfgen schema failed"
}
[[ -s "${TMP}/gen/schema.json" ]] || die "tfgen wrote no schema.json"
# The schema as pulumi-docker embeds it: with the plugin's version.
sed '0,/^    "name": "docker",$/s//    "name": "docker",\n    "version": "'"${PLUGIN_VERSION}"'",/' \
	"${TMP}/gen/schema.json" >"${BUILD}/schema-embed.json"
grep -q "\"version\": \"${PLUGIN_VERSION}\"" "${BUILD}/schema-embed.json" || die "could not set the schema version"
if [[ -s "${TMP}/gen/bridge-metadata.json" ]]; then
	cp "${TMP}/gen/bridge-metadata.json" "${BUILD}/bridge-metadata.json"
fi
log "schema generated ($(wc -c <"${BUILD}/schema-embed.json") bytes): $(elapsed "${t}") s"

# 4: the plugin.
t="$(now)"
(cd "${BUILD}" && go build -tags "${BUILD_TAGS}" -ldflags "${LDFLAGS}" -o "${TMP}/pulumi-resource-docker" .)
log "pulumi-resource-docker built: $(elapsed "${t}") s"

mv -f "${TMP}/pulumi-resource-docker" "${OUT_DIR}/pulumi-resource-docker"
{
	echo "key ${KEY}"
	echo "pulumi-resource-docker ${PLUGIN_VERSION} from ${UPSTREAM_PROXY_PATH}@${UPSTREAM_VERSION}"
	echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) with $(go version) in $(elapsed "${t0}") s"
} >"${STAMP}"
log "done: ${OUT_DIR}/pulumi-resource-docker ($(wc -c <"${OUT_DIR}/pulumi-resource-docker") bytes) in $(elapsed "${t0}") s"
