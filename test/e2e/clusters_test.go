package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/envops/kubectl-envops/test/cluster"
)

const stagingContext = "envops-staging"

// threeClusters returns a kubeconfig with the contexts envops-dev,
// envops-staging and envops-prod, and the staging cluster. The harness
// runs dev and prod; staging is reused when the reused clusters have one,
// and started for this test otherwise.
func threeClusters(t *testing.T) (string, *cluster.Cluster) {
	t.Helper()
	dev, prod := controlPlane(t, devContext), controlPlane(t, prodContext)
	var staging *cluster.Cluster
	if clusters == nil {
		staging, _ = cluster.Load(filepath.Dir(kubeconfig), "staging")
	}
	if staging == nil {
		binDir, err := cluster.Build(t.Context(), cluster.BuildOptions{Log: os.Stderr})
		if err != nil {
			t.Fatal(err)
		}
		staging, err = cluster.Up(t.Context(), cluster.Options{Name: "staging", StateDir: t.TempDir(), BinDir: binDir, Log: os.Stderr})
		if err != nil {
			t.Fatalf("start the staging cluster: %v", err)
		}
		t.Cleanup(func() { _ = staging.Down() })
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(path, dev, staging, prod); err != nil {
		t.Fatal(err)
	}
	return path, staging
}

// runIn runs kubectl like runKubectl, with another kubeconfig.
func runIn(t *testing.T, kc, dir string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(pathDir, "kubectl"), args...)
	cmd.Dir = dir
	for _, e := range commandEnv() {
		if strings.HasPrefix(e, "KUBECONFIG=") {
			e = "KUBECONFIG=" + kc
		}
		cmd.Env = append(cmd.Env, e)
	}
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
	r := result{Stdout: out.String(), Stderr: errb.String(), ExitCode: code}
	t.Logf("$ kubectl %s\n%s", strings.Join(args, " "), r)
	return r
}

func clientsetIn(t *testing.T, kc, kubeContext string) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kc},
		&clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// namespaceIn creates a fresh namespace and deletes it when the test ends.
func namespaceIn(t *testing.T, cs kubernetes.Interface) string {
	t.Helper()
	ns, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-clusters-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

// boundTo is the annotation init-env writes to bind an environment Secret
// to the cluster of cs.
func boundTo(t *testing.T, cs kubernetes.Interface) map[string]string {
	t.Helper()
	sys, err := cs.CoreV1().Namespaces().Get(t.Context(), "kube-system", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"envops.io/cluster-id": "kube-system:" + string(sys.UID)}
}

// statusRows is what status -o json prints.
type statusRows []struct {
	Environment string   `json:"environment"`
	Context     string   `json:"context"`
	Secret      string   `json:"secret"`
	App         string   `json:"app"`
	Kind        string   `json:"kind"`
	Images      []string `json:"images"`
	Ready       int32    `json:"ready"`
	Desired     int32    `json:"desired"`
	State       string   `json:"state"`
	DeployedBy  string   `json:"deployedBy"`
	Drift       string   `json:"drift"`
	OK          bool     `json:"ok"`
}

func parseStatus(t *testing.T, r result) statusRows {
	t.Helper()
	var rows statusRows
	if err := json.Unmarshal([]byte(r.Stdout), &rows); err != nil {
		t.Fatalf("status -o json printed no JSON: %v\n%s", err, r)
	}
	return rows
}

// TestManyClusters drives status, promote and the cluster-bound environment
// Secret across three clusters, dev, staging and prod, through kubectl.
func TestManyClusters(t *testing.T) {
	kc, staging := threeClusters(t)
	contexts := map[string]string{"dev": devContext, "staging": stagingContext, "prod": prodContext}
	order := []string{"dev", "staging", "prod"}
	cs := map[string]kubernetes.Interface{}
	ns := map[string]string{}
	for _, env := range order {
		cs[env] = clientsetIn(t, kc, contexts[env])
		ns[env] = namespaceIn(t, cs[env])
	}
	dir := t.TempDir()
	project := fmt.Sprintf("environments:\n  dev: {context: %s, namespace: %s}\n  staging: {context: %s, namespace: %s}\n  prod: {context: %s, namespace: %s, confirm: true}\n",
		devContext, ns["dev"], stagingContext, ns["staging"], prodContext, ns["prod"])
	writeProjectFile(t, filepath.Join(dir, ".envops.yaml"), project)
	writeProjectFile(t, filepath.Join(dir, "apps/web/base/kustomization.yaml"), "resources:\n- rc.yaml\nlabels:\n- pairs: {app: web, tier: frontend, role: api}\n  includeTemplates: true\n")
	writeProjectFile(t, filepath.Join(dir, "apps/web/base/rc.yaml"), "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n")
	for _, env := range order {
		writeProjectFile(t, filepath.Join(dir, "apps/web/overlays", env, "kustomization.yaml"), "resources:\n- ../../base\n")
	}
	image := func(env string) string {
		t.Helper()
		rc, err := cs[env].CoreV1().ReplicationControllers(ns[env]).Get(t.Context(), "web", metav1.GetOptions{})
		if err != nil {
			return "none"
		}
		return rc.Spec.Template.Spec.Containers[0].Image
	}

	// init-env binds each Secret to its cluster.
	for _, env := range order {
		r := runIn(t, kc, dir, "envops", "init-env", env, "--context", contexts[env], "-n", ns[env])
		if r.ExitCode != 0 {
			t.Fatalf("init-env %s:\n%s", env, r)
		}
		s, err := cs[env].CoreV1().Secrets(ns[env]).Get(t.Context(), "environment", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sys, err := cs[env].CoreV1().Namespaces().Get(t.Context(), "kube-system", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := s.Annotations["envops.io/cluster-id"], "kube-system:"+string(sys.UID); got != want {
			t.Fatalf("the %s Secret is bound to %q, want %q", env, got, want)
		}
	}

	t.Run("promote through dev, staging and prod", func(t *testing.T) {
		// prod asks for confirmation: without --yes and a terminal nothing starts.
		r := runIn(t, kc, dir, "envops", "promote", "web", "--image", "nginx:1.27")
		oneErrorLine(t, r, 2, `environment "prod" asks for confirmation`, "--yes")
		if got := image("dev"); got != "none" {
			t.Fatalf("a refused promotion deployed dev: %s", got)
		}
		r = runIn(t, kc, dir, "envops", "promote", "web", "--image", "nginx:1.27", "--yes")
		if r.ExitCode != 0 {
			t.Fatalf("promote:\n%s", r)
		}
		for _, env := range order {
			if got := image(env); got != "nginx:1.27" {
				t.Errorf("%s runs %s, want nginx:1.27", env, got)
			}
		}
		dev := strings.Index(r.Stdout, "== dev ")
		stg := strings.Index(r.Stdout, "== staging ")
		prod := strings.Index(r.Stdout, "== prod ")
		if dev < 0 || stg < dev || prod < stg {
			t.Errorf("the environments were not deployed in order dev, staging, prod:\n%s", r.Stdout)
		}
		r = runIn(t, kc, dir, "envops", "status", "web", "-o", "json")
		rows := parseStatus(t, r)
		if r.ExitCode != 0 || len(rows) != 3 {
			t.Fatalf("status after the promotion should be 3 healthy rows, exit 0:\n%s", r)
		}
		for i, row := range rows {
			if row.Environment != order[i] || row.Secret != "ok" || row.State != "steady" || row.Ready != 2 || row.Desired != 2 || len(row.Images) != 1 || row.Images[0] != "nginx:1.27" || row.DeployedBy == "" || !row.OK {
				t.Errorf("row %d: %+v, want %s ok steady 2/2 nginx:1.27 with a deployer", i, row, order[i])
			}
		}
	})

	t.Run("status of every context", func(t *testing.T) {
		// The other contexts' clusters have no such namespace: the rows
		// name the contexts and say the namespace and the app are missing.
		r := runIn(t, kc, dir, "envops", "status", "web", "--all-contexts", "-n", ns["staging"], "-o", "json")
		rows := parseStatus(t, r)
		if r.ExitCode != 1 || len(rows) != 3 {
			t.Fatalf("status --all-contexts -n <staging's namespace> should list 3 contexts and exit 1:\n%s", r)
		}
		for _, row := range rows {
			if row.Context == stagingContext {
				if row.Environment != "staging" || row.Secret != "ok" || row.State != "steady" || !row.OK {
					t.Errorf("the staging context's row: %+v", row)
				}
			} else if row.State != "missing" || row.Secret != "no namespace" {
				t.Errorf("context %s has no such namespace, want the app missing and the namespace named as missing: %+v", row.Context, row)
			}
		}
	})

	t.Run("a failure in staging stops before prod", func(t *testing.T) {
		prodBefore, err := cs["prod"].CoreV1().ReplicationControllers(ns["prod"]).Get(t.Context(), "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// No node of staging matches: the update fails at once.
		t.Cleanup(func() {
			writeProjectFile(t, filepath.Join(dir, "apps/web/overlays/staging/kustomization.yaml"), "resources:\n- ../../base\n")
		})
		writeProjectFile(t, filepath.Join(dir, "apps/web/overlays/staging/kustomization.yaml"), `resources:
- ../../base
patches:
- target: {kind: ReplicationController, name: web}
  patch: |
    - op: add
      path: /spec/template/spec/nodeSelector
      value: {envops.io/e2e: no-such-node}
`)
		r := runIn(t, kc, dir, "envops", "promote", "web", "--image", "nginx:1.28", "--yes")
		// The exit code is the failed deploy's: 1, rolled back.
		if r.ExitCode != 1 {
			t.Fatalf("promote with a failing staging should exit 1 (staging rolled back):\n%s", r)
		}
		lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
		last := lines[len(lines)-1]
		for _, want := range []string{"promotion stopped at staging", "later environments were not touched", "kubectl envops promote web --from dev"} {
			if !strings.Contains(last, want) {
				t.Errorf("the error line lacks %q:\n%s", want, r)
			}
		}
		if !strings.Contains(r.Stdout, "untouched") {
			t.Errorf("the summary should mark prod untouched:\n%s", r.Stdout)
		}
		if got := image("dev"); got != "nginx:1.28" {
			t.Errorf("dev runs %s, want nginx:1.28", got)
		}
		if got := image("staging"); got != "nginx:1.27" {
			t.Errorf("staging runs %s, want nginx:1.27 (rolled back)", got)
		}
		prodAfter, err := cs["prod"].CoreV1().ReplicationControllers(ns["prod"]).Get(t.Context(), "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if prodAfter.ResourceVersion != prodBefore.ResourceVersion {
			t.Errorf("prod's controller changed (resourceVersion %s -> %s): it must be untouched", prodBefore.ResourceVersion, prodAfter.ResourceVersion)
		}
	})

	t.Run("promote from staging to prod", func(t *testing.T) {
		r := runIn(t, kc, dir, "envops", "promote", "web", "--from", "dev", "--to", "staging")
		if r.ExitCode != 0 || image("staging") != "nginx:1.28" || image("prod") != "nginx:1.27" {
			t.Fatalf("promote --from dev --to staging should ship nginx:1.28 to staging only:\n%s", r)
		}
		r = runIn(t, kc, dir, "envops", "promote", "web", "--from", "staging", "--to", "prod", "--yes")
		if r.ExitCode != 0 || image("prod") != "nginx:1.28" {
			t.Fatalf("promote --from staging --to prod should ship nginx:1.28 to prod:\n%s", r)
		}
	})

	t.Run("a Secret copied from the dev cluster is refused", func(t *testing.T) {
		// A Secret declaring prod, written on the dev cluster, then copied
		// as kubectl get -o yaml | kubectl apply would.
		scratch := namespaceIn(t, cs["dev"])
		r := runIn(t, kc, dir, "envops", "init-env", "prod", "--force", "--context", devContext, "-n", scratch)
		if r.ExitCode != 0 {
			t.Fatalf("init-env prod on the dev cluster:\n%s", r)
		}
		src, err := cs["dev"].CoreV1().Secrets(scratch).Get(t.Context(), "environment", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := cs["prod"].CoreV1().Secrets(ns["prod"]).Delete(t.Context(), "environment", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		copied := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: src.Name, Namespace: ns["prod"], Labels: src.Labels, Annotations: src.Annotations}, Data: src.Data}
		if _, err := cs["prod"].CoreV1().Secrets(ns["prod"]).Create(t.Context(), copied, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		before := image("prod")
		r = runIn(t, kc, dir, "envops", "deploy", "web", "--env", "prod", "--image", "nginx:1.29", "--yes")
		oneErrorLine(t, r, 1, "this environment Secret was written on another cluster", "init-env prod --force --context "+prodContext)
		if got := image("prod"); got != before {
			t.Errorf("the refused deploy changed prod: %s -> %s", before, got)
		}
		r = runIn(t, kc, dir, "envops", "status", "web", "-o", "json")
		for _, row := range parseStatus(t, r) {
			if row.Environment == "prod" && (row.Secret != "another cluster" || row.OK) {
				t.Errorf("status should flag prod's Secret as from another cluster: %+v", row)
			}
		}
		if r.ExitCode != 1 {
			t.Errorf("status should exit 1 while prod's Secret is from another cluster:\n%s", r)
		}

		r = runIn(t, kc, dir, "envops", "init-env", "prod", "--context", prodContext, "-n", ns["prod"])
		if r.ExitCode == 0 {
			t.Errorf("init-env without --force should refuse to re-bind:\n%s", r)
		}
		r = runIn(t, kc, dir, "envops", "init-env", "prod", "--force", "--context", prodContext, "-n", ns["prod"])
		if r.ExitCode != 0 {
			t.Fatalf("init-env --force should re-bind:\n%s", r)
		}
		r = runIn(t, kc, dir, "envops", "deploy", "web", "--env", "prod", "--image", "nginx:1.29", "--yes")
		if r.ExitCode != 0 || image("prod") != "nginx:1.29" {
			t.Fatalf("deploy after init-env --force should work:\n%s", r)
		}
	})

	t.Run("status with one cluster that does not answer", func(t *testing.T) {
		// A frozen API server accepts connections and never answers.
		pid := 0
		for _, p := range staging.Processes {
			if p.Name == cluster.KubeAPIServer {
				pid = p.PID
			}
		}
		if pid == 0 {
			t.Fatal("no API server process for staging")
		}
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = syscall.Kill(pid, syscall.SIGCONT) }()
		r := runIn(t, kc, dir, "envops", "status", "web", "--timeout", "3s")
		if r.ExitCode != 1 {
			t.Errorf("status with staging frozen should exit 1:\n%s", r)
		}
		rows := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n")[1:] {
			rows[strings.Fields(line)[0]] = line
		}
		if !strings.Contains(rows["staging"], "unreachable: no answer within 3s") {
			t.Errorf("the staging row should say it did not answer within the deadline:\n%s", r.Stdout)
		}
		for _, env := range []string{"dev", "prod"} {
			for _, want := range []string{" ok ", "2/2", "steady"} {
				if !strings.Contains(rows[env], want) {
					t.Errorf("the %s row lacks %q:\n%s", env, want, r.Stdout)
				}
			}
		}
	})

	t.Run("status with one cluster stopped", func(t *testing.T) {
		if err := staging.StopComponent(cluster.KubeAPIServer); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if clusters == nil {
				_ = staging.StartComponent(context.Background(), cluster.KubeAPIServer)
			}
		})
		r := runIn(t, kc, dir, "envops", "status", "web", "--timeout", "5s")
		if r.ExitCode != 1 {
			t.Errorf("status with staging down should exit 1:\n%s", r)
		}
		rows := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n")[1:] {
			rows[strings.Fields(line)[0]] = line
		}
		if !strings.Contains(rows["staging"], "refused: connection refused at ") {
			t.Errorf("the staging row should say its API server refuses connections:\n%s", r.Stdout)
		}
		for env, img := range map[string]string{"dev": "nginx:1.28", "prod": "nginx:1.29"} {
			for _, want := range []string{" ok ", img, "2/2", "steady"} {
				if !strings.Contains(rows[env], want) {
					t.Errorf("the %s row lacks %q:\n%s", env, want, r.Stdout)
				}
			}
		}
	})
}
