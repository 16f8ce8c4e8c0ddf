#!/usr/bin/env bash
# Make a Pulumi engine available and print the directory to put on PATH (last line of stdout).
#
#   export PATH="$(engine/ensure.sh | tail -1):$PATH"
#
# 1. If a working `pulumi` is already on PATH together with its Python language host (a
#    developer's own install from get.pulumi.com, which can also download resource plugins),
#    use it: print its directory and build nothing.
# 2. Otherwise build (or reuse from the cache) the engine with engine/build.sh and print the
#    `cli` dir beside its bin dir: the CLI and the Python language host, without the resource
#    plugins (engine/install-plugins.sh --path-only). That needs the official language host's
#    source snapshot (engine/third-party.sh pulumi-language-python); without it build.sh exits 3
#    and says what to do. The plugins built here go into Pulumi's plugin cache instead, and
#    nothing can be downloaded, so also:
#        engine/install-plugins.sh >/dev/null   # into ${PULUMI_HOME:-~/.pulumi}/plugins
#        export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
#    (`eval "$(engine/ensure.sh --env)"` does both: it installs the plugins, then prints the
#    export lines.)
#
# WEBSTACK_ENGINE=build forces step 2, WEBSTACK_ENGINE=system forces step 1 (and fails if there is
# no usable install). Any other arguments are passed on to engine/build.sh.
set -euo pipefail

ENGINE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODE="${WEBSTACK_ENGINE:-auto}"

PRINT_ENV=0
ARGS=()
for arg in "$@"; do
	case "${arg}" in
	--env) PRINT_ENV=1 ;;
	*) ARGS+=("${arg}") ;;
	esac
done

log() { printf 'engine/ensure.sh: %s\n' "$*" >&2; }

# A usable system install: pulumi runs, and pulumi-language-python is next to it or on PATH.
system_engine_dir() {
	local pulumi_bin dir
	pulumi_bin="$(command -v pulumi 2>/dev/null)" || return 1
	pulumi_bin="$(readlink -f "${pulumi_bin}")"
	dir="$(dirname "${pulumi_bin}")"
	# Our own cached build on PATH is not a "system" install; let build.sh check its stamp.
	case "${dir}" in "${WEBSTACK_ENGINE_CACHE:-${HOME}/.cache/webstack/engine}"/*) return 1 ;; esac
	"${pulumi_bin}" version >/dev/null 2>&1 || return 1
	[[ -x "${dir}/pulumi-language-python" ]] || command -v pulumi-language-python >/dev/null 2>&1 || return 1
	echo "${dir}"
}

bin_dir=""
if [[ "${MODE}" != build ]] && bin_dir="$(system_engine_dir)"; then
	log "using the pulumi already on PATH: ${bin_dir}/pulumi ($("${bin_dir}/pulumi" version))"
	built=0
elif [[ "${MODE}" == system ]]; then
	log "WEBSTACK_ENGINE=system but no working pulumi with pulumi-language-python is on PATH"
	exit 1
else
	bin_dir="$("${ENGINE_DIR}/build.sh" ${ARGS[@]+"${ARGS[@]}"} | tail -1)"
	built=1
	if [[ ${PRINT_ENV} -eq 1 ]]; then
		bin_dir="$("${ENGINE_DIR}/install-plugins.sh" "${bin_dir}" | tail -1)"
	else
		bin_dir="$("${ENGINE_DIR}/install-plugins.sh" --path-only "${bin_dir}" | tail -1)"
	fi
fi

if [[ ${PRINT_ENV} -eq 1 ]]; then
	# shellcheck disable=SC2016 # $PATH is meant to expand where the output is eval'd
	printf 'export PATH=%q:"$PATH"\n' "${bin_dir}"
	if [[ ${built} -eq 1 ]]; then
		echo "export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true"
		echo "export PULUMI_SKIP_UPDATE_CHECK=true"
	fi
else
	echo "${bin_dir}"
fi
