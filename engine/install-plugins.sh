#!/usr/bin/env bash
# Put the engine built here where the Pulumi CLI expects it: its resource plugins in Pulumi's
# plugin cache, as if downloaded, and on PATH only the CLI and what it runs from beside itself.
# Prints the directory to put on PATH (last line of stdout).
#
#   engine/install-plugins.sh [DIR]               DIR: what engine/ensure.sh or engine/build.sh
#                                                 printed (default: the dir of the `pulumi` on PATH)
#   engine/install-plugins.sh --path-only [DIR]   only print (and make) the dir for PATH
#
#   export PATH="$(engine/ensure.sh | tail -1):$PATH"
#   engine/install-plugins.sh >/dev/null
#
# For the engine built here (DIR is its bin dir, or the cli dir beside it):
#   - each pulumi-resource-NAME of the bin dir is installed into ${PULUMI_HOME:-~/.pulumi}/plugins
#     with `pulumi plugin install resource NAME VERSION --file BINARY`, at the VERSION the
#     project's SDK asks for: the `version` of pulumi_NAME/pulumi-plugin.json in the project's venv
#     (what the language host reports to the engine). A plugin whose SDK is not in the venv is
#     left out. Already there (`pulumi plugin ls`: same version and size, installed after the
#     binary was built): nothing to do, a fraction of a second.
#   - the dir for PATH is <key>/cli beside <key>/bin: links to `pulumi`, the language host and
#     its exec shim, the bundled pulumi-resource-pulumi-python, but no other resource plugin. A
#     plugin found on PATH makes every command warn "using pulumi-resource-NAME from $PATH".
# Any other Pulumi (an install of its own, which downloads its plugins): nothing is installed and
# DIR is printed as it is.
#
# Environment: PULUMI_HOME (Pulumi's own).
set -euo pipefail

ENGINE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${ENGINE_DIR}/../venv"

log() { printf 'engine/install-plugins.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

PATH_ONLY=0
DIR=""
for arg in "$@"; do
	case "${arg}" in
	--path-only) PATH_ONLY=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	-*) die "unknown argument: ${arg} (see --help)" ;;
	*) DIR="${arg}" ;;
	esac
done
if [[ -z "${DIR}" ]]; then
	found="$(command -v pulumi)" || die "no pulumi on PATH and no DIR given"
	DIR="$(dirname "${found}")"
fi
[[ -x "${DIR}/pulumi" ]] || die "no pulumi in ${DIR}"

# Built here: `pulumi` is (a link to) <key>/bin/pulumi, beside engine/build.sh's stamps/core.
BIN="$(dirname "$(readlink -f "${DIR}/pulumi")")"
if [[ "$(basename "${BIN}")" != bin || ! -f "$(dirname "${BIN}")/stamps/core" ]]; then
	echo "${DIR}"
	exit 0
fi

# <key>/cli: a link to every binary of <key>/bin the CLI needs on PATH or beside itself, no
# resource plugin but the bundled ones (which it looks for beside its own resolved path).
cli_dir() {
	local key cli f name
	key="$(dirname "${BIN}")"
	cli="${key}/cli"
	exec 7>"${key}/.lock-cli"
	flock 7
	mkdir -p "${cli}"
	for f in "${BIN}"/*; do
		name="$(basename "${f}")"
		case "${name}" in
		pulumi-resource-pulumi-nodejs | pulumi-resource-pulumi-python) ;;
		pulumi-resource-*) continue ;;
		esac
		[[ "$(readlink "${cli}/${name}" || true)" == "../bin/${name}" ]] || ln -sfn "../bin/${name}" "${cli}/${name}"
	done
	for f in "${cli}"/*; do
		[[ -e "${f}" ]] || rm -f "${f}" # a link to a binary no longer built
	done
	flock -u 7
	exec 7>&-
	echo "${cli}"
}
CLI="$(cli_dir)"
if [[ ${PATH_ONLY} -eq 1 ]]; then
	echo "${CLI}"
	exit 0
fi

plugins=()
for f in "${BIN}"/pulumi-resource-*; do
	[[ -x "${f}" ]] || continue
	name="${f##*/pulumi-resource-}"
	case "${name}" in pulumi-nodejs | pulumi-python) continue ;; esac
	plugins+=("${name}")
done
if [[ ${#plugins[@]} -eq 0 ]]; then
	echo "${CLI}"
	exit 0
fi
[[ -x "${VENV}/bin/python" ]] || die "no virtualenv at ${VENV} (bash scripts/setup.sh makes it): the plugins' versions are its SDKs'"

export PULUMI_SKIP_UPDATE_CHECK=true
installed="$("${BIN}/pulumi" plugin ls --output json)" || die "pulumi plugin ls failed (PULUMI_HOME=${PULUMI_HOME:-~/.pulumi})"

# One line per plugin: NAME VERSION ok|install (nothing for a plugin whose SDK is not in the venv).
plan="$(
	"${VENV}/bin/python" - "${installed}" "${BIN}" "${plugins[@]}" <<'EOF'
import importlib.util
import json
import sys
from datetime import datetime
from pathlib import Path

cached, bin_dir, names = json.loads(sys.argv[1]) or [], Path(sys.argv[2]), sys.argv[3:]
for name in names:
    spec = importlib.util.find_spec(f"pulumi_{name.replace('-', '_')}")
    metadata = [Path(p) / "pulumi-plugin.json" for p in (spec.submodule_search_locations or [])] if spec else []
    found = [json.loads(p.read_text()) for p in metadata if p.is_file()]
    if not found or not found[0].get("version"):
        print(f"{name} - sdk-missing")
        continue
    version = found[0]["version"]
    binary = (bin_dir / f"pulumi-resource-{name}").stat()
    fresh = any(
        p.get("kind") == "resource"
        and p.get("name") == name
        and p.get("version") == version
        and p.get("size") == binary.st_size
        and datetime.fromisoformat(p.get("installTime", "1970-01-01T00:00:00Z")).timestamp() >= binary.st_mtime
        for p in cached
    )
    print(name, version, "ok" if fresh else "install")
EOF
)" || die "could not read the SDKs' plugin versions from ${VENV}"

while read -r name version action; do
	case "${action}" in
	ok) ;;
	sdk-missing) log "pulumi-resource-${name}: no pulumi_${name} SDK in ${VENV}, left out" ;;
	install)
		log "pulumi-resource-${name} ${version}: installing from ${BIN}"
		"${BIN}/pulumi" plugin install resource "${name}" "${version}" --file "${BIN}/pulumi-resource-${name}" \
			--reinstall --non-interactive >&2 || die "pulumi plugin install resource ${name} ${version} failed"
		;;
	esac
done <<<"${plan}"
echo "${CLI}"
