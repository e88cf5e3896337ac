// Package e2e runs kubectl-envops the way users do: built, on PATH beside a
// real kubectl, against real local control planes (one per environment).
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/envops/kubectl-envops/test/cluster"
)

const (
	devContext  = "envops-dev"
	prodContext = "envops-prod"
)

var (
	// kubeconfig holds the contexts envops-dev and envops-prod.
	kubeconfig string
	// pathDir holds kubectl and kubectl-envops, and nothing else.
	pathDir string
	// homeDir is HOME for every kubectl run, so nothing touches the user's.
	homeDir string
	// clusters is the running set, when this run started it (nil when reused).
	clusters *cluster.Set
	// workDir is the run's temporary directory, removed at the end.
	workDir string
)

// TestMain starts the clusters once for the whole package, or reuses running
// ones named by ENVOPS_E2E_KUBECONFIG (from "make cluster-up"), then builds
// the plugin.
func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	work, err := os.MkdirTemp("", "envops-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(work)
	workDir = work

	binDir, err := cluster.Build(ctx, cluster.BuildOptions{Log: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: control plane:", err)
		return 1
	}
	if kc := os.Getenv("ENVOPS_E2E_KUBECONFIG"); kc != "" {
		kubeconfig = kc
		fmt.Fprintf(os.Stderr, "e2e: reusing clusters from %s\n", kc)
	} else {
		start := time.Now()
		clusters, err = cluster.StartSet(ctx, cluster.SetOptions{
			Names:    []string{"dev", "prod"},
			StateDir: filepath.Join(work, "clusters"),
			Log:      os.Stderr,
			// A test binary killed outright (or by its -timeout) takes
			// the control planes along.
			StopWithParent: true,
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e: start clusters:", err)
			return 1
		}
		kubeconfig = clusters.Kubeconfig
		fmt.Fprintf(os.Stderr, "e2e: clusters dev and prod up in %s\n", time.Since(start).Round(time.Second))
		defer func() {
			if err := clusters.Down(); err != nil {
				fmt.Fprintln(os.Stderr, "e2e: stop clusters:", err)
			}
		}()
		// An interrupt stops the clusters before the process ends.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sig)
		go func() {
			if _, ok := <-sig; ok {
				_ = clusters.Down()
				os.Exit(130)
			}
		}()
	}

	pathDir = filepath.Join(work, "bin")
	homeDir = filepath.Join(work, "home")
	for _, d := range []string{pathDir, homeDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
	}
	if err := os.Symlink(filepath.Join(binDir, cluster.Kubectl), filepath.Join(pathDir, "kubectl")); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	// The compile settings of every build of the run (see goBuildEnv).
	build := exec.CommandContext(ctx, "go", "build", "-trimpath",
		"-ldflags", "-X github.com/envops/kubectl-envops/pkg/version.version=v0.0.0-e2e -X github.com/envops/kubectl-envops/pkg/version.commit=e2e",
		"-o", filepath.Join(pathDir, "kubectl-envops"), "./cmd/kubectl-envops")
	build.Dir = repoRoot()
	build.Env = goBuildEnv()
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: build kubectl-envops: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// goBuildEnv is the environment of every "go build" of the tests: the
// caller's, CGO_ENABLED included, as for "make" and the control plane's
// build; with -trimpath on the command line, the packages they share are
// compiled once per machine.
func goBuildEnv() []string {
	return os.Environ()
}

// repoRoot is the main module's directory (tests run in test/e2e).
func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}

// result is what a command printed and how it exited.
type result struct {
	Stdout, Stderr string
	ExitCode       int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.ExitCode, r.Stdout, r.Stderr)
}

// runKubectl runs the real kubectl (and through it, the plugin) in dir ("" for
// a fresh temporary directory) with stdin, KUBECONFIG and a private HOME.
func runKubectl(t *testing.T, dir string, stdin string, args ...string) result {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(pathDir, "kubectl"), args...)
	cmd.Dir = dir
	cmd.Env = commandEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run kubectl %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return result{Stdout: out.String(), Stderr: errb.String(), ExitCode: code}
}

// commandEnv is the environment of every command the tests run: PATH holds
// only kubectl and the plugin, so plugin discovery sees nothing else.
func commandEnv() []string {
	env := []string{
		"PATH=" + pathDir + string(os.PathListSeparator) + "/usr/bin:/bin",
		"HOME=" + homeDir,
		"KUBECONFIG=" + kubeconfig,
		"NO_COLOR=1",
	}
	for _, k := range []string{"TMPDIR", "LANG"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// restConfig is the admin configuration of one context.
func restConfig(t *testing.T, kubeContext string) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		t.Fatalf("kubeconfig context %s: %v", kubeContext, err)
	}
	return cfg
}

// clientset is an admin client of one context.
func clientset(t *testing.T, kubeContext string) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(restConfig(t, kubeContext))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// newNamespace creates a fresh namespace on a cluster and deletes it when the
// test ends.
func newNamespace(t *testing.T, kubeContext string) string {
	t.Helper()
	cs := clientset(t, kubeContext)
	ns, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-" + sanitize(t.Name()) + "-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	waitFor(t, 30*time.Second, "default ServiceAccount in "+ns.Name, func() bool {
		_, err := cs.CoreV1().ServiceAccounts(ns.Name).Get(t.Context(), "default", metav1.GetOptions{})
		return err == nil
	})
	return ns.Name
}

func sanitize(name string) string {
	name = strings.ToLower(name)
	var b strings.Builder
	for _, r := range name {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > 40 {
		s = strings.Trim(s[:40], "-")
	}
	return s
}

// waitFor checks cond, a condition on what the cluster or a command shows,
// until it holds or the timeout ends the test.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !poll(t, timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// poll checks cond every 200ms until it holds (true) or timeout passes
// (false); the one wait loop of the tests, for those that say more than
// waitFor when the condition never holds.
func poll(t *testing.T, timeout time.Duration, cond func() bool) bool {
	t.Helper()
	// Not t.Context(): it is canceled before cleanups run, and a cleanup may wait.
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return cond(), nil
	})
	return err == nil
}

// addNode registers a kwok-managed node on a cluster, waits until it is
// Ready and untainted, and deletes it when the test ends.
func addNode(t *testing.T, kubeContext, name string) {
	t.Helper()
	cs := clientset(t, kubeContext)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        name,
		Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
		Labels:      map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "type": "kwok"},
	}}
	if _, err := cs.CoreV1().Nodes().Create(t.Context(), node, metav1.CreateOptions{}); err != nil {
		t.Fatalf("add node %s: %v", name, err)
	}
	t.Cleanup(func() { removeNode(t, kubeContext, name) })
	waitFor(t, 60*time.Second, "node "+name+" Ready", func() bool {
		n, err := cs.CoreV1().Nodes().Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, taint := range n.Spec.Taints {
			if strings.HasPrefix(taint.Key, "node.kubernetes.io/") {
				return false
			}
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	})
}

// removeNode deletes a node (a no-op when it is already gone).
func removeNode(t *testing.T, kubeContext, name string) {
	t.Helper()
	err := clientset(t, kubeContext).CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("remove node %s: %v", name, err)
	}
}

// controlPlane returns the running cluster behind a context, to stop and
// start its components in fault tests. Reused clusters are found through
// the state directory that holds their kubeconfig.
func controlPlane(t *testing.T, kubeContext string) *cluster.Cluster {
	t.Helper()
	name := strings.TrimPrefix(kubeContext, "envops-")
	if clusters != nil {
		if c := clusters.Cluster(name); c != nil {
			return c
		}
		t.Fatalf("no local cluster for context %s", kubeContext)
	}
	c, err := cluster.Load(filepath.Dir(kubeconfig), name)
	if err != nil {
		t.Fatalf("find the local cluster for context %s (ENVOPS_E2E_KUBECONFIG must be the kubeconfig written by envops-cluster up): %v", kubeContext, err)
	}
	return c
}
