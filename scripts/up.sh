#!/usr/bin/env bash
# The main job with the real engine: `pulumi up` of a stack (default: local).
#
#   scripts/up.sh [STACK] [extra pulumi up arguments]
#
# 1. setup (Debian packages, venv); for `local`, a running Docker engine;
# 2. images for `local`: the stack config `webstack:imageSource` says where they come from;
#    when the stack file does not say, up.sh chooses once (WEBSTACK_IMAGE_SOURCE if set, else
#    `registry` when a registry answers, else `local`: the local image set built from Debian's
#    packages) and writes `local` into the stack's config, so that every later plain `pulumi`
#    command does the same; the demo app image is always built here;
# 3. the engine: an existing Pulumi install, or the CLI, the Python host and the docker,
#    random and command plugins built from the Go module proxy and upstream's source
#    (engine/ensure.sh, engine/build.sh), the plugins installed into Pulumi's plugin cache
#    (${PULUMI_HOME:-~/.pulumi}/plugins: engine/install-plugins.sh);
# 4. state in .state/ (a local file backend, ignored by git), passphrase secrets; the
#    local stack's passphrase is the documented default `webstack-local-only`, the other
#    stacks need PULUMI_CONFIG_PASSPHRASE set by you;
# 5. pulumi up, then the URLs.
# Each step prints one progress line with its time; the whole run ends with its total.
set -euo pipefail
cd "$(dirname "$0")/.."
STACK="${1:-local}"
shift || true

log() { printf 'up: %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f s", b - a }'; }
START="$(now)"
step_start=""
step() { # <description>: ends the previous step's line, starts the next
	[ -n "${step_start}" ] && log "  done in $(since "${step_start}")"
	log "$*"
	step_start="$(now)"
}

step "setup: Debian packages and the Python virtualenv"
bash scripts/setup.sh

if [ "${STACK}" = local ]; then
	step "the local Docker engine"
	bash scripts/docker-engine.sh
	source_in_file="$(sed -n 's/^ *webstack:imageSource: *//p' "Pulumi.${STACK}.yaml" 2>/dev/null | tr -d "\"'" || true)"
	IMAGE_SOURCE="${source_in_file:-${WEBSTACK_IMAGE_SOURCE:-}}"
	if [ -z "${IMAGE_SOURCE}" ]; then
		# One probe: can this Docker engine pull a pinned public image?
		if timeout 60 docker pull -q nginx:1.27.3-alpine >/dev/null 2>&1; then
			IMAGE_SOURCE=registry
		else
			IMAGE_SOURCE=local
		fi
	fi
	if [ "${IMAGE_SOURCE}" = local ]; then
		step "images: the local image set, built from Debian's packages (images/build.sh)"
		bash images/build.sh
	else
		step "images: pinned public images from the registry; the demo app built here"
		bash images/build.sh demo-app
	fi
	export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-webstack-local-only}"
elif [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
	log "set PULUMI_CONFIG_PASSPHRASE (or _FILE) for stack ${STACK}: the local default is never used elsewhere"
	exit 2
fi

step "the engine: an installed Pulumi, or the CLI and Python host built here (engine/ensure.sh)"
ENGINE_BIN="$(engine/ensure.sh | tail -1)"
export PATH="${ENGINE_BIN}:${PATH}"
case "${ENGINE_BIN}" in
"${WEBSTACK_ENGINE_CACHE:-${HOME}/.cache/webstack/engine}"/*)
	# Our own build: nothing can be downloaded. Build the provider plugins the program uses
	# (docker and random from the Go module proxy, command from upstream's source).
	export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
	built_engine=1
	step "provider plugins: docker, random, command (engine/build.sh), into Pulumi's plugin cache (engine/install-plugins.sh)"
	if ! engine/build.sh core docker random command >/dev/null; then
		log "a provider plugin could not be built (above). With a Pulumi install that can download plugins:"
		log "  pulumi plugin install resource NAME VERSION (docker 5.2.0, command 1.2.1, random 4.21.4)"
		exit 3
	fi
	# Installed as Pulumi installs downloaded plugins; ENGINE_BIN holds the CLI and its language
	# host only, so no command warns "using pulumi-resource-NAME from $PATH".
	engine/install-plugins.sh "${ENGINE_BIN}" >/dev/null
	;;
esac

step "pulumi up --stack ${STACK}"
mkdir -p .state
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://${PWD}/.state}"
export PULUMI_SKIP_UPDATE_CHECK=true
pulumi stack select --create "${STACK}" --non-interactive
if [ "${STACK}" = local ] && [ -z "${source_in_file}" ] && [ "${IMAGE_SOURCE}" = local ]; then
	log "  webstack:imageSource local written to Pulumi.${STACK}.yaml (no registry answered)"
	pulumi config set webstack:imageSource local --stack "${STACK}" --non-interactive
fi
# What the plain `pulumi` CLI needs after this run, in a file to source (day two:
# `. .webstack/pulumi.env` then `pulumi preview|up|refresh|destroy --stack STACK`). The
# program itself reads nothing from the environment: its behaviour is the stack's config.
mkdir -p .webstack
{
	echo "# written by scripts/up.sh: source it, then use the pulumi CLI as in any Pulumi project"
	echo "export PATH=\"${ENGINE_BIN}:\${PATH}\""
	echo "export PULUMI_BACKEND_URL=\"${PULUMI_BACKEND_URL}\""
	echo "export PULUMI_SKIP_UPDATE_CHECK=true"
	[ -n "${PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION:-}" ] && echo "export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true"
	# Where the plugins built here were installed, when it is not the default ~/.pulumi.
	[ -n "${built_engine:-}" ] && [ -n "${PULUMI_HOME:-}" ] && echo "export PULUMI_HOME=\"${PULUMI_HOME}\""
	[ "${STACK}" = local ] && echo "export PULUMI_CONFIG_PASSPHRASE=\"\${PULUMI_CONFIG_PASSPHRASE:-webstack-local-only}\"  # local only"
	true
} >.webstack/pulumi.env
pulumi up --yes --stack "${STACK}" --non-interactive "$@"
step_start_done="$(since "${step_start}")"
log "  done in ${step_start_done}"

echo
echo "endpoints:"
pulumi stack output endpoints --stack "${STACK}" --json
echo "monitoring:"
pulumi stack output monitoring --stack "${STACK}" --json
echo "logs:"
pulumi stack output logs --stack "${STACK}" --json
log "stack ${STACK} is up; whole run $(since "${START}")"
