//go:build !tfgen

// pulumi-resource-random: the Terraform random provider bridged to Pulumi with tokens and
// property names of the pulumi-random SDK. build.sh generates schema-embed.json and
// bridge-metadata.json with the tfgen flavour of this package (tfgen.go) before building this.
package main

import (
	"context"
	_ "embed"
	"encoding/json"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
)

//go:embed schema-embed.json
var packageSchema []byte

//go:embed bridge-metadata.json
var bridgeMetadata []byte

func main() {
	pftfbridge.Main(context.Background(), "random", Provider(bridgeMetadata),
		pftfbridge.ProviderMetadata{PackageSchema: withVersion(packageSchema, version)})
}

// withVersion sets the schema's "version" (tfgen leaves it out so that the schema does not
// depend on the version); the engine reads the package version from GetSchema.
func withVersion(schema []byte, v string) []byte {
	var spec map[string]json.RawMessage
	if err := json.Unmarshal(schema, &spec); err != nil {
		panic("schema-embed.json: " + err.Error())
	}
	spec["version"], _ = json.Marshal(v)
	out, err := json.Marshal(spec)
	if err != nil {
		panic("schema-embed.json: " + err.Error())
	}
	return out
}
