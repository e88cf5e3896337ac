package cmd

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsfake "k8s.io/metrics/pkg/client/clientset/versioned/fake"

	"github.com/envops/kubectl-envops/pkg/fleet"
	"github.com/envops/kubectl-envops/pkg/top"
)

// topGlobals are Globals on a kubeconfig with contexts envops-dev (current,
// namespace web) and envops-prod, and a project file mapping dev and prod.
func topGlobals(t *testing.T) *Globals {
	t.Helper()
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
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
	project := filepath.Join(dir, ".envops.yaml")
	if err := os.WriteFile(project, []byte("environments:\n  dev: {context: envops-dev}\n  prod: {context: envops-prod, namespace: shop}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	flags := genericclioptions.NewConfigFlags(true)
	empty := ""
	flags.KubeConfig, flags.Context, flags.Namespace = &kc, &empty, new(string)
	return &Globals{ConfigFlags: flags, Factory: cmdutil.NewFactory(flags), Streams: streams, ConfigPath: project}
}

func parseTop(t *testing.T, args ...string) (*TopOptions, error) {
	t.Helper()
	var got *TopOptions
	cmd := NewCmdTop(topGlobals(t), func(o *TopOptions) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(&strings.Builder{})
	cmd.SetErr(&strings.Builder{})
	err := cmd.Execute()
	return got, err
}

func TestTopFlags(t *testing.T) {
	o, err := parseTop(t, "web", "api", "--by", "tier, language", "--sort-by", "memory", "-l", "role=server", "-A", "--all-environments")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.by, []string{"tier", "language"}) || o.sortBy != top.SortByMemory || !o.AllNamespaces {
		t.Errorf("by %v, sort %q, -A %v", o.by, o.sortBy, o.AllNamespaces)
	}
	sel, err := labels.Parse(o.selector)
	if err != nil {
		t.Fatal(err)
	}
	for set, want := range map[string]bool{"app=web,role=server": true, "app=api,role=server": true, "app=cart,role=server": false, "app=web": false} {
		ls, _ := labels.ConvertSelectorToLabelsMap(set)
		if sel.Matches(ls) != want {
			t.Errorf("selector %q matches %s: %v, want %v", o.selector, set, !want, want)
		}
	}
	if len(o.Targets) != 2 || o.Targets[0].Context != "envops-dev" || o.Targets[1].Namespace != "shop" {
		t.Errorf("targets = %+v, want dev and prod of .envops.yaml", o.Targets)
	}

	o, err = parseTop(t, "--env", "prod")
	if err != nil || len(o.Targets) != 1 || o.Targets[0].Env != "prod" || !slices.Equal(o.by, []string{"app"}) {
		t.Errorf("--env prod: %+v, %v", o, err)
	}
	o, err = parseTop(t)
	if err != nil || len(o.Targets) != 1 || o.Targets[0].Context != "envops-dev" || o.Targets[0].Env != "dev" || o.Targets[0].Namespace != "web" {
		t.Errorf("no --env: the current context and namespace, named by its environment: %+v, %v", o.Targets, err)
	}
	o, err = parseTop(t, "-w")
	if err != nil || !o.Watch {
		t.Errorf("-w: %+v, %v", o, err)
	}

	for _, bad := range [][]string{
		{"--by", "tier,tier"}, {"--by", ""}, {"--by", "not a label"}, {"--sort-by", "disk"}, {"-l", "a in (b"},
		{"--env", "dev", "--all-environments"}, {"--env", "staging"}, {"--timeout", "0s"}, {"-w", "-o", "json"}, {"-o", "toml"},
	} {
		if _, err := parseTop(t, bad...); ExitCode(err) != ExitUsage {
			t.Errorf("%v: exit %d (%v), want a usage error", bad, ExitCode(err), err)
		}
	}
}

func TestTopCompletesLabelLists(t *testing.T) {
	cmd := NewCmdTop(topGlobals(t), nil)
	complete, ok := cmd.GetFlagCompletionFunc("by")
	if !ok {
		t.Fatal("--by has no completion")
	}
	got, _ := complete(cmd, nil, "")
	if !slices.Equal(got, []string{"name", "app", "tier", "role", "language"}) {
		t.Errorf("--by completes %v", got)
	}
	got, _ = complete(cmd, nil, "tier,")
	if !slices.Equal(got, []string{"tier,name", "tier,app", "tier,role", "tier,language"}) {
		t.Errorf("--by tier, completes %v", got)
	}
	sortBy, _ := cmd.GetFlagCompletionFunc("sort-by")
	if got, _ := sortBy(cmd, nil, ""); !slices.Equal(got, []string{"cpu", "memory"}) {
		t.Errorf("--sort-by completes %v", got)
	}
	var _ cobra.CompletionFunc = complete
}

// shopCluster is a fake cluster whose namespace shop runs two tiers, and a
// pod without labels; usage as metrics-server reports it.
func shopCluster() top.Clients {
	pod := func(name string, lbls map[string]string, requests ...string) (*corev1.Pod, metricsv1beta1.PodMetrics) {
		c := corev1.Container{Name: "app"}
		if len(requests) > 0 {
			c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(requests[0])}
		}
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Labels: lbls},
			Spec: corev1.PodSpec{Containers: []corev1.Container{c}}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
		m := metricsv1beta1.PodMetrics{ObjectMeta: p.ObjectMeta, Containers: []metricsv1beta1.ContainerMetrics{{Name: "app",
			Usage: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}}}}
		return p, m
	}
	var objs []runtime.Object
	var usage []metricsv1beta1.PodMetrics
	for _, p := range []struct {
		name string
		lbls map[string]string
		req  []string
	}{
		{"web-1", map[string]string{"app": "web", "tier": "frontend"}, []string{"200m"}},
		{"web-2", map[string]string{"app": "web", "tier": "frontend"}, []string{"200m"}},
		{"api-1", map[string]string{"app": "api", "tier": "backend"}, nil},
		{"stray", nil, nil},
	} {
		o, m := pod(p.name, p.lbls, p.req...)
		objs, usage = append(objs, o), append(usage, m)
	}
	metrics := metricsfake.NewSimpleClientset()
	metrics.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, &metricsv1beta1.PodMetricsList{Items: usage}, nil
	})
	return top.Clients{Kube: fake.NewClientset(objs...), Metrics: metrics}
}

func topOptions(t *testing.T, targets []fleet.Target, clients map[string]top.Clients) (*TopOptions, *strings.Builder, *strings.Builder) {
	t.Helper()
	var out, errOut strings.Builder
	return &TopOptions{
		by: []string{"tier"}, Timeout: time.Second, Targets: targets, Now: time.Now,
		NewClients: func(name string, _ time.Duration) (top.Clients, error) { return clients[name], nil },
		IOStreams:  genericiooptions.IOStreams{Out: &out, ErrOut: &errOut},
	}, &out, &errOut
}

func TestTopPrintsSumsPerGroup(t *testing.T) {
	o, out, _ := topOptions(t, []fleet.Target{{Env: "dev", Context: "envops-dev", Namespace: "shop"}}, map[string]top.Clients{"envops-dev": shopCluster()})
	if err := o.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := `TIER        PODS   CPU    CPU/REQUESTS   MEMORY   MEMORY/REQUESTS
backend     1      100m   -              64Mi     -
frontend    2      200m   50% of 400m    128Mi    -
(no tier)   1      100m   -              64Mi     -
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

// Across environments, each is a set of rows; one that serves no metrics
// API is one line that names what is missing, and the command exits 1.
func TestTopAcrossEnvironmentsNamesTheClusterWithoutMetrics(t *testing.T) {
	bare := top.Clients{Kube: fake.NewClientset(), Metrics: metricsfake.NewSimpleClientset()}
	bare.Metrics.(*metricsfake.Clientset).PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "metrics.k8s.io", Resource: "pods"}, "")
	})
	targets := []fleet.Target{{Env: "dev", Context: "envops-dev", Namespace: "shop"}, {Env: "bare", Context: "envops-bare", Namespace: "shop"}, {Env: "prod", Context: "envops-prod", Namespace: "shop"}}
	clients := map[string]top.Clients{"envops-dev": shopCluster(), "envops-bare": bare, "envops-prod": shopCluster()}

	o, out, errOut := topOptions(t, targets, clients)
	o.sortBy = top.SortByCPU
	err := o.Run(t.Context())
	if ExitCode(err) != ExitError {
		t.Fatalf("exit %d (%v), want 1", ExitCode(err), err)
	}
	msg := err.Error()
	for _, want := range []string{"environment bare", `context "envops-bare"`, "no metrics API", "install metrics-server"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") || errOut.Len() != 0 {
		t.Errorf("more than one line: %q, stderr %q", msg, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 7 || !strings.HasPrefix(lines[0], "ENVIRONMENT   TIER") ||
		!strings.HasPrefix(lines[1], "dev           frontend") || !strings.HasPrefix(lines[4], "prod          frontend") {
		t.Errorf("want dev's and prod's groups, largest CPU first:\n%s", out)
	}

	o, out, _ = topOptions(t, targets, clients)
	o.Output = "json"
	if err := o.Run(t.Context()); ExitCode(err) != ExitError {
		t.Fatalf("-o json: exit %d", ExitCode(err))
	}
	var rows []top.Row
	if err := json.Unmarshal([]byte(out.String()), &rows); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	if len(rows) != 7 || rows[0].Environment != "dev" || rows[0].Labels["tier"] != "backend" || rows[0].CPU != "100m" ||
		rows[3].Environment != "bare" || !strings.Contains(rows[3].Error, "no metrics API") || rows[2].Missing[0] != "tier" {
		t.Errorf("rows: %+v", rows)
	}

	o, out, _ = topOptions(t, targets, clients)
	o.Output = "jsonpath={range .items[*]}{.environment}:{.labels.tier}={.cpu} {end}"
	_ = o.Run(t.Context())
	if got := out.String(); !strings.HasPrefix(got, "dev:backend=100m dev:frontend=200m dev:=100m bare:= prod:backend=100m") {
		t.Errorf("-o jsonpath: %q", got)
	}
}

func TestTopTwoFailuresAreALineEach(t *testing.T) {
	targets := []fleet.Target{{Env: "a", Context: "a"}, {Env: "b", Context: "b"}}
	o, _, errOut := topOptions(t, targets, nil)
	o.NewClients = func(name string, _ time.Duration) (top.Clients, error) {
		return top.Clients{}, apierrors.NewForbidden(schema.GroupResource{Group: "metrics.k8s.io", Resource: "pods"}, "", nil)
	}
	err := o.Run(t.Context())
	if ExitCode(err) != ExitError || err.Error() != "2 of 2 clusters could not be measured" {
		t.Errorf("err = %v", err)
	}
	if got := strings.Count(errOut.String(), "error: environment "); got != 2 {
		t.Errorf("want one line per cluster:\n%s", errOut)
	}
}

// --watch prints the table with a time stamp, and again only when what it
// shows changes, until interrupted.
func TestTopWatchPrintsOnChange(t *testing.T) {
	dev := shopCluster()
	o, out, _ := topOptions(t, []fleet.Target{{Env: "dev", Context: "envops-dev", Namespace: "shop"}}, map[string]top.Clients{"envops-dev": dev})
	o.Watch, o.Interval = true, 20*time.Millisecond
	rounds := 0
	o.NewClients = func(string, time.Duration) (top.Clients, error) {
		rounds++
		if rounds >= 4 {
			// From the fourth round on, a running pod the metrics API has
			// not reported yet.
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-3", Labels: map[string]string{"tier": "frontend"}}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
			_, _ = dev.Kube.CoreV1().Pods("shop").Create(t.Context(), p, metav1.CreateOptions{})
		}
		return dev, nil
	}
	ctx, cancel := context.WithTimeout(t.Context(), 400*time.Millisecond)
	defer cancel()
	if err := o.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if rounds < 5 {
		t.Fatalf("%d rounds in 400ms at a 20ms interval", rounds)
	}
	if got := strings.Count(out.String(), "TIER "); got != 2 {
		t.Errorf("the table was printed %d times over %d rounds, want twice (once more after the change):\n%s", got, rounds, out)
	}
	if got := strings.Count(out.String(), "1 running pod has no metrics yet and is not counted"); got != 1 {
		t.Errorf("the note of the unmeasured pod is printed %d times:\n%s", got, out)
	}
}
