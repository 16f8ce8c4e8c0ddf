// pulumi-language-python (webstack build): a Python language host for the Pulumi CLI.
//
// Why this exists: the official host lives in its own Go module
// (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3) that is only ever
// published under pseudo-versions, and none of them can be fetched from the Go module
// proxy reachable from our machines (see engine/NOTES.md). This host is written against
// the official sdk/v3 module of the same release as the CLI: it uses the SDK's own gRPC
// definitions, its Python toolchain package (virtualenv / pip / poetry / uv handling) and
// runs programs through the SDK's own `pulumi-language-python-exec` script, which must sit
// next to this binary. It implements what `pulumi up/preview/destroy/install/about` and
// Python policy packs need; code generation RPCs (convert, package gen-sdk, import
// --generate-code) are answered as unimplemented.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"google.golang.org/grpc"
	pbempty "google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

// version is set with -ldflags "-X main.version=..." by engine/build.sh.
var version = "0.0.0-dev"

const (
	execSuffix = "-exec"
	// Exit code the exec script uses after it has already shown the user an actionable message.
	bailExitCode = 32
)

func main() {
	// The CLI passes the engine address as the only positional argument. Older CLIs also passed
	// flags; accept the known ones so that an older CLI does not make us exit.
	flags := flag.NewFlagSet("pulumi-language-python", flag.ContinueOnError)
	tracing := flags.String("tracing", "", "Zipkin-compatible tracing endpoint (passed on to the program)")
	_ = flags.String("virtualenv", "", "ignored: the virtualenv comes from the project's runtime options")
	_ = flags.String("typechecker", "", "ignored")
	_ = flags.String("toolchain", "", "ignored")
	_ = flags.String("root", "", "ignored")
	_ = flags.Bool("logtostderr", false, "ignored")
	_ = flags.Int("v", 0, "ignored")
	if err := flags.Parse(os.Args[1:]); err != nil {
		fatal(err)
	}

	execScript, err := findExecScript()
	if err != nil {
		fatal(err)
	}

	host := &pythonHost{exec: execScript, tracing: *tracing}
	if flags.NArg() > 0 {
		host.engineAddress = flags.Arg(0)
	}

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		fatal(fmt.Errorf("could not start language host RPC server: %w", err))
	}
	// The CLI reads the port from our first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fatal(fmt.Errorf("language host RPC stopped serving: %w", err))
	}
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
	os.Exit(1)
}

// findExecScript looks for pulumi-language-python-exec next to this binary, then on PATH.
func findExecScript() (string, error) {
	name := "pulumi-language-python" + execSuffix
	if self, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(self); err == nil {
			self = resolved
		}
		candidate := filepath.Join(filepath.Dir(self), name)
		if _, err := os.Stat(candidate); err == nil {
			return candidate, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("could not find %s next to the language host or on PATH: %w", name, err)
	}
	return p, nil
}

type pythonHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	exec          string
	engineAddress string
	tracing       string
}

// options turns the project's `runtime.options` into toolchain options.
func options(info *pulumirpc.ProgramInfo) (toolchain.PythonOptions, error) {
	if info == nil {
		return toolchain.PythonOptions{}, errors.New("the CLI sent no program info; this host needs pulumi >= 3.130")
	}
	opts := toolchain.PythonOptions{
		Root:       info.RootDirectory,
		ProgramDir: info.ProgramDirectory,
		Toolchain:  toolchain.Pip,
	}
	raw := map[string]any{}
	if info.Options != nil {
		raw = info.Options.AsMap()
	}
	if v, ok := raw["virtualenv"]; ok {
		s, ok := v.(string)
		if !ok {
			return opts, errors.New("virtualenv option must be a string")
		}
		opts.Virtualenv = s
	}
	if v, ok := raw["toolchain"]; ok {
		s, _ := v.(string)
		switch s {
		case "pip":
			opts.Toolchain = toolchain.Pip
		case "poetry":
			opts.Toolchain = toolchain.Poetry
		case "uv":
			opts.Toolchain = toolchain.Uv
		default:
			return opts, fmt.Errorf("unsupported toolchain option %q (pip, poetry or uv)", s)
		}
	} else if opts.Virtualenv == "" {
		// Same default as the official host: look for uv.lock / poetry.lock, else pip.
		opts.Toolchain = toolchain.Auto
	}
	if v, ok := raw["typechecker"]; ok {
		if s, _ := v.(string); s != "" {
			return opts, fmt.Errorf("typechecker %q is not supported by the webstack language host; "+
				"run it in CI instead", s)
		}
	}
	return opts, nil
}

func (h *pythonHost) Handshake(
	ctx context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	if req.EngineAddress != "" {
		h.engineAddress = req.EngineAddress
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *pythonHost) GetPluginInfo(ctx context.Context, _ *pbempty.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// pluginListScript prints, as JSON, the pulumi-plugin.json of every installed distribution.
const pluginListScript = `
import json, importlib.metadata as md
out = []
for d in md.distributions():
    for f in d.files or []:
        if f.name == "pulumi-plugin.json":
            try:
                data = json.loads(f.read_text())
            except Exception:
                continue
            out.append({"package": d.metadata["Name"], "version": d.version, "plugin": data})
print(json.dumps(out))
`

type installedPlugin struct {
	Package string                  `json:"package"`
	Version string                  `json:"version"`
	Plugin  plugin.PulumiPluginJSON `json:"plugin"`
}

// requiredPackages lists the resource plugins declared by the installed Pulumi Python SDKs
// (pulumi_random/pulumi-plugin.json and so on).
func requiredPackages(ctx context.Context, info *pulumirpc.ProgramInfo) ([]*pulumirpc.PackageDependency, error) {
	opts, err := options(info)
	if err != nil {
		return nil, err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return nil, err
	}
	cmd, err := tc.Command(ctx, "-c", pluginListScript)
	if err != nil {
		return nil, err
	}
	cmd.Dir = info.ProgramDirectory
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing installed Pulumi packages failed: %w: %s", err, stderr.String())
	}
	var found []installedPlugin
	if err := json.Unmarshal(out, &found); err != nil {
		return nil, fmt.Errorf("parsing installed Pulumi packages: %w", err)
	}
	seen := map[string]bool{}
	var deps []*pulumirpc.PackageDependency
	for _, f := range found {
		if !f.Plugin.Resource {
			continue
		}
		name := f.Plugin.Name
		if name == "" {
			name = strings.TrimPrefix(strings.ToLower(f.Package), "pulumi-")
		}
		v := f.Plugin.Version
		if v == "" {
			v = f.Version
		}
		if !strings.HasPrefix(v, "v") {
			v = "v" + v
		}
		key := name + "@" + v
		if seen[key] {
			continue
		}
		seen[key] = true
		dep := &pulumirpc.PackageDependency{Kind: "resource", Name: name, Version: v, Server: f.Plugin.Server}
		if p := f.Plugin.Parameterization; p != nil {
			dep.Parameterization = &pulumirpc.PackageParameterization{
				Name: p.Name, Version: p.Version, Value: p.Value,
			}
		}
		deps = append(deps, dep)
	}
	return deps, nil
}

func (h *pythonHost) GetRequiredPackages(
	ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	deps, err := requiredPackages(ctx, req.Info)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: deps}, nil
}

func (h *pythonHost) GetRequiredPlugins(
	ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	deps, err := requiredPackages(ctx, req.Info)
	if err != nil {
		return nil, err
	}
	var plugins []*pulumirpc.PluginDependency
	for _, d := range deps {
		if d.Parameterization != nil {
			continue
		}
		plugins = append(plugins, &pulumirpc.PluginDependency{
			Name: d.Name, Kind: d.Kind, Version: d.Version, Server: d.Server,
		})
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: plugins}, nil
}

// Run executes the program through pulumi-language-python-exec in the project's virtualenv.
func (h *pythonHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	if req.GetAttachDebugger() {
		return &pulumirpc.RunResponse{Error: "--attach-debugger is not supported by the webstack language host"}, nil
	}
	opts, err := options(req.Info)
	if err != nil {
		return nil, err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}

	args := []string{"-u", h.exec}
	add := func(k, v string) {
		if v != "" {
			args = append(args, "--"+k, v)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", h.engineAddress)
	add("project", req.GetProject())
	add("root_directory", req.Info.RootDirectory)
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	add("dry_run", fmt.Sprintf("%v", req.GetDryRun()))
	add("parallel", fmt.Sprint(req.GetParallel()))
	add("tracing", h.tracing)
	add("organization", req.GetOrganization())
	program := req.GetProgram()
	if req.Info.ProgramDirectory != "" {
		entry := req.Info.EntryPoint
		if entry == "" {
			entry = "."
		}
		program = filepath.Join(req.Info.ProgramDirectory, entry)
	}
	if program == "" {
		program = "."
	}
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return nil, err
	}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	env = append(env, "PYTHONUNBUFFERED=1")
	if len(req.GetConfig()) > 0 {
		b, err := json.Marshal(req.GetConfig())
		if err != nil {
			return nil, fmt.Errorf("serializing config: %w", err)
		}
		env = append(env, "PULUMI_CONFIG="+string(b))
	}
	if len(req.GetConfigSecretKeys()) > 0 {
		b, err := json.Marshal(req.GetConfigSecretKeys())
		if err != nil {
			return nil, fmt.Errorf("serializing config secret keys: %w", err)
		}
		env = append(env, "PULUMI_CONFIG_SECRET_KEYS="+string(b))
	}
	cmd.Env = env
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr

	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if exitErr.ExitCode() == bailExitCode {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{
				Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exitErr.ExitCode()),
			}, nil
		}
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("Problem executing program (could not run language executor): %v", err),
		}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// InstallDependencies backs `pulumi install`: creates the virtualenv and installs requirements.
func (h *pythonHost) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	opts, err := options(req.Info)
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeInstallDependenciesStreams(server, req.IsTerminal)
	if err != nil {
		return err
	}
	defer closer.Close()
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return err
	}
	if err := tc.InstallDependencies(server.Context(), req.Info.ProgramDirectory,
		req.UseLanguageVersionTools, true /*showOutput*/, stdout, stderr); err != nil {
		return err
	}
	return closer.Close()
}

// RunPlugin runs a Python plugin, e.g. a policy pack: `python <dir> <args>` in its virtualenv.
func (h *pythonHost) RunPlugin(
	req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer,
) error {
	opts, err := options(req.Info)
	if err != nil {
		return err
	}
	// Like the official host: plugins never run in the ambient Python; default to ./venv.
	if (opts.Toolchain == toolchain.Pip || opts.Toolchain == toolchain.Auto) && opts.Virtualenv == "" {
		opts.Toolchain = toolchain.Pip
		opts.Virtualenv = "venv"
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return err
	}
	args := append([]string{"-u", req.Info.ProgramDirectory}, req.Args...)
	cmd, err := tc.Command(server.Context(), args...)
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()
	cmd.Dir = req.Pwd
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, req.Env...)
	cmd.Env = append(cmd.Env, "PYTHONUNBUFFERED=1")
	cmd.Stdout, cmd.Stderr = stdout, stderr

	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return err
		}
		if err := closer.Close(); err != nil {
			return err
		}
		return server.Send(&pulumirpc.RunPluginResponse{
			Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(exitErr.ExitCode())},
		})
	}
	return closer.Close()
}

func (h *pythonHost) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	opts, err := options(req.Info)
	if err != nil {
		return nil, err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return nil, err
	}
	info, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{
		Executable: info.PythonExecutable,
		Version:    info.PythonVersion.String(),
	}, nil
}

func (h *pythonHost) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	opts, err := options(req.Info)
	if err != nil {
		return nil, err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return nil, err
	}
	pkgs, err := tc.ListPackages(ctx, req.TransitiveDependencies)
	if err != nil {
		return nil, fmt.Errorf("failed to get python dependencies: %w", err)
	}
	deps := make([]*pulumirpc.DependencyInfo, 0, len(pkgs))
	for _, p := range pkgs {
		deps = append(deps, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

func (h *pythonHost) RuntimeOptionsPrompts(
	ctx context.Context, req *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}
