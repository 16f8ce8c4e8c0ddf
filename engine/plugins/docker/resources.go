// Package main is a Pulumi resource plugin for Docker, bridged from the Terraform provider
// github.com/kreuzwerker/terraform-provider-docker with pulumi-terraform-bridge v3. It mimics
// the token and property names of pulumi-docker v5 (the Python SDK pulumi-docker==5.2.0) for
// the bridged resources. It is built by build.sh, which copies the upstream module out of the
// module cache, adds the ./shim package (the provider lives in an internal package) and
// generates the schema; nothing of the upstream is committed here.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/terraform-providers/terraform-provider-docker/shim"
)

const (
	mainPkg = "docker"
	mainMod = "index"
)

// version is set with -ldflags "-X main.version=...".
var version = "5.2.0"

// bridgeMetadata is written by tfgen next to the schema (build.sh copies it here; an empty
// object before the first tfgen run).
//
//go:embed bridge-metadata.json
var bridgeMetadata []byte

// resourceTok gives docker:index/name:Name, as pulumi-docker names its resources.
func resourceTok(name string) tokens.Type { return tfbridge.MakeResource(mainPkg, mainMod, name) }

// functionTok gives docker:index/getName:getName.
func functionTok(name string) tokens.ModuleMember {
	return tfbridge.MakeDataSource(mainPkg, mainMod, name)
}

// Provider returns the bridge's description of the provider: the tokens and renames that
// make the Terraform schema look like pulumi-docker 5.2.0's.
func Provider() tfbridge.ProviderInfo {
	p := shimv2.NewProvider(shim.NewProvider(version))

	return tfbridge.ProviderInfo{
		P:            p,
		Name:         "docker",
		Version:      version,
		DisplayName:  "Docker",
		Description:  "A Pulumi package for interacting with Docker in Pulumi programs",
		Keywords:     []string{"pulumi", "docker"},
		License:      "Apache-2.0",
		Homepage:     "https://pulumi.io",
		Repository:   "https://github.com/pulumi/pulumi-docker",
		GitHubOrg:    "kreuzwerker",
		MetadataInfo: tfbridge.NewProviderMetadata(bridgeMetadata),
		Config: map[string]*tfbridge.SchemaInfo{
			"host": {
				Default: &tfbridge.DefaultInfo{EnvVars: []string{"DOCKER_HOST"}, Value: "unix:///var/run/docker.sock"},
			},
			"ssh_opts": {
				Default: &tfbridge.DefaultInfo{EnvVars: []string{"DOCKER_SSH_OPTS"}},
			},
			// pulumi-docker keeps the singular name for this list of blocks.
			"registry_auth": {Name: "registryAuth"},
		},
		Resources: map[string]*tfbridge.ResourceInfo{
			"docker_buildx_builder": {Tok: resourceTok("BuildxBuilder")},
			"docker_config":         {Tok: resourceTok("ServiceConfig"), Fields: autoNamed()},
			"docker_container": {
				Tok: resourceTok("Container"),
				// pulumi-docker's names; the bridge would say "commands" and "networksAdvanceds".
				Fields: map[string]*tfbridge.SchemaInfo{
					"command":           {Name: "command"},
					"entrypoint":        {Name: "entrypoints"},
					"networks_advanced": {Name: "networksAdvanced"},
					"name":              autoName(),
				},
			},
			"docker_image":          {Tok: resourceTok("RemoteImage")},
			"docker_network":        {Tok: resourceTok("Network"), Fields: autoNamed()},
			"docker_plugin":         {Tok: resourceTok("Plugin")},
			"docker_registry_image": {Tok: resourceTok("RegistryImage")},
			"docker_secret":         {Tok: resourceTok("Secret"), Fields: autoNamed()},
			"docker_service":        {Tok: resourceTok("Service"), Fields: autoNamed()},
			"docker_tag":            {Tok: resourceTok("Tag")},
			"docker_volume":         {Tok: resourceTok("Volume")},
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			"docker_image":                    {Tok: functionTok("getRemoteImage")},
			"docker_logs":                     {Tok: functionTok("getLogs")},
			"docker_network":                  {Tok: functionTok("getNetwork")},
			"docker_plugin":                   {Tok: functionTok("getPlugin")},
			"docker_registry_image":           {Tok: functionTok("getRegistryImage")},
			"docker_registry_image_manifests": {Tok: functionTok("getRegistryImageManifests")},
		},
	}
}

// pulumi-docker auto-names the resources whose name is only a label (the SDK makes `name`
// optional; Terraform requires it): the resource's name plus a random suffix, as Pulumi does
// everywhere. Not plugins and registry images, whose name says what to fetch.
func autoName() *tfbridge.SchemaInfo { return tfbridge.AutoName("name", 255, "-") }

func autoNamed() map[string]*tfbridge.SchemaInfo {
	return map[string]*tfbridge.SchemaInfo{"name": autoName()}
}
