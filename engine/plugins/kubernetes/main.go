// pulumi-resource-kubernetes, built from the pulumi-kubernetes provider module on the Go
// module proxy. Upstream's own main embeds schema-embed.json and terraform-mapping-embed.json,
// which its Makefile generates and the module zip leaves out; build.sh generates both from
// the committed schema.json and terraform-mapping.json into a copy of this directory.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
