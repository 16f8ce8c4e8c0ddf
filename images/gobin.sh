#!/usr/bin/env bash
# Build a Go server binary from the Go module proxy into a cache, once; print its path (last line).
#
#   images/gobin.sh victoria-logs     VictoriaLogs' server (github.com/VictoriaMetrics/VictoriaLogs)
#   images/gobin.sh vmalert           vmalert, which runs LogsQL alert rules against VictoriaLogs
#                                     (github.com/VictoriaMetrics/VictoriaMetrics)
#   images/gobin.sh --print NAME      the path the binary has (or will have), building nothing
#   images/gobin.sh --force NAME      build again even if the cache has it
#
# As engine/build.sh does for the engine: `go install MODULE/PKG@VERSION` (each module's own go.sum,
# checked against the checksum database; no replace directives, so no wrapper module is needed),
# CGO_ENABLED=0, -trimpath, the Go on PATH (GOTOOLCHAIN=local), into a cache folder keyed by the
# version and a hash of this script, behind a lock so that concurrent callers (images/build.sh's
# parallel jobs, pytest workers) build once and the others wait and reuse it. Cold, on 2 cores:
# victoria-logs about 70 s, vmalert about 90 s (module downloads included); cached: instant.
#
# Environment: WEBSTACK_GOBIN_CACHE (default ~/.cache/webstack/gobin). Go's own GOPROXY, GOMODCACHE
# and GOCACHE are honoured. Needs Go >= 1.26.6 on PATH (both modules' go.mod say so).
set -euo pipefail

CACHE_ROOT="${WEBSTACK_GOBIN_CACHE:-${HOME:-/root}/.cache/webstack/gobin}"

log() { printf 'images/gobin.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# name -> "module version package version-ldflag-variable"
declare -A SPECS=(
	[victoria-logs]="github.com/VictoriaMetrics/VictoriaLogs v1.52.1 app/victoria-logs github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version"
	[vmalert]="github.com/VictoriaMetrics/VictoriaMetrics v1.151.0 app/vmalert github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version"
)

FORCE=0
PRINT=0
NAME=""
for arg in "$@"; do
	case "${arg}" in
	--force) FORCE=1 ;;
	--print) PRINT=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	-*) die "unknown option ${arg} (see --help)" ;;
	*) NAME="${arg}" ;;
	esac
done
[[ -n "${NAME}" && -n "${SPECS[${NAME}]+x}" ]] || die "name one of: ${!SPECS[*]} (got '${NAME}')"
read -r MODULE VERSION PACKAGE VERSION_VAR <<<"${SPECS[${NAME}]}"

KEY="${NAME}-${VERSION}-$(sha256sum <"${BASH_SOURCE[0]}" | cut -c1-12)"
DIR="${CACHE_ROOT}/${KEY}"
BIN="${DIR}/${NAME}"
if ((PRINT)); then
	echo "${BIN}"
	exit 0
fi

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }'; }

mkdir -p "${DIR}"
exec 9>"${DIR}/.lock"
flock 9
if ((FORCE == 0)) && [[ -f "${DIR}/stamp" && -x "${BIN}" ]]; then
	log "cached: ${NAME} ($(head -1 "${DIR}/stamp"))"
	echo "${BIN}"
	exit 0
fi

command -v go >/dev/null || die "go is not on PATH (Go >= 1.26.6 is needed to build ${MODULE}@${VERSION})"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false -trimpath"
tmp="$(mktemp -d "${DIR}/tmp.XXXXXX")"
# shellcheck disable=SC2064 # expand tmp now, on purpose
trap "rm -rf '${tmp}'" EXIT
started="$(now)"
log "building ${NAME} from ${MODULE}@${VERSION} (${PACKAGE}; about a minute or two cold on 2 cores) ..."
GOBIN="${tmp}" go install -ldflags "-s -w -X ${VERSION_VAR}=${NAME}-${VERSION}" "${MODULE}/${PACKAGE}@${VERSION}"
[[ -x "${tmp}/${NAME}" ]] || die "go install left no ${NAME} in ${tmp}"
"${tmp}/${NAME}" -version >/dev/null 2>&1 || die "the freshly built ${NAME} does not run (${tmp}/${NAME} -version)"
mv -f "${tmp}/${NAME}" "${BIN}"
{
	echo "${NAME} ${VERSION} (${MODULE}/${PACKAGE})"
	echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) with $(go version) in $(elapsed "${started}") s"
} >"${DIR}/stamp"
log "${NAME} built in $(elapsed "${started}") s: ${BIN}"
echo "${BIN}"
