#!/usr/bin/env bash
# Build the Pulumi engine (CLI + the official Python language host) into a cache.
#
#   engine/build.sh                 build the core set if missing; print the bin dir (last line)
#   engine/build.sh --print-bin     print the bin dir without building anything
#   engine/build.sh --force         rebuild even if the cache stamp exists
#   engine/build.sh kubernetes|random|docker|command
#                                   resource plugins, built by engine/plugins/<name>/build.sh into
#                                   the same bin dir (core first: engine/build.sh core kubernetes);
#                                   command from upstream's source snapshot (engine/third-party.sh),
#                                   exit 3 when that folder is absent
#   engine/build.sh cloudflare      checks the Go module proxy and explains why it cannot be
#                                   built here (exit 3; see engine/NOTES.md)
#
#   export PATH="$(engine/build.sh | tail -1):$PATH"
#   export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
#
# Core set (the versions pinned by engine/cli/go.mod and go.sum):
#   pulumi                          github.com/pulumi/pulumi/pkg/v3/cmd/pulumi (engine/cli)
#   pulumi-language-python          the official host, built from upstream's source snapshot of
#                                   sdk/python/cmd/pulumi-language-python at the CLI's tag, which
#                                   engine/third-party.sh finds (its module is not on the proxy;
#                                   everything it imports is). Exit 3 when that folder is absent.
#   pulumi-language-python-exec     copied from the sdk/v3 module zip
#   pulumi-resource-pulumi-python   copied from the sdk/v3 module zip (Python dynamic providers)
#
# Environment: WEBSTACK_ENGINE_CACHE (default ~/.cache/webstack/engine), WEBSTACK_THIRD_PARTY
# (see engine/third-party.sh). Go's own GOPROXY, GOMODCACHE and GOCACHE are honoured. Needs
# Go >= 1.25.11 on PATH, curl only for plugin checks.
set -euo pipefail

ENGINE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${WEBSTACK_ENGINE_CACHE:-${HOME}/.cache/webstack/engine}"

log() { printf 'engine/build.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The version of a module required by a wrapper go.mod (single source of truth: the go.mod files).
required_version() { # <go.mod> <module path>
	awk -v m="$2" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$1"
}

FORCE=0
PRINT_ONLY=0
TARGETS=()
for arg in "$@"; do
	case "${arg}" in
	--print-bin) PRINT_ONLY=1 ;;
	--force) FORCE=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	core | command | random | docker | kubernetes | cloudflare) TARGETS+=("${arg}") ;;
	*) die "unknown argument: ${arg} (see --help)" ;;
	esac
done
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=(core)

PULUMI_VERSION="$(required_version "${ENGINE_DIR}/cli/go.mod" github.com/pulumi/pulumi/pkg/v3)"
SDK_VERSION="$(required_version "${ENGINE_DIR}/cli/go.mod" github.com/pulumi/pulumi/sdk/v3)"
[[ -n "${PULUMI_VERSION}" && "${PULUMI_VERSION}" == "${SDK_VERSION}" ]] ||
	die "engine/cli must pin pkg/v3 and sdk/v3 to one version (pkg=${PULUMI_VERSION:-?} sdk=${SDK_VERSION:-?})"

# Every file of a folder, named and in a stable order: what a cache key hashes.
tree_contents() { # <dir>
	(cd "$1" && find . -type f | LC_ALL=C sort | while read -r f; do printf '== %s\n' "${f}"; cat "${f}"; done)
}

# The official language host's source: upstream's snapshot, found by engine/third-party.sh. Without
# it there is no host to build (ours is gone): say what is missing, where we looked, what to do.
HOST_SOURCE="$("${ENGINE_DIR}/third-party.sh" pulumi-language-python 2>/dev/null)" || {
	{ "${ENGINE_DIR}/third-party.sh" pulumi-language-python 2>&1 || true; } | sed 's/^engine\/third-party.sh: //' |
		while read -r line; do log "${line}"; done
	log "  The Pulumi CLI is built here, but its Python language host is built only from that upstream"
	log "  source (sdk/python/cmd/pulumi-language-python at ${PULUMI_VERSION}; the Go module proxy does not serve it)."
	log "  Either install Pulumi ${PULUMI_VERSION#v} and put it on PATH: engine/ensure.sh then uses it and builds"
	log "  nothing. Or set WEBSTACK_THIRD_PARTY to a folder holding pulumi-language-python/ (upstream's"
	log "  main.go, go.mod and go.sum at that tag, and a SOURCE.md naming the tag)."
	exit 3
}
grep -qE "tag ${PULUMI_VERSION//./\\.}([^0-9.]|$)" "${HOST_SOURCE}/SOURCE.md" ||
	die "${HOST_SOURCE}/SOURCE.md does not name tag ${PULUMI_VERSION}: the language host must match the CLI"

# Cache key: the Pulumi version plus a hash of everything that decides what gets built.
key_inputs() {
	local f
	for f in build.sh cli/go.mod cli/go.sum; do
		printf '== %s\n' "${f}"
		cat "${ENGINE_DIR}/${f}"
	done
	printf '== third-party/pulumi-language-python\n'
	tree_contents "${HOST_SOURCE}"
}
KEY="pulumi-${PULUMI_VERSION}-$(key_inputs | sha256sum | cut -c1-12)"
KEY_DIR="${CACHE_ROOT}/${KEY}"
BIN_DIR="${KEY_DIR}/bin"

if [[ ${PRINT_ONLY} -eq 1 ]]; then
	echo "${BIN_DIR}"
	exit 0
fi

CORE_BINARIES=(pulumi pulumi-language-python pulumi-language-python-exec pulumi-resource-pulumi-python)

core_is_built() {
	local b
	[[ -f "${KEY_DIR}/stamps/core" ]] || return 1
	for b in "${CORE_BINARIES[@]}"; do
		[[ -x "${BIN_DIR}/${b}" ]] || return 1
	done
}

go_env() {
	export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false -trimpath"
	command -v go >/dev/null || die "go is not on PATH (Go >= 1.25.11 is needed)"
}

# Seconds since the epoch with a fraction; for the timing lines.
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }'; }

build_core() {
	go_env
	local tmp t0 t
	tmp="$(mktemp -d "${KEY_DIR}/tmp.XXXXXX")"
	# shellcheck disable=SC2064 # expand tmp now, on purpose
	trap "rm -rf '${tmp}'" EXIT

	t0="$(now)"
	log "building pulumi ${PULUMI_VERSION} (CLI; about 7 min cold on 2 cores, seconds with a warm Go cache) ..."
	t="$(now)"
	(cd "${ENGINE_DIR}/cli" && go build -tags osusergo,grpcnotrace \
		-ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=${PULUMI_VERSION}" \
		-o "${tmp}/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
	log "  pulumi: $(elapsed "${t}") s"

	# The official host, as its SOURCE.md says: a copy without the monorepo's two replaces, requiring
	# the CLI's pkg/v3 and sdk/v3, tidied (go.sum completed from the module proxy, -mod=mod for that
	# step only; the checksum database still checks every module), then built read-only.
	log "building pulumi-language-python ${PULUMI_VERSION} (official host, from ${HOST_SOURCE}) ..."
	t="$(now)"
	cp -R "${HOST_SOURCE}" "${tmp}/language-python"
	chmod -R u+w "${tmp}/language-python"
	(
		cd "${tmp}/language-python"
		go mod edit -dropreplace github.com/pulumi/pulumi/pkg/v3 -dropreplace github.com/pulumi/pulumi/sdk/v3 \
			-require "github.com/pulumi/pulumi/pkg/v3@${PULUMI_VERSION}" -require "github.com/pulumi/pulumi/sdk/v3@${SDK_VERSION}"
		GOFLAGS="${GOFLAGS/-mod=readonly/-mod=mod}" go mod tidy
		go build -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=${PULUMI_VERSION}" \
			-o "${tmp}/pulumi-language-python" .
	)
	log "  pulumi-language-python: $(elapsed "${t}") s"

	# The exec shim and the dynamic-provider shim ship inside the sdk/v3 module zip.
	local sdk_dir
	sdk_dir="$(cd "${ENGINE_DIR}/cli" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
	[[ -n "${sdk_dir}" && -f "${sdk_dir}/python/cmd/pulumi-language-python-exec" ]] ||
		die "sdk/v3 module not found in the module cache (go list -m returned '${sdk_dir}')"
	install -m 0755 "${sdk_dir}/python/cmd/pulumi-language-python-exec" "${tmp}/"
	install -m 0755 "${sdk_dir}/python/dist/pulumi-resource-pulumi-python" "${tmp}/"

	"${tmp}/pulumi" version >/dev/null || die "the freshly built pulumi does not run"
	[[ "$("${tmp}/pulumi-language-python" -version)" == "${PULUMI_VERSION}" ]] ||
		die "the freshly built pulumi-language-python does not run or does not report ${PULUMI_VERSION}"

	mkdir -p "${BIN_DIR}" "${KEY_DIR}/stamps"
	local b
	for b in "${CORE_BINARIES[@]}"; do
		mv -f "${tmp}/${b}" "${BIN_DIR}/${b}"
	done
	{
		echo "pulumi ${PULUMI_VERSION} (github.com/pulumi/pulumi/pkg/v3, sdk/v3 ${SDK_VERSION})"
		echo "pulumi-language-python ${PULUMI_VERSION} (official: upstream's source snapshot ${HOST_SOURCE}, on pkg/v3 and sdk/v3 ${SDK_VERSION})"
		echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) with $(go version) in $(elapsed "${t0}") s"
	} >"${KEY_DIR}/stamps/core"
	rm -rf "${tmp}"
	trap - EXIT
	log "core built in $(elapsed "${t0}") s"
}

# Resource plugins built from the proxy: each has a wrapper under engine/plugins/<name>/ whose
# build.sh writes the binary into a directory. They go into the same bin dir as the core set,
# with a stamp keyed by a hash of their wrapper, so a changed pin rebuilds just that plugin.
plugin_key() { # <name>: a hash of the plugin's directory, the shared bridge script and plugin_inputs
	{
		(cd "${ENGINE_DIR}/plugins" && find "$1" bridge.sh -type f ! -name '*.md' | LC_ALL=C sort |
			while read -r f; do printf '== %s\n' "${f}"; cat "${f}"; done)
		plugin_inputs "$1"
	} | sha256sum | cut -c1-12
}

# Inputs of a plugin that live outside engine/plugins/<name>: command is built from upstream's
# source snapshot (engine/third-party.sh) at the version requirements.txt pins.
plugin_inputs() { # <name>
	[[ "$1" == command ]] || return 0
	tree_contents "$("${ENGINE_DIR}/third-party.sh" pulumi-command)"
	grep '^pulumi-command==' "${ENGINE_DIR}/../requirements.txt"
}

# A plugin whose upstream source snapshot is not here cannot be built: say what to do instead.
plugin_source_missing() { # <name>
	[[ "$1" == command ]] || return 1
	"${ENGINE_DIR}/third-party.sh" pulumi-command >/dev/null 2>&1 && return 1
	"${ENGINE_DIR}/third-party.sh" pulumi-command 2>&1 | sed 's/^engine\/third-party.sh: //' | while read -r line; do log "${line}"; done
	log "  pulumi-resource-command cannot be built without it. On a machine with a Pulumi install that can"
	log "  download plugins: pulumi plugin install resource command $(sed -n 's/^pulumi-command==//p' "${ENGINE_DIR}/../requirements.txt")"
	log "  or set WEBSTACK_THIRD_PARTY to a folder holding pulumi-command/ (upstream's source, see its SOURCE.md)."
	return 0
}

build_plugin() { # <name>
	local name="$1" stamp t0
	# One build per plugin at a time; a second caller waits, then finds the stamp.
	exec 8>"${KEY_DIR}/.lock-${name}"
	flock 8
	stamp="${KEY_DIR}/stamps/plugin-${name}-$(plugin_key "${name}")"
	if [[ ${FORCE} -eq 0 && -f "${stamp}" && -x "${BIN_DIR}/pulumi-resource-${name}" ]]; then
		log "cached: pulumi-resource-${name} ($(head -1 "${stamp}"))"
		return 0
	fi
	go_env
	log "building pulumi-resource-${name} (engine/plugins/${name}; minutes cold, seconds with a warm Go cache) ..."
	t0="$(now)"
	mkdir -p "${BIN_DIR}" "${KEY_DIR}/stamps"
	rm -f "${KEY_DIR}/stamps/plugin-${name}-"*
	"${ENGINE_DIR}/plugins/${name}/build.sh" "${BIN_DIR}"
	{
		echo "pulumi-resource-${name} from engine/plugins/${name} (inputs ${stamp##*-})"
		echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) with $(go version) in $(elapsed "${t0}") s"
	} >"${stamp}"
	log "  pulumi-resource-${name}: $(elapsed "${t0}") s"
}

# Plugins without a wrapper: their Go modules are not served by the module proxy this project
# can reach (probed 2026-11: every tag and the release-commit pseudo-versions answer 403/404),
# so there is nothing to build. The check stays so that the day the proxy serves them it says so.
declare -A PLUGIN_MODULE=([cloudflare]="github.com/pulumi/pulumi-cloudflare/provider/v6")
declare -A PLUGIN_VERSION=([cloudflare]="v6.23.1")

check_plugin() { # <name>
	local name="$1" module="${PLUGIN_MODULE[$1]}" version="${PLUGIN_VERSION[$1]}"
	if [[ -x "${BIN_DIR}/pulumi-resource-${name}" ]]; then
		log "pulumi-resource-${name} already in ${BIN_DIR}"
		return 0
	fi
	local proxy
	proxy="$(go env GOPROXY)"
	proxy="${proxy%%,*}"
	local code
	code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 \
		"${proxy}/${module}/@v/${version}.zip" || true)"
	log "pulumi-resource-${name}: ${module}@${version}.zip answered HTTP ${code} at ${proxy}"
	log "  not buildable here: the provider's Go module is not on the module proxy (engine/NOTES.md," \
		"section 'Resource plugins'). Put a pulumi-resource-${name} binary on PATH or in ${BIN_DIR}."
	return 3
}

mkdir -p "${KEY_DIR}"
status=0
for target in "${TARGETS[@]}"; do
	case "${target}" in
	core)
		# One build at a time per cache key; a second caller waits, then finds the stamp.
		exec 9>"${KEY_DIR}/.lock"
		flock 9
		if [[ ${FORCE} -eq 0 ]] && core_is_built; then
			log "cached: ${KEY} ($(head -1 "${KEY_DIR}/stamps/core"))"
		else
			build_core
		fi
		flock -u 9
		;;
	kubernetes | random | docker | command)
		if plugin_source_missing "${target}"; then status=3; else build_plugin "${target}"; fi
		;;
	*) check_plugin "${target}" || status=$? ;;
	esac
done

echo "${BIN_DIR}"
exit "${status}"
