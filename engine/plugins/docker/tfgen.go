//go:build tfgen

package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"
)

// Built with -tags tfgen, this binary is pulumi-tfgen-docker: build.sh runs
// `pulumi-tfgen-docker schema --out DIR` to produce schema.json and bridge-metadata.json.
func main() {
	tfgen.Main(mainPkg, version, Provider())
}
