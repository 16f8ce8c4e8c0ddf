#!/usr/bin/env bash
# End-to-end check of the engine that engine/ensure.sh provides, in a throwaway directory:
# a Python project in its own virtualenv (SDKs from PyPI), a local file:// backend,
# `pulumi up / stack output / destroy`, and `pulumi preview --policy-pack` with a Python pack.
#
#   engine/smoke-test.sh                 use (or build) the engine, then run the checks
#   WORK=/tmp/x engine/smoke-test.sh     keep the work directory at /tmp/x
#
# The stack uses a Python dynamic provider (served by pulumi-resource-pulumi-python, which ships
# with the engine). If pulumi-resource-random and pulumi-resource-command are installed (the
# engine's bin dir has them: engine/build.sh random command puts them there, and
# engine/install-plugins.sh installs them into this run's PULUMI_HOME) or on PATH, it also declares
# random.RandomPassword and command.local.Command; otherwise those are reported as skipped.
# Prints 'N passed, N failed' at the end; exit status 1 if anything failed.
set -euo pipefail

ENGINE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PULUMI_PIN="${PULUMI_PIN:-3.259.0}"
RANDOM_PIN="${RANDOM_PIN:-4.21.4}"
COMMAND_PIN="${COMMAND_PIN:-1.2.1}"
POLICY_PIN="${POLICY_PIN:-1.21.0}"

WORK="${WORK:-$(mktemp -d /tmp/webstack-engine-smoke.XXXXXX)}"
mkdir -p "${WORK}"
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_HOME="${WORK}/pulumi-home" PULUMI_CONFIG_PASSPHRASE=test
PATH="$("${ENGINE_DIR}/ensure.sh" | tail -1):${PATH}"
export PATH
"${ENGINE_DIR}/install-plugins.sh" >/dev/null

passed=0
failed=0
ok() { echo "PASS: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }

echo "engine: $(command -v pulumi) $(pulumi version); work dir: ${WORK}"

have_random=0
have_command=0
on_path=0
installed="$(pulumi plugin ls --output json)"
plugin_here() { # <name>: installed in PULUMI_HOME, or on PATH (then the CLI warns, and says so)
	grep -q "\"name\": \"$1\"" <<<"${installed}" && return 0
	command -v "pulumi-resource-$1" >/dev/null && on_path=1
}
plugin_here random && have_random=1
plugin_here command && have_command=1

python3 -m venv "${WORK}/venv"
"${WORK}/venv/bin/pip" install -q "pulumi==${PULUMI_PIN}" "pulumi-random==${RANDOM_PIN}" \
	"pulumi-command==${COMMAND_PIN}" "pulumi-policy==${POLICY_PIN}"

mkdir -p "${WORK}/project" "${WORK}/policy" "${WORK}/state"
cat >"${WORK}/project/Pulumi.yaml" <<'EOF'
name: engine-smoke
runtime:
  name: python
  options:
    virtualenv: ../venv
EOF
cat >"${WORK}/project/__main__.py" <<EOF
import pulumi
from pulumi.dynamic import CreateResult, Resource, ResourceProvider


class UpperProvider(ResourceProvider):
    def create(self, props):
        return CreateResult(id_="upper", outs={"text": props["text"].upper()})


class Upper(Resource):
    text: pulumi.Output[str]

    def __init__(self, name, text, opts=None):
        super().__init__(UpperProvider(), name, {"text": text}, opts)


cfg = pulumi.Config()
up = Upper("upper", cfg.get("text") or "hello")
pulumi.export("upper", up.text)
pulumi.export("secret", pulumi.Output.secret("s3cr3t"))

if ${have_random}:
    import pulumi_random as random
    pw = random.RandomPassword("pw", length=20, special=False)
    pulumi.export("pw_length", pw.result.apply(len))
if ${have_command}:
    from pulumi_command import local
    hi = local.Command("hi", create="echo hi")
    pulumi.export("hi", hi.stdout)
EOF
cat >"${WORK}/policy/PulumiPolicy.yaml" <<'EOF'
description: engine smoke-test pack
runtime:
  name: python
  options:
    virtualenv: ../venv
EOF
cat >"${WORK}/policy/__main__.py" <<'EOF'
from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy


def no_forbidden(args, report_violation):
    if args.props.get("text") == "forbidden":
        report_violation("text must not be 'forbidden'")


PolicyPack(
    name="engine-smoke",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[ResourceValidationPolicy(name="no-forbidden", description="smoke", validate=no_forbidden)],
)
EOF

cd "${WORK}/project"
pulumi login "file://${WORK}/state" >/dev/null
pulumi stack init dev >/dev/null

if pulumi up --yes --non-interactive >"${WORK}/up.log" 2>&1; then ok "pulumi up"; else bad "pulumi up (${WORK}/up.log)"; fi
if [[ ${on_path} -eq 0 ]]; then
	if grep -qF "from \$PATH" "${WORK}/up.log"; then bad "a plugin was taken from PATH (${WORK}/up.log)"; else ok "no plugin from PATH"; fi
fi
if [[ "$(pulumi stack output upper 2>/dev/null)" == HELLO ]]; then ok "stack output from a dynamic provider"; else bad "stack output upper"; fi
if [[ "$(pulumi stack output secret 2>/dev/null)" == "[secret]" ]]; then ok "secret output stays secret"; else bad "secret output"; fi
if [[ ${have_random} -eq 1 ]]; then
	if [[ "$(pulumi stack output pw_length --show-secrets 2>/dev/null)" == 20 ]]; then ok "random.RandomPassword"; else bad "random.RandomPassword"; fi
else
	echo "SKIP: random.RandomPassword (no pulumi-resource-random installed or on PATH)"
fi
if [[ ${have_command} -eq 1 ]]; then
	if [[ "$(pulumi stack output hi 2>/dev/null)" == hi ]]; then ok "command.local.Command"; else bad "command.local.Command"; fi
else
	echo "SKIP: command.local.Command (no pulumi-resource-command installed or on PATH)"
fi
if pulumi preview --non-interactive --policy-pack "${WORK}/policy" >"${WORK}/policy-ok.log" 2>&1; then
	ok "preview with a passing Python policy pack"
else
	bad "preview with policy pack (${WORK}/policy-ok.log)"
fi
pulumi config set text forbidden
if pulumi preview --non-interactive --policy-pack "${WORK}/policy" >"${WORK}/policy-bad.log" 2>&1; then
	bad "a mandatory policy violation did not fail the preview"
elif grep -q "text must not be 'forbidden'" "${WORK}/policy-bad.log"; then
	ok "a mandatory policy violation fails the preview"
else
	bad "policy violation preview failed for another reason (${WORK}/policy-bad.log)"
fi
pulumi config rm text
if pulumi destroy --yes --non-interactive >"${WORK}/destroy.log" 2>&1; then ok "pulumi destroy"; else bad "pulumi destroy (${WORK}/destroy.log)"; fi

echo "${passed} passed, ${failed} failed"
[[ ${failed} -eq 0 ]]
