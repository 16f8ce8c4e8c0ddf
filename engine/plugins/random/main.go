//go:build !tfgen

// pulumi-resource-random: the Terraform random provider bridged to Pulumi with tokens and
// property names of the pulumi-random SDK. build.sh generates schema-embed.json and
// bridge-metadata.json with the tfgen flavour of this package (tfgen.go) before building this,
// and sets the schema's version.
package main

import (
	"context"
	_ "embed"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
)

//go:embed schema-embed.json
var packageSchema []byte

//go:embed bridge-metadata.json
var bridgeMetadata []byte

func main() {
	pftfbridge.Main(context.Background(), "random", Provider(bridgeMetadata),
		pftfbridge.ProviderMetadata{PackageSchema: packageSchema})
}
