//go:build tfgen

// The tfgen flavour of this package (go build -tags tfgen): `<bin> schema --out DIR` writes
// schema.json and bridge-metadata.json, which build.sh embeds into pulumi-resource-random.
package main

import (
	"os"

	pftfgen "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"
)

func main() {
	info := Provider(nil)
	// Docs come from the upstream tree build.sh copied (its docs/ folder); without this the
	// bridge would look for the upstream module in the module cache under its own path.
	if dir := os.Getenv("UPSTREAM_DIR"); dir != "" {
		info.UpstreamRepoPath = dir
	}
	pftfgen.Main("random", info)
}
