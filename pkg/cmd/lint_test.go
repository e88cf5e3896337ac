package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/lint"
	"github.com/envops/kubectl-envops/pkg/render"
)

const (
	cleanRC = `apiVersion: v1
kind: ReplicationController
metadata:
  name: web
  labels: {name: web-frontend, app: web, tier: frontend, role: frontend, app.kubernetes.io/name: web}
spec:
  template:
    metadata:
      labels: {name: web-frontend, app: web, tier: frontend, role: frontend, app.kubernetes.io/name: web}
    spec:
      containers: [{name: web, image: web:1, volumeMounts: [{name: environment, mountPath: /etc/secrets}]}]
      volumes: [{name: environment, secret: {secretName: environment}}]
`
	// unlabelledRC is missing name and role everywhere.
	unlabelledRC = `apiVersion: v1
kind: ReplicationController
metadata:
  name: cart
  labels: {app: cart, tier: backend}
spec:
  template:
    metadata:
      labels: {app: cart, tier: backend}
    spec:
      containers: [{name: cart, image: cart:1, volumeMounts: [{name: environment, mountPath: /etc/secrets}]}]
      volumes: [{name: environment, secret: {secretName: environment}}]
`
	// warnOnly has only a recommended-labels warning under lintProject's configuration.
	warnOnly = `apiVersion: v1
kind: Pod
metadata:
  name: p
  labels: {name: web-frontend, app: web, tier: frontend, role: frontend}
spec:
  containers: [{name: web, image: web:1, volumeMounts: [{name: environment, mountPath: /etc/secrets}]}]
  volumes: [{name: environment, secret: {secretName: environment}}]
`
)

// lintProject writes a project directory: .envops.yaml and the given
// files; it returns the directory.
func lintProject(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if _, ok := files[".envops.yaml"]; !ok {
		files[".envops.yaml"] = "labels:\n  recommended: {app: app.kubernetes.io/name}\n"
	}
	for p, c := range files {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// kubeconfigWith writes a kubeconfig with contexts "a" (namespace shop,
// current) and "b" (no namespace); nothing is ever contacted.
func kubeconfigWith(t *testing.T) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1"}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "t"}
	cfg.Contexts["a"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u", Namespace: "shop"}
	cfg.Contexts["b"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "a"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// lintGlobals builds Globals for a project and a kubeconfig.
func lintGlobals(streams genericiooptions.IOStreams, project, kubeconfig string) *Globals {
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &kubeconfig
	return &Globals{ConfigFlags: flags, Factory: cmdutil.NewFactory(flags), Streams: streams, ConfigPath: filepath.Join(project, config.FileName)}
}

func TestLintFlags(t *testing.T) {
	project := lintProject(t, map[string]string{"m.yaml": cleanRC})
	kubeconfig := kubeconfigWith(t)
	type target struct{ context, namespace string }
	tests := []struct {
		name        string
		args        []string
		namespace   string
		wantPaths   []string
		wantTargets []target
		wantOutput  string
		wantCode    int
		wantErr     string
	}{
		{name: "paths and -f", args: []string{"a.yaml", "dir", "-f", "b.yaml", "-f", "-"}, wantPaths: []string{"a.yaml", "dir", "b.yaml", "-"}, wantOutput: "text"},
		{name: "output format", args: []string{"m.yaml", "-o", "sarif"}, wantPaths: []string{"m.yaml"}, wantOutput: "sarif"},
		{name: "live reads the current context's namespace", args: []string{"--live"}, wantTargets: []target{{"a", "shop"}}, wantOutput: "text"},
		{name: "live with -n", args: []string{"--live"}, namespace: "web", wantTargets: []target{{"a", "web"}}, wantOutput: "text"},
		{name: "live in all namespaces", args: []string{"--live", "-A"}, wantTargets: []target{{"a", ""}}, wantOutput: "text"},
		{name: "live in every context", args: []string{"--live", "--all-contexts"}, wantTargets: []target{{"a", "shop"}, {"b", "default"}}, wantOutput: "text"},
		{name: "nothing to lint", args: nil, wantCode: ExitUsage, wantErr: "nothing to lint"},
		{name: "two inputs at once", args: []string{"m.yaml", "--live"}, wantCode: ExitUsage, wantErr: "choose one input"},
		{name: "app without env", args: []string{"--app", "web"}, wantCode: ExitUsage, wantErr: "--app and --env go together"},
		{name: "-A without --live", args: []string{"m.yaml", "-A"}, wantCode: ExitUsage, wantErr: "add --live"},
		{name: "unknown output format", args: []string{"m.yaml", "-o", "yaml"}, wantCode: ExitUsage, wantErr: `unknown output format "yaml"`},
		{name: "unknown severity", args: []string{"m.yaml", "--fail-on", "fatal"}, wantCode: ExitUsage, wantErr: `unknown severity "fatal"`},
		{name: "unknown rule", args: []string{"m.yaml", "--disable", "labels"}, wantCode: ExitUsage, wantErr: `unknown rule "labels"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			streams, _, _, _ := genericiooptions.NewTestIOStreams()
			g := lintGlobals(streams, project, kubeconfig)
			if tt.namespace != "" {
				g.ConfigFlags.Namespace = &tt.namespace
			}
			var got *LintOptions
			cmd := NewCmdLint(g, func(o *LintOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(streams.Out)
			cmd.SetErr(streams.ErrOut)
			err := cmd.Execute()
			if tt.wantCode != 0 {
				if ExitCode(err) != tt.wantCode || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want exit code %d and %q", err, tt.wantCode, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got.Paths, " ") != strings.Join(tt.wantPaths, " ") || got.Output != tt.wantOutput {
				t.Errorf("paths %v output %q, want %v %q", got.Paths, got.Output, tt.wantPaths, tt.wantOutput)
			}
			var targets []target
			for _, tg := range got.Targets {
				targets = append(targets, target{tg.Context, tg.Namespace})
				if tg.Client == nil {
					t.Errorf("target %s has no client", tg.Context)
				}
			}
			if len(targets) != len(tt.wantTargets) {
				t.Fatalf("targets %v, want %v", targets, tt.wantTargets)
			}
			for i := range targets {
				if targets[i] != tt.wantTargets[i] {
					t.Errorf("targets %v, want %v", targets, tt.wantTargets)
				}
			}
		})
	}
}

// runLint runs "lint" in dir with stdin and returns stdout, stderr and the exit code.
func runLint(t *testing.T, dir, stdin string, args ...string) (string, int, error) {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.Chdir(wd) }()
	streams, in, out, _ := genericiooptions.NewTestIOStreams()
	in.WriteString(stdin)
	cmd := NewCmdLint(lintGlobals(streams, dir, ""), nil)
	// As under the root command: errors are returned, not printed.
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(&bytes.Buffer{})
	err = cmd.Execute()
	code := ExitCode(err)
	return out.String(), code, err
}

func TestLintRun(t *testing.T) {
	project := lintProject(t, map[string]string{
		"clean/rc.yaml": cleanRC,
		"bad/rc.yaml":   cleanRC + "---\n" + unlabelledRC,
		"warn/pod.yaml": warnOnly,
		"broken.yaml":   cleanRC + "---\nkind: [\n",
		"kust/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [rc.yaml]\n" +
			"commonLabels:\n  language: go\n",
		"kust/rc.yaml": unlabelledRC,
	})
	tests := []struct {
		name     string
		stdin    string
		args     []string
		wantCode int
		want     []string // substrings of the output
		wantErr  string
	}{
		{name: "clean files exit 0", args: []string{"clean"}, want: []string{"1 object checked in 1 file: no findings"}},
		{name: "findings exit 1", args: []string{"bad"}, wantCode: ExitError,
			want: []string{"bad/rc.yaml\n", "18:3", "ReplicationController/cart: the controller is missing required labels name, role", "2 objects checked in 1 file: 2 errors, 2 warnings"}},
		{name: "--fail-on none reports but exits 0", args: []string{"bad", "--fail-on", "none"}, want: []string{"2 errors"}},
		{name: "warnings pass by default", args: []string{"warn"}, want: []string{"0 errors, 1 warning"}},
		{name: "warnings fail with --fail-on warning", args: []string{"warn", "--fail-on", "warning"}, wantCode: ExitError},
		{name: "disabled rules", args: []string{"bad", "--disable", "required-labels,recommended-labels"}, want: []string{"no findings"}},
		{name: "standard input", stdin: unlabelledRC, args: []string{"-"}, wantCode: ExitError, want: []string{"<stdin>\n", "5:3"}},
		{name: "a document that cannot be read exits 2 after the report", args: []string{"broken.yaml"}, wantCode: ExitUsage,
			want: []string{"invalid-document"}, wantErr: "broken.yaml:14: cannot parse YAML"},
		{name: "a missing path exits 2 and prints nothing", args: []string{"clean", "nope"}, wantCode: ExitUsage, wantErr: "path nope does not exist"},
		{name: "json", args: []string{"bad", "-o", "json"}, wantCode: ExitError, want: []string{`"rule": "required-labels"`, `"line": 18`}},
		{name: "a kustomization is rendered and its file checked", args: []string{"-k", "kust"}, wantCode: ExitError,
			want: []string{"kust/kustomization.yaml\n", "4:1", "commonLabels also rewrites selectors", "ReplicationController/cart: the controller is missing required labels name, role"}},
		{name: "a kustomization that does not exist", args: []string{"-k", "nowhere"}, wantCode: ExitUsage, wantErr: "nowhere"},
		{name: "a directory holding a kustomization is rendered, not read file by file", args: []string{"kust"}, wantCode: ExitError,
			want: []string{"kust/kustomization.yaml\n", "commonLabels also rewrites selectors", "  -    error   ReplicationController/cart: the controller is missing required labels name, role", "2 objects checked in 1 file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code, err := runLint(t, project, tt.stdin, tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d (%v), want %d; output:\n%s", code, err, tt.wantCode, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
			if tt.wantCode == ExitUsage && tt.want == nil && out != "" {
				t.Errorf("a refused run printed:\n%s", out)
			}
		})
	}
}

func TestLintScaffoldedAppIsClean(t *testing.T) {
	project := lintProject(t, map[string]string{".envops.yaml": "environments:\n  dev: {context: dev}\n  prod: {context: prod}\n"})
	cfg, err := config.Load(filepath.Join(project, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	_, err = render.Scaffold(t.Context(), filesys.MakeFsOnDisk(), cfg, render.NewApp{
		Name: "web", Tier: "frontend", Role: "server", Image: "nginx:1.27", Kind: render.KindReplicationController, Environments: []string{"dev", "prod"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{name: "the overlay as deploy sends it", args: []string{"--app", "web", "--env", "prod", "-o", "json"}, want: `"findings": []`},
		{name: "the apps directory: overlays rendered as deploy sends them, bases not alone", args: []string{"apps", "-o", "json"}, want: `"findings": []`},
		{name: "an unknown environment", args: []string{"--app", "web", "--env", "staging"}, wantCode: ExitUsage},
		{name: "an unknown app", args: []string{"--app", "shop", "--env", "dev"}, wantCode: ExitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code, err := runLint(t, project, "", tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d (%v), want %d; output:\n%s", code, err, tt.wantCode, out)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, out)
			}
			if tt.wantCode == ExitOK {
				var rep struct {
					Summary struct{ Objects int } `json:"summary"`
				}
				if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Summary.Objects == 0 {
					t.Errorf("no objects checked (%v):\n%s", err, out)
				}
			}
		})
	}
}

// liveTarget is a fake cluster holding objs; failing makes every list fail.
func liveTarget(t *testing.T, name string, failing bool, objs ...runtime.Object) lint.LiveTarget {
	t.Helper()
	kinds := map[schema.GroupVersionResource]string{}
	for _, gvr := range lint.LiveResources {
		kinds[gvr] = "List"
	}
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), kinds, objs...)
	if failing {
		client.PrependReactor("list", "*", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "replicationcontrollers"}, "", errors.New("no"))
		})
	}
	return lint.LiveTarget{Context: name, Namespace: "shop", Client: client}
}

func TestLintLiveRun(t *testing.T) {
	var rc unstructured.Unstructured
	if err := yaml.Unmarshal([]byte(unlabelledRC), &rc.Object); err != nil {
		t.Fatal(err)
	}
	rc.SetNamespace("shop")
	tests := []struct {
		name     string
		failing  []bool
		wantCode int
		want     string
	}{
		{name: "every context read", failing: []bool{false, false}, wantCode: ExitError, want: "context a, namespace shop\n"},
		{name: "one context denied: the others are reported, then exit 2", failing: []bool{true, false}, wantCode: ExitUsage, want: "1 object checked in 1 namespace: 2 errors"},
		{name: "no context read: no report", failing: []bool{true, true}, wantCode: ExitUsage, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			streams, _, out, _ := genericiooptions.NewTestIOStreams()
			o := &LintOptions{Live: true, Output: "text", FailOn: "error", Config: config.Default(), IOStreams: streams}
			for i, f := range tt.failing {
				o.Targets = append(o.Targets, liveTarget(t, string(rune('a'+i)), f, rc.DeepCopy()))
			}
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			err := o.Run(context.Background())
			if ExitCode(err) != tt.wantCode {
				t.Fatalf("err = %v, want exit %d", err, tt.wantCode)
			}
			if !strings.Contains(out.String(), tt.want) || (tt.want == "" && out.Len() > 0) {
				t.Errorf("output:\n%s\nwant %q", out.String(), tt.want)
			}
			if tt.failing[0] && !strings.Contains(err.Error(), `context "a": access denied`) {
				t.Errorf("error %q should name the denied context", err)
			}
		})
	}
}
