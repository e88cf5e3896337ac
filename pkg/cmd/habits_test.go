package cmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/fleet"
	"github.com/envops/kubectl-envops/pkg/lint"
)

// findCommand walks the tree from root along path ("node-agent status").
func findCommand(t *testing.T, root *cobra.Command, path string) *cobra.Command {
	t.Helper()
	c, rest, err := root.Find(strings.Fields(path))
	if err != nil || len(rest) > 0 {
		t.Fatalf("no command %q: %v", path, err)
	}
	return c
}

// Every --watch has kubectl's short form -w.
func TestEveryWatchHasShortW(t *testing.T) {
	root := NewRootCmd(genericiooptions.NewTestIOStreamsDiscard())
	found := 0
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Name == "watch" {
				found++
				if f.Shorthand != "w" {
					t.Errorf("%s --watch has no -w", c.CommandPath())
				}
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if found < 2 {
		t.Errorf("found %d --watch flags, want those of status and node-agent", found)
	}
}

// The commands that print tables take -o wide and --no-headers; those that
// list objects take -l/--selector.
func TestListingCommandsTakeKubectlFlags(t *testing.T) {
	root := NewRootCmd(genericiooptions.NewTestIOStreamsDiscard())
	for _, path := range []string{"status", "history", "env", "node-agent status"} {
		c := findCommand(t, root, path)
		if c.Flags().Lookup("no-headers") == nil {
			t.Errorf("%s has no --no-headers", path)
		}
		if !strings.Contains(c.Flags().Lookup("output").Usage, "wide") {
			t.Errorf("%s -o does not offer wide: %s", path, c.Flags().Lookup("output").Usage)
		}
	}
	for _, path := range []string{"status", "history", "node-agent status", "lint", "generate"} {
		f := findCommand(t, root, path).Flags().Lookup("selector")
		if f == nil || f.Shorthand != "l" {
			t.Errorf("%s has no -l/--selector", path)
		}
	}
}

// -o wide adds the wide columns; --no-headers drops the header line.
func TestStatusWideAndNoHeaders(t *testing.T) {
	run := func(output string, noHeaders bool) []string {
		streams, _, out, _ := genericiooptions.NewTestIOStreams()
		o := &StatusOptions{
			Apps: []string{"web"}, Timeout: time.Second, Config: config.Default(), Output: output, NoHeaders: noHeaders,
			Targets:   []fleet.Target{{Env: "dev", Context: "dev", Namespace: "web"}},
			NewClient: func(string, time.Duration) (kubernetes.Interface, error) { return devCluster(), nil },
			Now:       time.Now, IOStreams: streams,
		}
		if err := o.Validate(); err != nil {
			t.Fatal(err)
		}
		if err := o.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSpace(out.String()), "\n")
	}
	plain := run("", false)
	if len(plain) != 2 || strings.Contains(plain[0], "NAMESPACE") || !strings.HasPrefix(plain[0], "ENVIRONMENT") {
		t.Errorf("the default table should have a header without the wide columns:\n%s", strings.Join(plain, "\n"))
	}
	wide := run("wide", false)
	if len(wide) != 2 || strings.Fields(wide[0])[2] != "NAMESPACE" || !strings.Contains(wide[0], "NAME ") || !strings.Contains(wide[0], "DEPLOYED AT") {
		t.Errorf("-o wide lacks NAMESPACE, NAME or DEPLOYED AT:\n%s", strings.Join(wide, "\n"))
	}
	if cells := strings.Fields(wide[1]); len(cells) < 7 || cells[2] != "web" || cells[6] != "web" {
		t.Errorf("the wide row should name the namespace and the controller:\n%s", wide[1])
	}
	bare := run("wide", true)
	if len(bare) != 1 || strings.Contains(bare[0], "ENVIRONMENT") {
		t.Errorf("--no-headers should print the row alone:\n%s", strings.Join(bare, "\n"))
	}
}

// history -o wide shows where each record was found; --no-headers drops
// the header.
func TestHistoryWideAndNoHeaders(t *testing.T) {
	rc := &corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Labels: map[string]string{"app": "web"},
		Annotations: audit.Record{User: "alice", Time: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Environment: "dev", Image: "web:2"}.Annotations()}}
	for _, tc := range []struct {
		output    string
		noHeaders bool
		want      string
	}{
		{"", false, "DEPLOYED AT            APP   BY      ENVIRONMENT   IMAGE   CONTROLLER                  REVISION   CHANGE-CAUSE\n" +
			"2026-11-25T10:00:00Z   web   alice   dev           web:2   ReplicationController/web   <none>     <none>\n"},
		{"wide", true, "2026-11-25T10:00:00Z   web   alice   dev   web:2   ReplicationController/web   shop   <none>   controller   <none>\n"},
	} {
		streams, _, out, _ := genericiooptions.NewTestIOStreams()
		o := &HistoryOptions{App: "web", Output: tc.output, NoHeaders: tc.noHeaders, Namespace: "shop", Client: fake.NewClientset(rc), IOStreams: streams}
		if err := o.Validate(); err != nil {
			t.Fatal(err)
		}
		if err := o.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		if out.String() != tc.want {
			t.Errorf("-o %q --no-headers=%v:\n%s\nwant:\n%s", tc.output, tc.noHeaders, out, tc.want)
		}
	}
}

// env --all-contexts -o wide names each context's server.
func TestEnvAllContextsWide(t *testing.T) {
	clients := map[string]kubernetes.Interface{
		"envops-dev":  fake.NewClientset(envNamespace("web"), envSecret("web", "dev", nil)),
		"envops-prod": fake.NewClientset(envNamespace("default"), envSecret("default", "prod", nil)),
	}
	o, out := envOptions(t, clients, nil)
	o.AllContexts, o.Output, o.NoHeaders = true, "wide", true
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || strings.Contains(out.String(), "CONTEXT") {
		t.Fatalf("want three rows and no header:\n%s", out)
	}
	if !strings.Contains(lines[0], "envops-dev") || !strings.Contains(lines[0], "https://") {
		t.Errorf("the dev row lacks its server:\n%s", out)
	}
}

// node-agent status -l keeps the selected nodes, in the table and the count.
func TestNodeAgentStatusSelector(t *testing.T) {
	node := func(name, zone string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"zone": zone}}}
	}
	client := fake.NewClientset(agentRC(t, 2), node("n1", "a"), node("n2", "b"), node("n3", "a"))
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	o := &NodeAgentStatusOptions{Name: "datadog", Selector: "zone=a", Namespace: "monitoring", Client: client, IOStreams: streams}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := o.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "n2") || !strings.Contains(out.String(), "n1") || !strings.Contains(out.String(), "n3") {
		t.Errorf("want nodes n1 and n3 only:\n%s", out)
	}
	if !strings.Contains(out.String(), "0 of 2 schedulable nodes selected by zone=a") {
		t.Errorf("the count should speak of the selected nodes:\n%s", out)
	}
}

// lint --live -l reads only the objects whose labels the selector selects.
func TestLintLiveSelector(t *testing.T) {
	rc := func(name, tier string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ReplicationController",
			"metadata": map[string]any{"name": name, "namespace": "shop", "labels": map[string]any{"tier": tier}}}}
		return u
	}
	target := liveTarget(t, "dev", false, rc("web", "frontend"), rc("api", "backend"))
	target.Selector = "tier=backend"
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	o := &LintOptions{Live: true, Selector: "tier=backend", Output: "json", FailOn: "none", Config: config.Default(), Targets: []lint.LiveTarget{target}, IOStreams: streams}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := o.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"name": "api"`) || strings.Contains(out.String(), `"name": "web"`) {
		t.Errorf("want findings of api only:\n%s", out)
	}
	if !strings.Contains(out.String(), `"objects": 1`) {
		t.Errorf("want one object checked:\n%s", out)
	}
}

// selectorProject is a project of two apps: web (tier frontend) and api
// (tier backend).
func selectorProject(t *testing.T) string {
	t.Helper()
	cfgPath := writeGenerateProject(t)
	dir := filepath.Dir(cfgPath)
	for p, c := range map[string]string{
		".envops.yaml":                     envTestMappings,
		"apps/api/base/kustomization.yaml": "resources:\n- rc.yaml\nlabels:\n- pairs: {app: api, tier: backend, role: server}\n  includeTemplates: true\n",
		"apps/api/base/rc.yaml": "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: api\nspec:\n  replicas: 1\n" +
			"  template:\n    spec:\n      containers:\n      - name: api\n        image: nginx:1.27\n",
		"apps/api/overlays/dev/kustomization.yaml":  "resources:\n- ../../base\n",
		"apps/api/overlays/prod/kustomization.yaml": "resources:\n- ../../base\n",
	} {
		writeFile(t, filepath.Join(dir, p), c, 0o644)
	}
	return cfgPath
}

// status, history and generate -l choose the apps by the labels their
// overlays render.
func TestSelectorChoosesAppsByTheirLabels(t *testing.T) {
	cfgPath := selectorProject(t)
	kubeconfig := envTestKubeconfig(t)

	g, _, _ := envTestGlobals(t, kubeconfig, cfgPath, "", "")
	var status *StatusOptions
	cmd := NewCmdStatus(g, func(o *StatusOptions) error { status = o; return nil })
	cmd.SetArgs([]string{"-l", "tier=backend"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(status.Apps, ",") != "api" {
		t.Errorf("status -l tier=backend chose %v, want [api]", status.Apps)
	}

	g, _, _ = envTestGlobals(t, kubeconfig, cfgPath, "", "")
	var history *HistoryOptions
	cmd = NewCmdHistory(g, func(o *HistoryOptions) error { history = o; return nil })
	cmd.SetArgs([]string{"-l", "tier in (frontend,backend)", "--env", "prod"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(history.Apps, ",") != "api,web" {
		t.Errorf("history -l chose %v, want [api web]", history.Apps)
	}

	out, stderr, code := runGenerate(t, "-l", "tier=frontend", "--env", "dev", "--config", cfgPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "name: web\n") || strings.Contains(out, "name: api\n") {
		t.Errorf("generate -l tier=frontend should render web alone:\n%s", out)
	}

	for _, args := range [][]string{
		{"status", "web", "-l", "tier=backend"},
		{"history", "web", "-l", "tier=backend"},
		{"generate", "web", "-l", "tier=backend", "--env", "dev"},
		{"status", "-l", "tier=="},
	} {
		_, stderr, code := run(t, append(args, "--config", cfgPath, "--kubeconfig", kubeconfig)...)
		if code != ExitUsage {
			t.Errorf("%v: exit %d (%s), want a usage error", args, code, stderr)
		}
	}
	_, stderr, code = runGenerate(t, "-l", "tier=database", "--env", "dev", "--config", cfgPath)
	if code != ExitUsage || !strings.Contains(stderr, "no app") {
		t.Errorf("a selector that chooses nothing: exit %d, %s", code, stderr)
	}
}

// version --client, which kubectl scripts pass, prints what version does.
func TestVersionClient(t *testing.T) {
	plain, _, code := run(t, "version")
	client, stderr, code2 := run(t, "version", "--client")
	if code != 0 || code2 != 0 {
		t.Fatalf("exit %d and %d: %s", code, code2, stderr)
	}
	if plain != client || !strings.Contains(client, "kubectl-envops") {
		t.Errorf("version --client printed\n%s\nversion printed\n%s", client, plain)
	}
	// Never a server: a kubeconfig that cannot even be read is no matter.
	bad := filepath.Join(t.TempDir(), "missing")
	if err := os.WriteFile(bad, []byte("{{{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := run(t, "version", "--client", "--kubeconfig", bad); code != 0 {
		t.Errorf("version --client read the kubeconfig: exit %d, %s", code, stderr)
	}
}
