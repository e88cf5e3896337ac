package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/fleet"
)

// unreachable is a client whose every request fails to connect.
func unreachable() *fake.Clientset {
	c := fake.NewClientset()
	c.PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, &url.Error{Op: "Get", URL: "https://127.0.0.1:1/api/v1", Err: errors.New("dial tcp 127.0.0.1:1: connect: connection refused")}
	})
	return c
}

func envOptions(t *testing.T, clients map[string]kubernetes.Interface, cfg *config.Config) (*EnvOptions, *strings.Builder) {
	t.Helper()
	raw, err := clientcmd.LoadFromFile(envTestKubeconfig(t))
	if err != nil {
		t.Fatal(err)
	}
	// A third context whose cluster is gone.
	gone := raw.Contexts["envops-prod"].DeepCopy()
	gone.Cluster = "gone"
	raw.Contexts["old-staging"] = gone
	if cfg == nil {
		cfg = config.Default()
	}
	var out strings.Builder
	o := &EnvOptions{
		Config: cfg, Raw: *raw, Context: raw.CurrentContext, Namespace: "web", Timeout: 5 * time.Second,
		NewClient: func(name string, _ time.Duration) (kubernetes.Interface, error) {
			if c, ok := clients[name]; ok {
				return c, nil
			}
			return unreachable(), nil
		},
		IOStreams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out},
	}
	return o, &out
}

func TestEnvAllContexts(t *testing.T) {
	clients := map[string]kubernetes.Interface{
		"envops-dev":  fake.NewClientset(envNamespace("web"), envNamespace("default"), envSecret("web", "dev", map[string]string{"token": "s3cr3t"}), envSecret("default", "dev", nil)),
		"envops-prod": fake.NewClientset(envNamespace("default"), envSecret("default", "prod", nil)),
	}
	o, out := envOptions(t, clients, nil)
	o.AllContexts = true
	if err := o.Run(context.Background()); err != nil {
		t.Fatalf("an unreachable context must not fail the command: %v", err)
	}
	want := `CURRENT   CONTEXT       CLUSTER   ENVIRONMENT   NAMESPACE   STATUS
*         envops-dev    dev       dev           web         ok
          envops-prod   prod      prod          default     ok
          old-staging   gone      -             default     unreachable: dial tcp 127.0.0.1:1: connect: connection refused
`
	if out.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", out, want)
	}
	if strings.Contains(out.String(), "s3cr3t") {
		t.Errorf("output reveals another key of the Secret")
	}
}

func TestEnvAllContextsJSONAndMappingMismatch(t *testing.T) {
	cfg := config.Default()
	cfg.Environments = map[string]config.Environment{"prod": {Context: "envops-dev"}}
	clients := map[string]kubernetes.Interface{
		"envops-dev":  fake.NewClientset(envNamespace("web"), envSecret("web", "dev", nil)),
		"envops-prod": fake.NewClientset(envNamespace("default"), envNamespace("a"), envNamespace("b"), envSecret("a", "prod", nil), envSecret("b", "staging", nil)),
	}
	o, out := envOptions(t, clients, cfg)
	o.AllContexts, o.Output = true, "json"
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var rows []fleet.ContextRow
	if err := json.Unmarshal([]byte(out.String()), &rows); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	want := map[string]fleet.ContextRow{
		"envops-dev":  {Current: true, Context: "envops-dev", Cluster: "dev", Environment: "dev", Namespace: "web", Status: `mismatch: .envops.yaml maps it to "prod"`, Expected: "prod"},
		"envops-prod": {Context: "envops-prod", Cluster: "prod", Namespace: "default", Status: "namespaces disagree: prod, staging"},
		"old-staging": {Context: "old-staging", Cluster: "gone", Namespace: "default", Status: "unreachable: dial tcp 127.0.0.1:1: connect: connection refused"},
	}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for _, r := range rows {
		if r != want[r.Context] {
			t.Errorf("row %s:\n got %+v\nwant %+v", r.Context, r, want[r.Context])
		}
	}
}

func TestEnvCurrentContext(t *testing.T) {
	tests := []struct {
		name    string
		client  kubernetes.Interface
		output  string
		want    string
		wantErr string
	}{
		{
			name:   "consistent cluster with a namespace lacking the Secret",
			client: fake.NewClientset(envNamespace("web"), envNamespace("api"), envNamespace("jobs"), envNamespace("kube-system"), envSecret("web", "dev", nil), envSecret("api", "dev", nil)),
			want: `environment:   dev
context:       envops-dev (cluster dev)
read from:     Secret web/environment, key "environment"
namespaces:    2 namespaces declare "dev"; 1 lacks the Secret: jobs
`,
		},
		{
			name:   "disagreeing namespaces are named",
			client: fake.NewClientset(envNamespace("web"), envNamespace("api"), envSecret("web", "dev", nil), envSecret("api", "prod", nil)),
			want: `environment:   dev
context:       envops-dev (cluster dev)
read from:     Secret web/environment, key "environment"
namespaces:    disagree: "dev" in web; "prod" in api
`,
		},
		{
			name:   "read from another namespace when the current one lacks it",
			client: fake.NewClientset(envNamespace("web"), envNamespace("api"), envSecret("api", "prod", nil)),
			want: `environment:   prod
context:       envops-dev (cluster dev)
read from:     Secret api/environment, key "environment" (namespace "web" has no Secret "environment")
namespaces:    1 namespace declares "prod"; 1 lacks the Secret: web
`,
		},
		{
			name:   "json",
			client: fake.NewClientset(envNamespace("web"), envSecret("web", "dev", nil)),
			output: "json",
			want: `{
  "context": "envops-dev",
  "cluster": "dev",
  "namespace": "web",
  "environment": "dev",
  "source": "web",
  "secret": "environment",
  "key": "environment",
  "consistent": true,
  "declared": {
    "dev": [
      "web"
    ]
  }
}
`,
		},
		{
			name:    "nothing declared is an error saying how to declare it",
			client:  fake.NewClientset(envNamespace("web")),
			wantErr: `context "envops-dev" declares no environment: namespace "web" has no Secret "environment" with key "environment"; declare it with "kubectl envops init-env ENV --context envops-dev -n web"`,
		},
		{
			name:    "unreachable cluster",
			client:  unreachable(),
			wantErr: `context "envops-dev": unreachable: dial tcp 127.0.0.1:1: connect: connection refused`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, out := envOptions(t, map[string]kubernetes.Interface{"envops-dev": tt.client}, nil)
			o.Output = tt.output
			err := o.Run(context.Background())
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error:\n got %v\nwant %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("output:\n%s\nwant:\n%s", out, tt.want)
			}
		})
	}
}

func TestEnvFlags(t *testing.T) {
	kubeconfig := envTestKubeconfig(t)
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(*EnvOptions) bool
	}{
		{name: "defaults", args: nil, check: func(o *EnvOptions) bool {
			return !o.AllContexts && o.Timeout == 10*time.Second && o.Context == "envops-dev" && o.Namespace == "web"
		}},
		{name: "all contexts with a timeout", args: []string{"--all-contexts", "--timeout", "2s", "-o", "yaml"}, check: func(o *EnvOptions) bool {
			return o.AllContexts && o.Timeout == 2*time.Second && o.Output == "yaml" && len(o.Raw.Contexts) == 2
		}},
		{name: "context flag", args: []string{"--context", "envops-prod"}, check: func(o *EnvOptions) bool {
			return o.Context == "envops-prod" && o.Namespace == "default"
		}},
		{name: "bad output", args: []string{"-o", "table"}, wantErr: `unknown output format "table" for --output: use wide, json, yaml, jsonpath=TEMPLATE or go-template=TEMPLATE, or omit it for the default`},
		{name: "zero timeout", args: []string{"--timeout", "0s"}, wantErr: "--timeout must be positive, such as 5s"},
		{name: "arguments", args: []string{"prod"}, wantErr: `unknown command "prod" for "kubectl-envops env"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _, _ := envTestGlobals(t, kubeconfig, "", "", "")
			var got *EnvOptions
			root := envTestRoot(g, NewCmdEnv(g, func(o *EnvOptions) error { got = o; return nil }))
			root.SetArgs(append([]string{"env"}, tt.args...))
			err := root.Execute()
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(got) {
				t.Errorf("parsed %+v", got)
			}
		})
	}
}

// -o jsonpath= and -o go-template= see the view of one context, or the
// rows of every context as .items.
func TestEnvTemplates(t *testing.T) {
	clients := map[string]kubernetes.Interface{
		"envops-dev":  fake.NewClientset(envNamespace("web"), envSecret("web", "dev", nil)),
		"envops-prod": fake.NewClientset(envNamespace("default"), envSecret("default", "prod", nil)),
	}
	for _, tc := range []struct {
		all          bool
		output, want string
	}{
		{false, "jsonpath={.environment} {.context} {.source}", "dev envops-dev web"},
		{false, "go-template={{.environment}} in {{.cluster}}", "dev in dev"},
		{true, "jsonpath={range .items[*]}{.context}={.environment};{end}", "envops-dev=dev;envops-prod=prod;old-staging=;"},
		{true, "go-template={{range .items}}{{if .current}}{{.context}}{{end}}{{end}}", "envops-dev"},
	} {
		o, out := envOptions(t, clients, nil)
		o.AllContexts, o.Output = tc.all, tc.output
		if err := o.Run(t.Context()); err != nil {
			t.Errorf("%s: %v", tc.output, err)
			continue
		}
		if out.String() != tc.want {
			t.Errorf("%s: printed %q, want %q", tc.output, out, tc.want)
		}
	}
}

// --template without -o is a go-template, as in kubectl; a broken one is
// a one-line input error.
func TestEnvTemplateFlag(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		want     string
		wantCode int
	}{
		{[]string{"--template", "{{.environment}}"}, "dev", 0},
		{[]string{"-o", "jsonpath={.environment"}, "", ExitUsage},
		{[]string{"-o", "go-template={{index .environment 9}}"}, "", ExitUsage},
	} {
		g, _, _ := envTestGlobals(t, envTestKubeconfig(t), "", "", "")
		var out strings.Builder
		root := envTestRoot(g, NewCmdEnv(g, func(o *EnvOptions) error {
			o.Out = &out
			o.NewClient = func(string, time.Duration) (kubernetes.Interface, error) {
				return fake.NewClientset(envNamespace("web"), envSecret("web", "dev", nil)), nil
			}
			return o.Run(t.Context())
		}))
		root.SetArgs(append([]string{"env"}, tc.args...))
		err := root.Execute()
		if ExitCode(err) != tc.wantCode || out.String() != tc.want {
			t.Errorf("%v: printed %q, err %v; want %q, exit %d", tc.args, out.String(), err, tc.want, tc.wantCode)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: the error is not one line: %v", tc.args, err)
		}
	}
}
