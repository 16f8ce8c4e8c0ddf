#!/usr/bin/env bash
# The main job with the real engine: `pulumi up` of a stack (default: local).
#
#   scripts/up.sh [STACK] [extra pulumi up arguments]
#
# 1. setup (Debian packages, venv); for `local`, a running Docker engine;
# 2. images for `local`: the pinned public images when a registry answers, otherwise the
#    local image set built from Debian's packages (WEBSTACK_IMAGE_SOURCE=local); the demo
#    app image is always built here;
# 3. the engine: an existing Pulumi install, or the CLI built from the Go module proxy
#    (engine/ensure.sh); the provider plugins must be installed or downloadable;
# 4. state in .state/ (a local file backend, ignored by git), passphrase secrets; the
#    local stack's passphrase is the documented default `webstack-local-only`, the other
#    stacks need PULUMI_CONFIG_PASSPHRASE set by you;
# 5. pulumi up, then the URLs.
set -euo pipefail
cd "$(dirname "$0")/.."
STACK="${1:-local}"
shift || true

log() { printf 'up: %s\n' "$*" >&2; }

bash scripts/setup.sh

if [ "${STACK}" = local ]; then
	bash scripts/docker-engine.sh
	if [ -z "${WEBSTACK_IMAGE_SOURCE:-}" ]; then
		# One probe: can this Docker engine pull a pinned public image?
		if timeout 60 docker pull -q nginx:1.27.3-alpine >/dev/null 2>&1; then
			WEBSTACK_IMAGE_SOURCE=registry
		else
			WEBSTACK_IMAGE_SOURCE=local
		fi
	fi
	export WEBSTACK_IMAGE_SOURCE
	log "images: ${WEBSTACK_IMAGE_SOURCE}"
	if [ "${WEBSTACK_IMAGE_SOURCE}" = local ]; then
		bash images/build.sh
	else
		bash images/build.sh demo-app
	fi
	export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-webstack-local-only}"
elif [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
	log "set PULUMI_CONFIG_PASSPHRASE (or _FILE) for stack ${STACK}: the local default is never used elsewhere"
	exit 2
fi

ENGINE_BIN="$(engine/ensure.sh | tail -1)"
export PATH="${ENGINE_BIN}:${PATH}"
case "${ENGINE_BIN}" in
"${WEBSTACK_ENGINE_CACHE:-${HOME}/.cache/webstack/engine}"/*)
	# Our own build: nothing can be downloaded. Build the plugins the Go module proxy allows
	# (engine/plugins: docker, random); the others must already be there.
	export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
	engine/build.sh core docker random >/dev/null
	missing=()
	for plugin in docker command random; do
		command -v "pulumi-resource-${plugin}" >/dev/null ||
			compgen -G "${PULUMI_HOME:-${HOME}/.pulumi}/plugins/resource-${plugin}-v*" >/dev/null ||
			missing+=("${plugin}")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		log "missing provider plugins: ${missing[*]}. They cannot be built here (engine/NOTES.md, 'Resource plugins');"
		log "install them with: pulumi plugin install resource NAME VERSION --file BINARY"
		log "(versions: docker 5.2.0, command 1.2.1, random 4.21.4), or put pulumi-resource-NAME on PATH."
		exit 3
	fi
	;;
esac

mkdir -p .state
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://${PWD}/.state}"
export PULUMI_SKIP_UPDATE_CHECK=true
pulumi stack select --create "${STACK}" --non-interactive
pulumi up --yes --stack "${STACK}" --non-interactive "$@"
echo
pulumi stack output endpoints --stack "${STACK}" --json
pulumi stack output monitoring --stack "${STACK}" --json
