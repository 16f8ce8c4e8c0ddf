#!/usr/bin/env bash
# Build a Pulumi resource plugin bridged from an upstream Terraform provider, from Go modules on
# the module proxy only. Each bridged plugin's build.sh calls this with its own directory:
#
#   engine/plugins/bridge.sh PLUGIN_DIR OUT_DIR     write OUT_DIR/pulumi-resource-<NAME>
#   engine/plugins/bridge.sh PLUGIN_DIR --tidy      refresh PLUGIN_DIR's go.mod and go.sum
#
# PLUGIN_DIR holds the wrapper module (go.mod, go.sum, main.go, resources.go, and tfgen.go built
# with -tags tfgen), shim.go.in and plugin.conf, which sets NAME, PLUGIN_VERSION (the version the
# SDK asks for), UPSTREAM_MODULE (the path the proxy serves it under), UPSTREAM_PATH (the path its
# go.mod declares: go.mod requires it and replaces it with ./upstream), BUILD_TAGS, TFGEN_FLAGS.
#
# Steps, in a temporary directory (nothing upstream lands in this repo):
#   1. copy the upstream module (the version go.mod requires) out of the module cache to
#      ./upstream and add upstream/shim/shim.go from shim.go.in: upstream's provider lives in an
#      internal/ package, which no other module may import;
#   2. build the wrapper with -tags tfgen and run `schema` (UPSTREAM_DIR points at the copy, for
#      its docs) to generate schema.json and bridge-metadata.json;
#   3. set the schema's version and build the plugin with both files embedded.
# Timings go to stderr. KEEP_WORK=1 keeps the temporary directory. GOPROXY, GOMODCACHE and
# GOCACHE are honoured. Needs Go >= 1.25.11 on PATH, and python3.
set -euo pipefail

PLUGIN_DIR="$(cd "${1:?usage: bridge.sh PLUGIN_DIR OUT_DIR|--tidy}" && pwd)"
TARGET="${2:?usage: bridge.sh PLUGIN_DIR OUT_DIR|--tidy}"
NAME="" PLUGIN_VERSION="" UPSTREAM_MODULE="" UPSTREAM_PATH="" BUILD_TAGS="" TFGEN_FLAGS=""
# shellcheck source=/dev/null
source "${PLUGIN_DIR}/plugin.conf"
PLUGIN_VERSION="${PLUGIN_VERSION_OVERRIDE:-${PLUGIN_VERSION}}"
WRAPPER_FILES=(go.mod go.sum main.go resources.go tfgen.go)

log() { printf 'plugins/%s: %s\n' "${NAME}" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

[[ -n "${NAME}" && -n "${PLUGIN_VERSION}" && -n "${UPSTREAM_MODULE}" && -n "${UPSTREAM_PATH}" ]] ||
	die "${PLUGIN_DIR}/plugin.conf must set NAME, PLUGIN_VERSION, UPSTREAM_MODULE and UPSTREAM_PATH"
command -v go >/dev/null || die "go is not on PATH (Go >= 1.25.11 is needed)"
export GOTOOLCHAIN=local CGO_ENABLED=0
if [[ "${TARGET}" == --tidy ]]; then
	export GOFLAGS="-mod=mod -buildvcs=false"
else
	export GOFLAGS="-mod=readonly -buildvcs=false -trimpath"
fi

UPSTREAM_VERSION="$(awk -v m="${UPSTREAM_PATH}" '
	$1 == m && $2 ~ /^v/ { print $2; exit }
	$1 == "require" && $2 == m { print $3; exit }' "${PLUGIN_DIR}/go.mod")"
[[ -n "${UPSTREAM_VERSION}" ]] || die "go.mod does not require ${UPSTREAM_PATH}"

work="$(mktemp -d "${TMPDIR:-/tmp}/pulumi-resource-${NAME}.XXXXXX")"
cleanup() {
	if [[ "${KEEP_WORK:-0}" == 1 ]]; then
		log "kept ${work}"
	else
		chmod -R u+w "${work}" 2>/dev/null || true
		rm -rf "${work}"
	fi
}
trap cleanup EXIT
t0="$(now)"

# 1. The upstream copy and the shim.
t="$(now)"
upstream_dir="$(cd "${work}" && go mod download -json "${UPSTREAM_MODULE}@${UPSTREAM_VERSION}" |
	python3 -c 'import json, sys; print(json.load(sys.stdin).get("Dir", ""))')"
[[ -n "${upstream_dir}" && -d "${upstream_dir}/internal/provider" ]] ||
	die "could not download ${UPSTREAM_MODULE}@${UPSTREAM_VERSION} (Dir='${upstream_dir}')"
declared="$(awk '$1 == "module" { print $2; exit }' "${upstream_dir}/go.mod")"
[[ "${declared}" == "${UPSTREAM_PATH}" ]] ||
	die "${UPSTREAM_MODULE}@${UPSTREAM_VERSION} declares module ${declared}, expected ${UPSTREAM_PATH}"
cp -R "${upstream_dir}" "${work}/upstream"
chmod -R u+w "${work}/upstream"
mkdir -p "${work}/upstream/shim"
cp "${PLUGIN_DIR}/shim.go.in" "${work}/upstream/shim/shim.go"
for f in "${WRAPPER_FILES[@]}"; do
	cp "${PLUGIN_DIR}/${f}" "${work}/${f}"
done
# Placeholders, so that the tfgen build (which embeds nothing) and `go mod tidy` see a whole package.
echo '{}' >"${work}/schema-embed.json"
echo '{}' >"${work}/bridge-metadata.json"
log "upstream ${UPSTREAM_MODULE}@${UPSTREAM_VERSION} copied, shim added: $(elapsed "${t}") s"

if [[ "${TARGET}" == --tidy ]]; then
	(cd "${work}" && go mod tidy)
	cp "${work}/go.mod" "${work}/go.sum" "${PLUGIN_DIR}/"
	log "go.mod and go.sum refreshed in ${PLUGIN_DIR}"
	exit 0
fi
mkdir -p "${TARGET}"
OUT_DIR="$(cd "${TARGET}" && pwd)"
LDFLAGS="-s -w -X main.version=${PLUGIN_VERSION}"

# 2. tfgen: schema.json and bridge-metadata.json.
t="$(now)"
(cd "${work}" && go build -tags "tfgen${BUILD_TAGS:+,${BUILD_TAGS}}" -ldflags "${LDFLAGS}" -o "${work}/pulumi-tfgen-${NAME}" .)
log "tfgen built: $(elapsed "${t}") s"
t="$(now)"
# shellcheck disable=SC2086 # TFGEN_FLAGS is a list of flags
if ! (cd "${work}" && UPSTREAM_DIR="${work}/upstream" "./pulumi-tfgen-${NAME}" schema ${TFGEN_FLAGS} \
	--out "${work}/gen") >"${work}/tfgen.log" 2>&1; then
	tail -n 40 "${work}/tfgen.log" >&2
	die "tfgen schema failed"
fi
# The schema as the plugin serves it: with its version (tfgen leaves it out).
python3 - "${work}/gen/schema.json" "${work}/schema-embed.json" "${PLUGIN_VERSION}" <<'PY'
import json, sys
source, target, version = sys.argv[1:]
schema = json.load(open(source))
schema["version"] = version
with open(target, "w") as out:
    json.dump(schema, out, separators=(",", ":"))
PY
if [[ -s "${work}/gen/bridge-metadata.json" ]]; then
	cp "${work}/gen/bridge-metadata.json" "${work}/bridge-metadata.json"
fi
log "schema generated ($(wc -c <"${work}/schema-embed.json") bytes): $(elapsed "${t}") s"

# 3. The plugin.
t="$(now)"
(cd "${work}" && go build ${BUILD_TAGS:+-tags "${BUILD_TAGS}"} -ldflags "${LDFLAGS}" -o "${work}/pulumi-resource-${NAME}" .)
log "pulumi-resource-${NAME} built: $(elapsed "${t}") s"
install -m 0755 "${work}/pulumi-resource-${NAME}" "${OUT_DIR}/.pulumi-resource-${NAME}.tmp"
mv -f "${OUT_DIR}/.pulumi-resource-${NAME}.tmp" "${OUT_DIR}/pulumi-resource-${NAME}"
log "wrote ${OUT_DIR}/pulumi-resource-${NAME} (${PLUGIN_VERSION} from ${UPSTREAM_MODULE}@${UPSTREAM_VERSION}," \
	"$(wc -c <"${OUT_DIR}/pulumi-resource-${NAME}") bytes) in $(elapsed "${t0}") s"
