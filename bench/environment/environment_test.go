// Package environment measures a deploy of a whole environment on a local
// control plane (make bench-environment): "kubectl envops deploy --all" of
// 40 apps against the same 40 deploys run one after another, and a deploy
// of the 40 apps with nothing to do.
package environment

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/envops/kubectl-envops/test/cluster"
)

const (
	apps     = 40
	replicas = 2
)

var (
	kubeconfig, kubeContext string
	// binDir holds kubectl and the plugin.
	binDir string
	// controllerQPS is the request rate of the cluster's controllers
	// (kube-controller-manager --kube-api-qps), 0 for its default of 20,
	// -1 for a cluster the benchmark did not start.
	controllerQPS int
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		return m.Run()
	}
	ctx := context.Background()
	work, err := os.MkdirTemp("", "envops-bench-env-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	defer os.RemoveAll(work)
	clusterBin, err := cluster.Build(ctx, cluster.BuildOptions{Log: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: control plane:", err)
		return 1
	}
	binDir = filepath.Join(work, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if err := os.Symlink(filepath.Join(clusterBin, cluster.Kubectl), filepath.Join(binDir, "kubectl")); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	wd, _ := os.Getwd()
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(binDir, "kubectl-envops"), "./cmd/kubectl-envops")
	build.Dir = filepath.Join(wd, "..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: build the plugin: %v\n%s", err, out)
		return 1
	}
	if kc := os.Getenv("ENVOPS_E2E_KUBECONFIG"); kc != "" {
		kubeconfig, kubeContext, controllerQPS = kc, cluster.ContextName("dev"), -1
		return m.Run()
	}
	// The replication manager creates and deletes every pod of every app
	// through its own client, so with many apps at once its request rate,
	// not the plugin, can set the pace: BENCH_CONTROLLER_QPS raises it.
	if v := os.Getenv("BENCH_CONTROLLER_QPS"); v != "" {
		if controllerQPS, err = strconv.Atoi(v); err != nil || controllerQPS < 0 {
			fmt.Fprintf(os.Stderr, "bench: BENCH_CONTROLLER_QPS=%q: want a number of requests per second, 0 for the default\n", v)
			return 2
		}
	}
	s, err := cluster.StartSet(ctx, cluster.SetOptions{
		Names: []string{"bench"}, StateDir: filepath.Join(work, "clusters"), Log: os.Stderr,
		ControllerQPS: controllerQPS, StopWithParent: true,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: start cluster:", err)
		return 1
	}
	defer s.Down()
	kubeconfig, kubeContext = s.Kubeconfig, cluster.ContextName("bench")
	return m.Run()
}

// project writes a project of 40 apps of 2 replicas each, environment
// "bench" in namespace ns; app-00 needs app-01, which needs app-02.
func project(b *testing.B, ns string) string {
	b.Helper()
	dir := b.TempDir()
	write := func(path, content string) {
		p := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	write(".envops.yaml", fmt.Sprintf("environments:\n  bench: {context: %s, namespace: %s}\nneeds:\n  app-00: [app-01]\n  app-01: [app-02]\n", kubeContext, ns))
	for i := range apps {
		app := fmt.Sprintf("app-%02d", i)
		tier := "backend"
		if i%2 == 1 {
			tier = "frontend"
		}
		write(filepath.Join("apps", app, "base", "kustomization.yaml"), fmt.Sprintf("resources:\n- rc.yaml\nlabels:\n- pairs: {app: %s, tier: %s, role: server}\n  includeTemplates: true\n", app, tier))
		write(filepath.Join("apps", app, "base", "rc.yaml"), fmt.Sprintf("apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: %s\nspec:\n  replicas: %d\n  template:\n    spec:\n      containers:\n      - name: %s\n        image: nginx:1.27\n", app, replicas, app))
		write(filepath.Join("apps", app, "overlays", "bench", "kustomization.yaml"), "resources:\n- ../../base\n")
	}
	return dir
}

func client(b *testing.B) kubernetes.Interface {
	b.Helper()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		b.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return cs
}

// namespace creates a namespace declaring environment "bench".
func namespace(b *testing.B, cs kubernetes.Interface) string {
	b.Helper()
	ns, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-env-"}}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{}) })
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := cs.CoreV1().ServiceAccounts(ns.Name).Get(context.Background(), "default", metav1.GetOptions{}); err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("no default ServiceAccount")
		}
		time.Sleep(200 * time.Millisecond)
	}
	return ns.Name
}

// envops runs the plugin through kubectl in dir and returns how long it took.
func envops(b *testing.B, dir string, args ...string) time.Duration {
	b.Helper()
	cmd := exec.Command(filepath.Join(binDir, "kubectl"), append([]string{"envops"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+b.TempDir())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("kubectl envops %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return time.Since(start)
}

func appNames() []string {
	out := make([]string, apps)
	for i := range out {
		out[i] = fmt.Sprintf("app-%02d", i)
	}
	return out
}

// BenchmarkDeployAll rolls 40 apps of 2 replicas to a new image: once with
// one "deploy --all", once with 40 "deploy APP" one after another (the
// shell loop it replaces), each round in fresh namespaces, and times a
// "deploy --all" with nothing to do.
func BenchmarkDeployAll(b *testing.B) {
	rounds := 3
	if v, err := strconv.Atoi(os.Getenv("BENCH_COUNT")); err == nil && v > 0 {
		rounds = v
	}
	cs := client(b)
	var all, serial, noop time.Duration
	for range b.N {
		for range rounds {
			// Set up both namespaces at the old image, untimed.
			nsAll, nsSerial := namespace(b, cs), namespace(b, cs)
			dirAll, dirSerial := project(b, nsAll), project(b, nsSerial)
			for _, d := range []string{dirAll, dirSerial} {
				envops(b, d, "init-env", "bench")
				envops(b, d, "deploy", "--all", "--env", "bench")
			}
			// A release: every overlay moves to the new image.
			for _, d := range []string{dirAll, dirSerial} {
				newImage(b, d)
			}
			all += envops(b, dirAll, "deploy", "--all", "--env", "bench")
			for _, app := range appNames() {
				serial += envops(b, dirSerial, "deploy", app, "--env", "bench")
			}
			noop += envops(b, dirAll, "deploy", "--all", "--env", "bench")
		}
	}
	n := float64(b.N * rounds)
	b.ReportMetric(all.Seconds()/n, "all-s/op")
	b.ReportMetric(serial.Seconds()/n, "serial-s/op")
	b.ReportMetric(all.Seconds()/serial.Seconds(), "all/serial")
	b.ReportMetric(noop.Seconds()/n, "noop-s/op")
	b.ReportMetric(float64(rounds), "rounds")
	b.ReportMetric(float64(controllerQPS), "controller-qps")
}

// newImage points every app's overlay at nginx:1.28.
func newImage(b *testing.B, dir string) {
	b.Helper()
	for _, app := range appNames() {
		p := filepath.Join(dir, "apps", app, "overlays", "bench", "kustomization.yaml")
		if err := os.WriteFile(p, []byte("resources:\n- ../../base\nimages:\n- name: nginx\n  newTag: \"1.28\"\n"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}
