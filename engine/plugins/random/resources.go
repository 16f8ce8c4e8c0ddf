package main

import (
	"context"
	"fmt"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"

	// The shim package is not part of the upstream module: build.sh adds it to the copy of the
	// upstream tree that the replace directive in go.mod points at. It returns the upstream
	// provider from internal/provider, which this module could not import directly.
	"github.com/terraform-providers/terraform-provider-random/shim"
)

// version is the provider version reported to the engine. The default is the version the
// pulumi-random Python SDK pinned in requirements.txt asks for; build.sh sets it with -ldflags.
// See NOTES.md: the Terraform code underneath is an upstream commit, not pulumi-random's pin.
var version = "4.21.4"

// Tokens of the pulumi-random SDK (package "random", module "index"). Every Terraform resource
// is mapped explicitly so that a new upstream resource does not silently get a token the SDK
// does not know; tfgen fails on resources that are neither mapped nor ignored.
var resourceTokens = map[string]string{
	"random_bytes":    "random:index/randomBytes:RandomBytes",
	"random_id":       "random:index/randomId:RandomId",
	"random_integer":  "random:index/randomInteger:RandomInteger",
	"random_password": "random:index/randomPassword:RandomPassword",
	"random_pet":      "random:index/randomPet:RandomPet",
	"random_shuffle":  "random:index/randomShuffle:RandomShuffle",
	"random_string":   "random:index/randomString:RandomString",
	"random_uuid":     "random:index/randomUuid:RandomUuid",
	"random_uuid4":    "random:index/randomUuid4:RandomUuid4",
	"random_uuid7":    "random:index/randomUuid7:RandomUuid7",
}

// Provider returns the bridge's description of the provider. bridgeMetadata is the content of
// bridge-metadata.json: empty when tfgen generates it, the generated file at run time.
func Provider(bridgeMetadata []byte) tfbridge.ProviderInfo {
	resources := make(map[string]*tfbridge.ResourceInfo, len(resourceTokens))
	for tf, tok := range resourceTokens {
		resources[tf] = &tfbridge.ResourceInfo{Tok: tokens.Type(tok)}
	}
	// random_bytes has no "id" attribute; its ID is its base64 value, as in pulumi-random.
	resources["random_bytes"].ComputeID = idFromBase64
	// States written with the missing-version bug of old pulumi-random releases
	// (pulumi/pulumi-random#258) are treated as schema version 1.
	resources["random_string"].PreStateUpgradeHook = func(
		args tfbridge.PreStateUpgradeHookArgs,
	) (int64, resource.PropertyMap, error) {
		if args.PriorStateSchemaVersion == 0 {
			return 1, args.PriorState, nil
		}
		return args.PriorStateSchemaVersion, args.PriorState, nil
	}

	prov := tfbridge.ProviderInfo{
		P:            pftfbridge.ShimProvider(shim.NewProvider()),
		Name:         "random",
		Version:      version,
		Description:  "A Pulumi package to safely use randomness in Pulumi programs.",
		Keywords:     []string{"pulumi", "random"},
		License:      "Apache-2.0",
		Homepage:     "https://pulumi.io",
		Repository:   "https://github.com/pulumi/pulumi-random",
		GitHubOrg:    "hashicorp",
		MetadataInfo: tfbridge.NewProviderMetadata(bridgeMetadata),
		Resources:    resources,

		EnableAccurateBridgePreview: true,
		EnableRawStateDelta:         true,
	}
	// Records the token/field history in bridge-metadata.json (tfgen) and applies it (run time),
	// as pulumi-random does. This build starts from an empty history.
	prov.MustApplyAutoAliases()
	return prov
}

func idFromBase64(_ context.Context, state resource.PropertyMap) (resource.ID, error) {
	v, ok := state["base64"]
	if !ok {
		return "", fmt.Errorf("random_bytes: no base64 property in the state")
	}
	// base64 is Sensitive in the Terraform schema, so it arrives as a secret; IDs cannot be.
	if v.IsSecret() {
		v = v.SecretValue().Element
	}
	if !v.IsString() {
		return "", fmt.Errorf("random_bytes: base64 is %v, not a string", v.TypeString())
	}
	return resource.ID(v.StringValue()), nil
}
