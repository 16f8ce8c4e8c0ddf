#!/usr/bin/env bash
# Build pulumi-resource-kubernetes into OUT_DIR from github.com/pulumi/pulumi-kubernetes/provider/v4
# (the version go.mod pins). The provider's main embeds two generated files that the module
# zip does not carry; they are made here from the module's schema.json and
# terraform-mapping.json, the way upstream's generate.go makes them (schema version set,
# both minified), in a copy of this wrapper, so that nothing generated lands in the repo.
#
#   engine/plugins/kubernetes/build.sh OUT_DIR
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT_DIR="${1:?usage: build.sh OUT_DIR}"
MODULE=github.com/pulumi/pulumi-kubernetes/provider/v4
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false -trimpath"

MODULE_VERSION="$(awk -v m="${MODULE}" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "${HERE}/go.mod")"
# The plugin reports the upstream module version it is built from (a pseudo-version: upstream
# tags the repository root, not the provider module).
PLUGIN_VERSION="${MODULE_VERSION#v}"

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
cp "${HERE}/go.mod" "${HERE}/go.sum" "${HERE}/main.go" "${work}/"

module_dir="$(cd "${work}" && go mod download -json "${MODULE}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
python3 - "${module_dir}/cmd/pulumi-resource-kubernetes" "${work}" "${PLUGIN_VERSION}" <<'PY'
import json, sys
source, target, version = sys.argv[1:]
schema = json.load(open(f"{source}/schema.json"))
schema["version"] = version
with open(f"{target}/schema-embed.json", "w") as out:
    json.dump(schema, out, separators=(",", ":"))
with open(f"{target}/terraform-mapping-embed.json", "w") as out:
    json.dump(json.load(open(f"{source}/terraform-mapping.json")), out, separators=(",", ":"))
PY

mkdir -p "${OUT_DIR}"
(cd "${work}" && go build -ldflags "-s -w -X ${MODULE}/pkg/version.Version=${PLUGIN_VERSION}" \
	-o "${work}/pulumi-resource-kubernetes" .)
mv -f "${work}/pulumi-resource-kubernetes" "${OUT_DIR}/pulumi-resource-kubernetes"
