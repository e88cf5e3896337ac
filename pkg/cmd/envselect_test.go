package cmd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/environment"
)

// envTestKubeconfig writes a kubeconfig with contexts envops-dev (current,
// namespace "web") and envops-prod; their servers are never contacted.
func envTestKubeconfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(`apiVersion: v1
kind: Config
clusters:
- {name: dev, cluster: {server: "https://127.0.0.1:1"}}
- {name: prod, cluster: {server: "https://127.0.0.1:2"}}
users: [{name: u, user: {token: t}}]
contexts:
- {name: envops-dev, context: {cluster: dev, user: u, namespace: web}}
- {name: envops-prod, context: {cluster: prod, user: u}}
current-context: envops-dev
`), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// envTestProject writes an .envops.yaml and returns its path.
func envTestProject(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), config.FileName)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// envTestGlobals builds Globals on a kubeconfig and project file, as the
// root command would after parsing --kubeconfig, --context, -n and --config.
func envTestGlobals(t *testing.T, kubeconfig, project, kubeContext, namespace string) (*Globals, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = &kubeconfig
	flags.Context = &kubeContext
	flags.Namespace = &namespace
	return &Globals{ConfigFlags: flags, Factory: cmdutil.NewFactory(flags), Streams: streams, ConfigPath: project}, out, errOut
}

const envTestMappings = "environments:\n  dev: {context: envops-dev}\n  prod: {context: envops-prod, namespace: shop, confirm: true}\n"

func TestResolve(t *testing.T) {
	kubeconfig := envTestKubeconfig(t)
	mapped := envTestProject(t, envTestMappings)
	unmapped := envTestProject(t, "secret: {name: environment}\n")
	badContext := envTestProject(t, "environments:\n  qa: {context: nowhere}\n")

	tests := []struct {
		name          string
		project       string
		flagContext   string
		flagNamespace string
		env           string
		wantContext   string
		wantNamespace string
		wantConfirm   bool
		wantErr       string
		wantUsage     bool
	}{
		{name: "--env selects the mapped context and namespace", project: mapped, env: "prod", wantContext: "envops-prod", wantNamespace: "shop", wantConfirm: true},
		{name: "mapped context keeps its kubeconfig namespace", project: mapped, env: "dev", wantContext: "envops-dev", wantNamespace: "web"},
		{name: "--context wins over the mapping", project: mapped, env: "prod", flagContext: "envops-dev", wantContext: "envops-dev", wantNamespace: "shop", wantConfirm: true},
		{name: "-n wins over the mapped namespace", project: mapped, env: "prod", flagNamespace: "api", wantContext: "envops-prod", wantNamespace: "api", wantConfirm: true},
		{name: "without mappings the current context is used", project: unmapped, env: "staging", wantContext: "envops-dev", wantNamespace: "web"},
		{name: "unknown environment lists the known ones", project: mapped, env: "qa", wantUsage: true,
			wantErr: `unknown environment "qa": the project file ` + mapped + ` defines dev, prod`},
		{name: "invalid environment name", project: mapped, env: "Prod", wantUsage: true, wantErr: `invalid environment name "Prod"`},
		{name: "missing --env", project: mapped, env: "", wantUsage: true, wantErr: "--env is required: name the environment to act on (one of dev, prod)"},
		{name: "mapped context absent from the kubeconfig", project: badContext, env: "qa", wantUsage: true,
			wantErr: `environment "qa" maps to context "nowhere" in ` + badContext + `, but your kubeconfig has no such context: fix the mapping or add the context`},
		{name: "unknown --context", project: unmapped, env: "dev", flagContext: "typo", wantUsage: true,
			wantErr: `context "typo" not found in your kubeconfig: check "kubectl config get-contexts"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _, _ := envTestGlobals(t, kubeconfig, tt.project, tt.flagContext, tt.flagNamespace)
			cfg, err := g.LoadConfig()
			if err != nil {
				t.Fatal(err)
			}
			target, err := g.resolve(cfg, tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to start with %s", err, tt.wantErr)
				}
				if isUsage := ExitCode(err) == ExitUsage; isUsage != tt.wantUsage {
					t.Errorf("usage error = %v, want %v", isUsage, tt.wantUsage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if target.Context != tt.wantContext || target.Namespace != tt.wantNamespace || target.Mapping.Confirm != tt.wantConfirm {
				t.Errorf("target context=%q namespace=%q confirm=%v; want %q %q %v",
					target.Context, target.Namespace, target.Mapping.Confirm, tt.wantContext, tt.wantNamespace, tt.wantConfirm)
			}
			// The target's clients talk to the selected context, and
			// kubectl's flags stay as the user gave them.
			rc, err := target.Getter.ToRESTConfig()
			if err != nil {
				t.Fatal(err)
			}
			if *g.ConfigFlags.Context != tt.flagContext || *g.ConfigFlags.Namespace != tt.flagNamespace {
				t.Errorf("resolving rewrote kubectl's flags to --context %q -n %q", *g.ConfigFlags.Context, *g.ConfigFlags.Namespace)
			}
			wantServer := map[string]string{"envops-dev": "https://127.0.0.1:1", "envops-prod": "https://127.0.0.1:2"}[tt.wantContext]
			if rc.Host != wantServer {
				t.Errorf("client talks to %s, want %s (context %s)", rc.Host, wantServer, tt.wantContext)
			}
		})
	}
}

// Each environment of one command resolves to its own context and
// namespace: resolving one leaves nothing behind for the next.
func TestResolveSeveralEnvironments(t *testing.T) {
	g, _, _ := envTestGlobals(t, envTestKubeconfig(t), envTestProject(t, envTestMappings), "", "")
	cfg, err := g.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	prod, err := g.resolve(cfg, "prod")
	if err != nil {
		t.Fatal(err)
	}
	dev, err := g.resolve(cfg, "dev")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		t                   *Target
		context, ns, server string
	}{{prod, "envops-prod", "shop", "https://127.0.0.1:2"}, {dev, "envops-dev", "web", "https://127.0.0.1:1"}} {
		rc, err := tc.t.Getter.ToRESTConfig()
		if err != nil {
			t.Fatal(err)
		}
		if tc.t.Context != tc.context || tc.t.Namespace != tc.ns || rc.Host != tc.server {
			t.Errorf("%s resolved to context %q namespace %q server %s, want %q %q %s", tc.t.Env, tc.t.Context, tc.t.Namespace, rc.Host, tc.context, tc.ns, tc.server)
		}
	}
}

func TestTargetVerify(t *testing.T) {
	declared := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "environment"}, Data: map[string][]byte{"environment": []byte("dev")}}
	target := &Target{Env: "prod", Context: "envops-dev", Namespace: "web", Config: config.Default(), Client: fake.NewClientset(declared)}
	err := target.Verify(context.Background())
	want := `environment mismatch: context "envops-dev" namespace "web" holds environment "dev", not "prod"`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Verify = %v, want it to start with %s", err, want)
	}
	var ge *environment.GuardError
	if !errors.As(err, &ge) || ge.Found != "dev" {
		t.Errorf("Verify error is not a GuardError carrying the found value: %#v", err)
	}
	target.Env = "dev"
	if err := target.Verify(context.Background()); err != nil {
		t.Errorf("Verify on the right cluster = %v", err)
	}
}

func TestTargetConfirm(t *testing.T) {
	prod := &Target{Env: "prod", Context: "envops-prod", Namespace: "shop", Mapping: config.Environment{Context: "envops-prod", Confirm: true}, Config: &config.Config{Path: "/p/.envops.yaml"}}
	dev := &Target{Env: "dev", Context: "envops-dev", Mapping: config.Environment{Context: "envops-dev"}, Config: &config.Config{}}
	tests := []struct {
		name    string
		target  *Target
		yes     bool
		wantErr string
	}{
		{name: "environment without confirm", target: dev},
		{name: "--yes skips the question", target: prod, yes: true},
		{name: "no terminal and no --yes is refused", target: prod,
			wantErr: `environment "prod" asks for confirmation (confirm: true in /p/.envops.yaml) and stdin is not a terminal: pass --yes to deploy web in context "envops-prod"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			streams, in, _, _ := genericiooptions.NewTestIOStreams()
			in.WriteString("prod\n")
			err := tt.target.Confirm(streams, tt.yes, "deploy web")
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Errorf("Confirm = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
