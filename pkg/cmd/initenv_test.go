package cmd

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"sigs.k8s.io/yaml"

	"github.com/envops/kubectl-envops/pkg/config"
)

// envTestRoot puts a command under a root carrying the global flags, as
// NewRootCmd does, so that -n and --context parse the same way.
func envTestRoot(g *Globals, sub *cobra.Command) *cobra.Command {
	root := &cobra.Command{Use: "kubectl-envops", SilenceErrors: true, SilenceUsage: true}
	g.ConfigFlags.AddFlags(root.PersistentFlags())
	root.PersistentFlags().StringVar(&g.ConfigPath, "config", g.ConfigPath, "")
	root.SetOut(g.Streams.Out)
	root.SetErr(g.Streams.ErrOut)
	root.AddCommand(sub)
	return root
}

func TestInitEnvFlags(t *testing.T) {
	kubeconfig := envTestKubeconfig(t)
	project := envTestProject(t, "secret: {name: cluster-env}\n")
	broken := envTestProject(t, "environments:\n  dev: {context: envops-dev, confrim: true}\n")
	tests := []struct {
		name      string
		args      []string
		check     func(*InitEnvOptions) string // what is wrong, or ""
		wantErr   string
		wantUsage bool
	}{
		{name: "defaults to the kubeconfig's namespace", args: []string{"dev"}, check: func(o *InitEnvOptions) string {
			if o.Env != "dev" || o.Namespace != "web" || o.ExplicitNamespace || o.Context != "envops-dev" || o.AllNamespaces || o.DryRunStrategy != cmdutil.DryRunNone {
				return "unexpected defaults"
			}
			if o.Config.Secret.Name != "cluster-env" {
				return "project file not loaded"
			}
			return ""
		}},
		{name: "-n and --context", args: []string{"prod", "-n", "shop", "--context", "envops-prod"}, check: func(o *InitEnvOptions) string {
			if o.Namespace != "shop" || !o.ExplicitNamespace || o.Context != "envops-prod" {
				return "namespace or context not taken from the flags"
			}
			return ""
		}},
		{name: "bare --dry-run means client", args: []string{"dev", "--dry-run"}, check: func(o *InitEnvOptions) string {
			if o.DryRunStrategy != cmdutil.DryRunClient {
				return "dry run is not client"
			}
			return ""
		}},
		{name: "server dry run with json output", args: []string{"dev", "--dry-run=server", "-o", "json", "-A"}, check: func(o *InitEnvOptions) string {
			if o.DryRunStrategy != cmdutil.DryRunServer || o.Output != "json" || !o.AllNamespaces {
				return "flags not parsed"
			}
			return ""
		}},
		{name: "--watch-namespaces implies --all-namespaces", args: []string{"dev", "--watch-namespaces"}, check: func(o *InitEnvOptions) string {
			if !o.AllNamespaces || !o.WatchNamespaces {
				return "watch does not cover all namespaces"
			}
			return ""
		}},
		{name: "no environment", args: []string{}, wantUsage: true, wantErr: "init-env takes exactly one environment name"},
		{name: "two environments", args: []string{"dev", "prod"}, wantUsage: true, wantErr: "init-env takes exactly one environment name"},
		{name: "invalid environment name", args: []string{"Dev_1"}, wantUsage: true, wantErr: `invalid environment name "Dev_1"`},
		{name: "unknown dry-run strategy", args: []string{"dev", "--dry-run=maybe"}, wantUsage: true, wantErr: `invalid --dry-run value "maybe": use none, client or server`},
		{name: "unknown output", args: []string{"dev", "-o", "wide"}, wantUsage: true, wantErr: `unknown output format "wide" for --output`},
		{name: "namespace and all namespaces", args: []string{"dev", "-n", "web", "-A"}, wantUsage: true, wantErr: "-n/--namespace and --all-namespaces exclude each other"},
		{name: "watch with dry run", args: []string{"dev", "--watch-namespaces", "--dry-run=server"}, wantUsage: true, wantErr: "--watch-namespaces writes as namespaces appear"},
		{name: "watch with a namespace", args: []string{"dev", "--watch-namespaces", "-n", "web"}, wantUsage: true, wantErr: "--watch-namespaces covers every namespace: drop -n/--namespace"},
		{name: "malformed project file", args: []string{"dev", "--config", broken}, wantUsage: true, wantErr: broken + `:2: unknown key "confrim" in an environment`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _, _ := envTestGlobals(t, kubeconfig, project, "", "")
			var got *InitEnvOptions
			root := envTestRoot(g, NewCmdInitEnv(g, func(o *InitEnvOptions) error { got = o; return nil }))
			root.SetArgs(append([]string{"init-env"}, tt.args...))
			err := root.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to start with %s", err, tt.wantErr)
				}
				if isUsage := ExitCode(err) == ExitUsage; isUsage != tt.wantUsage {
					t.Errorf("usage error = %v, want %v", isUsage, tt.wantUsage)
				}
				if got != nil {
					t.Errorf("Run was reached despite the error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if problem := tt.check(got); problem != "" {
				t.Errorf("%s: %+v", problem, got)
			}
		})
	}
}

func envSecret(ns, env string, extra map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "environment"}, Data: map[string][]byte{"environment": []byte(env)}}
	for k, v := range extra {
		s.Data[k] = []byte(v)
	}
	return s
}

func envNamespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// envDryRunAware makes the fake clientset honour server dry runs, which
// its object tracker would otherwise persist.
func envDryRunAware(client *fake.Clientset) {
	client.PrependReactor("create", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if ca := a.(k8stesting.CreateActionImpl); len(ca.CreateOptions.DryRun) > 0 {
			return true, ca.GetObject(), nil
		}
		return false, nil, nil
	})
	client.PrependReactor("update", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if ua := a.(k8stesting.UpdateActionImpl); len(ua.UpdateOptions.DryRun) > 0 {
			return true, ua.GetObject(), nil
		}
		return false, nil, nil
	})
}

// writes counts the create and update requests that were not dry runs.
func writes(client *fake.Clientset) int {
	n := 0
	for _, a := range client.Actions() {
		switch a := a.(type) {
		case k8stesting.CreateActionImpl:
			if len(a.CreateOptions.DryRun) == 0 {
				n++
			}
		case k8stesting.UpdateActionImpl:
			if len(a.UpdateOptions.DryRun) == 0 {
				n++
			}
		}
	}
	return n
}

func initEnvOptions(client *fake.Clientset, cfg *config.Config, env string) (*InitEnvOptions, *strings.Builder, *strings.Builder) {
	var out, errOut strings.Builder
	o := &InitEnvOptions{Env: env, Namespace: "web", Context: "envops-dev", Config: cfg, Client: client,
		IOStreams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}}
	return o, &out, &errOut
}

func TestInitEnvRun(t *testing.T) {
	mappedProd := config.Default()
	mappedProd.Path = "/p/.envops.yaml"
	mappedProd.Environments = map[string]config.Environment{"prod": {Context: "envops-prod"}, "dev": {Context: "envops-dev"}}

	tests := []struct {
		name       string
		objects    []runtime.Object
		cfg        *config.Config
		env        string
		setup      func(*InitEnvOptions)
		wantOut    []string // lines of stdout, in order
		wantErr    string
		wantWrites int
		wantValues map[string]string // namespace -> environment afterwards ("" = no Secret)
	}{
		{
			name: "first run creates the Secret", objects: []runtime.Object{envNamespace("web")}, env: "dev",
			wantOut:    []string{`secret/environment created in namespace "web" (environment "dev")`},
			wantWrites: 1, wantValues: map[string]string{"web": "dev"},
		},
		{
			name: "second run changes nothing and says so", objects: []runtime.Object{envNamespace("web"), labelled(envSecret("web", "dev", nil))}, env: "dev",
			wantOut: []string{`secret/environment unchanged in namespace "web" (environment "dev")`,
				`context "envops-dev" already declares environment "dev" there: nothing to change`},
			wantValues: map[string]string{"web": "dev"},
		},
		{
			name: "prod onto the dev cluster is refused and nothing changes", objects: []runtime.Object{envNamespace("web"), envNamespace("api"), envSecret("api", "dev", nil)}, env: "prod",
			wantErr:    `refusing to declare environment "prod" in namespace "web": context "envops-dev" already declares "dev" in namespace api (Secret "environment")`,
			wantValues: map[string]string{"web": "", "api": "dev"},
		},
		{
			name: "--force proceeds", objects: []runtime.Object{envNamespace("web"), envSecret("web", "dev", nil)}, env: "prod",
			setup:      func(o *InitEnvOptions) { o.Force = true },
			wantOut:    []string{`secret/environment updated in namespace "web" (environment "prod", was "dev")`},
			wantWrites: 1, wantValues: map[string]string{"web": "prod"},
		},
		{
			name: "all namespaces leaves the system ones out", objects: []runtime.Object{envNamespace("web"), envNamespace("api"), envNamespace("kube-system"), envNamespace("kube-public"), envNamespace("kube-node-lease")}, env: "dev",
			setup: func(o *InitEnvOptions) { o.AllNamespaces = true },
			wantOut: []string{`secret/environment created in namespace "api" (environment "dev")`,
				`secret/environment created in namespace "web" (environment "dev")`},
			wantWrites: 2, wantValues: map[string]string{"web": "dev", "api": "dev", "kube-system": ""},
		},
		{
			name: "a system namespace can be named", objects: []runtime.Object{envNamespace("kube-system")}, env: "dev",
			setup:      func(o *InitEnvOptions) { o.Namespace = "kube-system" },
			wantOut:    []string{`secret/environment created in namespace "kube-system" (environment "dev")`},
			wantWrites: 1, wantValues: map[string]string{"kube-system": "dev"},
		},
		{
			name: "client dry run writes nothing", objects: []runtime.Object{envNamespace("web")}, env: "dev",
			setup:      func(o *InitEnvOptions) { o.DryRunStrategy = cmdutil.DryRunClient },
			wantOut:    []string{`secret/environment created in namespace "web" (environment "dev") (dry run)`},
			wantValues: map[string]string{"web": ""},
		},
		{
			name: "server dry run writes nothing", objects: []runtime.Object{envNamespace("web")}, env: "dev",
			setup:      func(o *InitEnvOptions) { o.DryRunStrategy = cmdutil.DryRunServer },
			wantOut:    []string{`secret/environment created in namespace "web" (environment "dev") (server dry run)`},
			wantValues: map[string]string{"web": ""},
		},
		{
			name: "the project file maps the environment to another context", objects: []runtime.Object{envNamespace("web")}, cfg: mappedProd, env: "prod",
			wantErr:    `refusing to declare environment "prod" in context "envops-dev": /p/.envops.yaml maps "prod" to context "envops-prod"; use --context envops-prod, or --force if the mapping is wrong`,
			wantValues: map[string]string{"web": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(tt.objects...)
			envDryRunAware(client)
			cfg := tt.cfg
			if cfg == nil {
				cfg = config.Default()
			}
			o, out, _ := initEnvOptions(client, cfg, tt.env)
			if tt.setup != nil {
				tt.setup(o)
			}
			err := o.Run(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error:\n got %v\nwant %s…", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if got := strings.Split(strings.TrimSpace(out.String()), "\n"); tt.wantOut != nil && strings.Join(got, "\n") != strings.Join(tt.wantOut, "\n") {
				t.Errorf("stdout:\n%s\nwant:\n%s", out, strings.Join(tt.wantOut, "\n"))
			}
			if n := writes(client); n != tt.wantWrites {
				t.Errorf("%d writes, want %d", n, tt.wantWrites)
			}
			for ns, want := range tt.wantValues {
				s, err := client.Tracker().Get(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, ns, "environment")
				got := ""
				if err == nil {
					got = string(s.(*corev1.Secret).Data["environment"])
				}
				if got != want {
					t.Errorf("namespace %s declares %q afterwards, want %q", ns, got, want)
				}
			}
		})
	}
}

func labelled(s *corev1.Secret) *corev1.Secret {
	s.Labels = map[string]string{"app.kubernetes.io/managed-by": "kubectl-envops"}
	return s
}

func TestInitEnvDenialInOneNamespaceChangesNone(t *testing.T) {
	client := fake.NewClientset(envNamespace("a-ok"), envNamespace("b-locked"))
	envDryRunAware(client)
	// Registered last so it runs first: the locked namespace refuses
	// every create, dry run or not, like RBAC would.
	client.PrependReactor("create", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetNamespace() == "b-locked" {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", errors.New(`User "ci" cannot create resource "secrets" in the namespace "b-locked"`))
		}
		return false, nil, nil
	})
	o, out, _ := initEnvOptions(client, config.Default(), "dev")
	o.AllNamespaces = true
	err := o.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), `context "envops-dev": cannot create Secret "environment" in namespace "b-locked"`) ||
		!strings.Contains(err.Error(), `kubectl envops rbac --for init-env`) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error = %v", err)
	}
	if n := writes(client); n != 0 {
		t.Errorf("%d write requests were sent although one namespace was denied", n)
	}
	if out.Len() != 0 {
		t.Errorf("printed a summary although nothing was written:\n%s", out)
	}
}

func TestInitEnvOutputShowsOnlyTheEnvironmentKey(t *testing.T) {
	for _, format := range []string{"yaml", "json"} {
		t.Run(format, func(t *testing.T) {
			client := fake.NewClientset(envNamespace("web"), envNamespace("api"), envSecret("web", "dev", map[string]string{"db-password": "hunter2"}))
			envDryRunAware(client)
			o, out, _ := initEnvOptions(client, config.Default(), "prod")
			o.AllNamespaces, o.Force, o.Output, o.DryRunStrategy = true, true, format, cmdutil.DryRunServer
			if err := o.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			var list struct {
				Kind  string          `json:"kind"`
				Items []corev1.Secret `json:"items"`
			}
			if err := yaml.Unmarshal([]byte(out.String()), &list); err != nil {
				t.Fatalf("output is not %s: %v\n%s", format, err, out)
			}
			if list.Kind != "List" || len(list.Items) != 2 {
				t.Fatalf("want a List of 2 Secrets, got kind %q with %d items:\n%s", list.Kind, len(list.Items), out)
			}
			for _, s := range list.Items {
				if len(s.Data) != 1 || string(s.Data["environment"]) != "prod" || s.Labels["app.kubernetes.io/managed-by"] != "kubectl-envops" {
					t.Errorf("namespace %s: printed data %v labels %v", s.Namespace, s.Data, s.Labels)
				}
			}
			if strings.Contains(out.String(), "db-password") || strings.Contains(out.String(), "aHVudGVyMg") {
				t.Errorf("output reveals another key of the Secret:\n%s", out)
			}
		})
	}
}

// -o name, jsonpath= and go-template= print the Secrets written, as
// kubectl prints objects: one as itself, several as a List.
func TestInitEnvOutputTemplatesAndNames(t *testing.T) {
	for _, tc := range []struct {
		all          bool
		output, want string
	}{
		{false, "name", "secret/environment\n"},
		{true, "name", "secret/environment\nsecret/environment\n"},
		{false, "jsonpath={.metadata.namespace}={.data.environment}", "web=ZGV2"},
		{true, "jsonpath={range .items[*]}{.metadata.namespace} {end}", "api web "},
		{true, `go-template={{range .items}}{{.metadata.namespace}}:{{index .metadata.labels "app.kubernetes.io/managed-by"}};{{end}}`, "api:kubectl-envops;web:kubectl-envops;"},
	} {
		client := fake.NewClientset(envNamespace("web"), envNamespace("api"))
		envDryRunAware(client)
		o, out, _ := initEnvOptions(client, config.Default(), "dev")
		o.AllNamespaces, o.Output, o.DryRunStrategy = tc.all, tc.output, cmdutil.DryRunServer
		if err := o.Run(t.Context()); err != nil {
			t.Errorf("%s: %v", tc.output, err)
			continue
		}
		if out.String() != tc.want {
			t.Errorf("%s (all namespaces %v): printed %q, want %q", tc.output, tc.all, out, tc.want)
		}
	}
}
