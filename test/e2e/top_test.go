package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/envops/kubectl-envops/test/cluster"
)

// shopApp is an app of the shop with its emulated use per pod (kwok reads
// it from the pod's annotations) and, optionally, its requests.
type shopApp struct {
	app, tier, language string
	cpuMilli, memMi     int64
	reqCPU, reqMem      string
}

var shop = []shopApp{
	{app: "web", tier: "frontend", language: "nodejs", cpuMilli: 100, memMi: 64, reqCPU: "200m", reqMem: "128Mi"},
	{app: "cart", tier: "backend", language: "java", cpuMilli: 250, memMi: 512},
	{app: "orders", tier: "backend", language: "nodejs", cpuMilli: 300, memMi: 256, reqCPU: "500m", reqMem: "256Mi"},
}

// runShop starts the shop's apps in ns with replicas per app, and one pod
// without any label, using 5m and 16Mi.
func runShop(t *testing.T, cs kubernetes.Interface, ns string, replicas map[string]int32) {
	t.Helper()
	for _, a := range shop {
		labels := map[string]string{"name": a.app + "-server", "app": a.app, "tier": a.tier, "role": "server", "language": a.language}
		c := corev1.Container{Name: a.app, Image: "registry.example.com/" + a.app + ":1"}
		if a.reqCPU != "" {
			c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(a.reqCPU), corev1.ResourceMemory: resource.MustParse(a.reqMem)}
		}
		rc := &corev1.ReplicationController{
			ObjectMeta: metav1.ObjectMeta{Name: a.app, Labels: labels},
			Spec: corev1.ReplicationControllerSpec{
				Replicas: ptr.To(replicas[a.app]),
				Selector: map[string]string{"name": a.app + "-server"},
				Template: &corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{
						cluster.UsageCPUAnnotation: fmt.Sprintf("%dm", a.cpuMilli), cluster.UsageMemoryAnnotation: fmt.Sprintf("%dMi", a.memMi)}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{c}},
				},
			},
		}
		if _, err := cs.CoreV1().ReplicationControllers(ns).Create(t.Context(), rc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	stray := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "stray", Annotations: map[string]string{cluster.UsageCPUAnnotation: "5m", cluster.UsageMemoryAnnotation: "16Mi"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "stray", Image: "registry.example.com/stray:1"}}},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(t.Context(), stray, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// expected is what the emulation implies for a grouping: per group of
// label values (joined by "/"), pods, millicores and MiB.
func expected(replicas map[string]int32, by ...string) map[string][3]int64 {
	out := map[string][3]int64{}
	add := func(key string, pods int32, cpu, mem int64) {
		e := out[key]
		out[key] = [3]int64{e[0] + int64(pods), e[1] + int64(pods)*cpu, e[2] + int64(pods)*mem}
	}
	for _, a := range shop {
		var vals []string
		for _, l := range by {
			vals = append(vals, map[string]string{"tier": a.tier, "language": a.language, "app": a.app}[l])
		}
		add(strings.Join(vals, "/"), replicas[a.app], a.cpuMilli, a.memMi)
	}
	var none []string
	for _, l := range by {
		none = append(none, "(no "+l+")")
	}
	add(strings.Join(none, "/"), 1, 5, 16)
	return out
}

// table reads kubectl's aligned table: each cell starts where its column's
// header starts (cells such as "(no tier)" hold spaces).
func table(t *testing.T, out string) []map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 {
		t.Fatalf("no table in %q", out)
	}
	header := lines[0]
	var names []string
	var starts []int
	for i := 0; i < len(header); {
		if header[i] == ' ' {
			i++
			continue
		}
		j := strings.Index(header[i:], "   ")
		if j < 0 {
			j = len(header) - i
		}
		names, starts = append(names, strings.TrimSpace(header[i:i+j])), append(starts, i)
		i += j
	}
	var rows []map[string]string
	for _, l := range lines[1:] {
		row := map[string]string{}
		for k, name := range names {
			end := len(l)
			if k+1 < len(starts) && starts[k+1] < end {
				end = starts[k+1]
			}
			if starts[k] < len(l) {
				row[name] = strings.TrimSpace(l[starts[k]:end])
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// topRow is one row of top's -o json.
type topRow struct {
	Environment string            `json:"environment"`
	Labels      map[string]string `json:"labels"`
	Pods        int64             `json:"pods"`
	CPU         int64             `json:"cpuMillicores"`
	Memory      int64             `json:"memoryBytes"`
	Error       string            `json:"error"`
}

// topProject writes an .envops.yaml mapping each environment to its
// context and namespace, and returns its directory.
func topProject(t *testing.T, envs ...[3]string) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("environments:\n")
	for _, e := range envs {
		fmt.Fprintf(&b, "  %s: {context: %s, namespace: %s}\n", e[0], e[1], e[2])
	}
	if err := os.WriteFile(filepath.Join(dir, ".envops.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// within says whether got is want within the rounding of the metrics
// window: a CPU rate taken between two scrapes is off by a fraction of a
// percent.
func within(got, want int64) bool {
	return math.Abs(float64(got-want)) <= math.Max(2, float64(want)/100)
}

// Pods of three apps in two tiers and two languages, with known emulated
// use, in dev and prod: top prints the sums the emulation implies by tier,
// by language and by both, across both clusters; the pod without labels is
// counted under "(no tier)".
func TestTopSumsEmulatedUseByTheConvention(t *testing.T) {
	requireMetrics(t, devContext, prodContext)
	dev, prod := clientset(t, devContext), clientset(t, prodContext)
	devNS, prodNS := newNamespace(t, devContext), newNamespace(t, prodContext)
	replicas := map[string]map[string]int32{
		"dev":  {"web": 2, "cart": 3, "orders": 1},
		"prod": {"web": 4, "cart": 2, "orders": 3},
	}
	start := time.Now()
	runShop(t, dev, devNS, replicas["dev"])
	runShop(t, prod, prodNS, replicas["prod"])
	dir := topProject(t, [3]string{"dev", devContext, devNS}, [3]string{"prod", prodContext, prodNS})

	// New pods show in the metrics API after one or two scrapes.
	total := func(env string) int64 {
		n := int64(1)
		for _, r := range replicas[env] {
			n += int64(r)
		}
		return n
	}
	var last result
	measured := poll(t, 3*time.Minute, func() bool {
		last = runKubectl(t, dir, "", "envops", "top", "--all-environments", "--by", "tier", "-o", "json")
		if last.ExitCode != 0 {
			return false
		}
		var rows []topRow
		if json.Unmarshal([]byte(last.Stdout), &rows) != nil {
			return false
		}
		pods := map[string]int64{}
		for _, r := range rows {
			pods[r.Environment] += r.Pods
		}
		return pods["dev"] == total("dev") && pods["prod"] == total("prod") && !strings.Contains(last.Stderr, "no metrics yet")
	})
	if !measured {
		t.Fatalf("top never reported every pod of both clusters: %s", last)
	}
	t.Logf("every pod measured %s after the pods were created", time.Since(start).Round(time.Second))

	for _, by := range [][]string{{"tier"}, {"language"}, {"tier", "language"}} {
		t.Run(strings.Join(by, ","), func(t *testing.T) {
			r := runKubectl(t, dir, "", "envops", "top", "--all-environments", "--by", strings.Join(by, ","))
			if r.ExitCode != 0 {
				t.Fatalf("top: %s", r)
			}
			t.Logf("$ kubectl envops top --all-environments --by %s\n%s", strings.Join(by, ","), r.Stdout)
			rows := table(t, r.Stdout)
			for _, env := range []string{"dev", "prod"} {
				want := expected(replicas[env], by...)
				got := map[string][3]int64{}
				for _, row := range rows {
					if row["ENVIRONMENT"] != env {
						continue
					}
					var vals []string
					for _, l := range by {
						vals = append(vals, row[strings.ToUpper(l)])
					}
					var pods, cpu, mem int64
					_, err1 := fmt.Sscanf(row["PODS"], "%d", &pods)
					_, err2 := fmt.Sscanf(row["CPU"], "%dm", &cpu)
					_, err3 := fmt.Sscanf(row["MEMORY"], "%dMi", &mem)
					if err1 != nil || err2 != nil || err3 != nil {
						t.Fatalf("unreadable row %v", row)
					}
					got[strings.Join(vals, "/")] = [3]int64{pods, cpu, mem}
				}
				if len(got) != len(want) {
					t.Errorf("%s: groups %v, want %v", env, got, want)
				}
				for key, w := range want {
					g, ok := got[key]
					if !ok || g[0] != w[0] || !within(g[1], w[1]) || g[2] != w[2] {
						t.Errorf("%s %s: pods, CPU, MiB = %v, want %v (CPU within the window's rounding)", env, key, g, w)
					}
				}
			}
		})
	}

	// Use against requests: the frontend's pods set 200m each and use 100m.
	r := runKubectl(t, dir, "", "envops", "top", "--env", "dev", "--by", "tier", "--sort-by", "memory")
	rows := table(t, r.Stdout)
	if r.ExitCode != 0 || len(rows) != 3 || rows[0]["TIER"] != "backend" {
		t.Fatalf("--sort-by memory puts backend first: %s", r)
	}
	for _, row := range rows {
		if row["TIER"] == "frontend" && row["CPU/REQUESTS"] != "50% of 400m" {
			t.Errorf("frontend CPU/REQUESTS = %q, want 50%% of 400m", row["CPU/REQUESTS"])
		}
		if row["TIER"] == "(no tier)" && (row["PODS"] != "1" || row["CPU/REQUESTS"] != "-") {
			t.Errorf("(no tier) row %v, want the one unlabelled pod, without requests", row)
		}
	}

	// One app, by selector and by name.
	r = runKubectl(t, dir, "", "envops", "top", "cart", "--env", "prod", "--by", "app", "-o", "jsonpath={range .items[*]}{.labels.app}={.pods}{\"\\n\"}{end}")
	if r.ExitCode != 0 || strings.TrimSpace(r.Stdout) != "cart=2" {
		t.Errorf("top cart -o jsonpath: %s", r)
	}
	r = runKubectl(t, dir, "", "envops", "top", "--env", "prod", "--by", "language", "-l", "tier=backend", "-o", "yaml")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "language: java") || strings.Contains(r.Stdout, "frontend") {
		t.Errorf("-l tier=backend -o yaml: %s", r)
	}
}

// requireMetrics stops the test at once, saying why, when a cluster was
// started without the metrics API (reused clusters of an older harness).
func requireMetrics(t *testing.T, contexts ...string) {
	t.Helper()
	for _, kc := range contexts {
		if c := controlPlane(t, kc); !c.Metrics {
			t.Fatalf("cluster %s serves no metrics API (started without metrics-server, or by an older harness): start the clusters again with this harness (envops-cluster up), or unset ENVOPS_E2E_KUBECONFIG", c.Name)
		}
	}
}

// bareCluster is a cluster without metrics-server: the one named "bare"
// among reused clusters, or one started for the test.
func bareCluster(t *testing.T) *cluster.Cluster {
	t.Helper()
	if clusters == nil {
		if c, err := cluster.Load(filepath.Dir(kubeconfig), "bare"); err == nil && !c.Metrics {
			return c
		}
	}
	binDir, err := cluster.Build(t.Context(), cluster.BuildOptions{Log: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cluster.Up(t.Context(), cluster.Options{Name: "bare", Nodes: 1, StateDir: t.TempDir(), BinDir: binDir, Log: os.Stderr, NoMetrics: true, StopWithParent: true})
	if err != nil {
		t.Fatalf("start a cluster without metrics: %v", err)
	}
	t.Cleanup(func() { _ = c.Down() })
	return c
}

// A cluster without metrics-server is one line naming what is missing and
// how to get it, exit 1; the other clusters are printed all the same, and
// the command does not wait out its timeout for it.
func TestTopNamesAClusterWithoutMetrics(t *testing.T) {
	requireMetrics(t, devContext, prodContext)
	bare := bareCluster(t)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := cluster.WriteKubeconfig(kc, controlPlane(t, devContext), bare, controlPlane(t, prodContext)); err != nil {
		t.Fatal(err)
	}
	devNS, prodNS := newNamespace(t, devContext), newNamespace(t, prodContext)
	one := map[string]int32{"web": 1, "cart": 1, "orders": 1}
	runShop(t, clientset(t, devContext), devNS, one)
	runShop(t, clientset(t, prodContext), prodNS, one)
	dir := topProject(t, [3]string{"dev", devContext, devNS}, [3]string{"bare", bare.Context, "default"}, [3]string{"prod", prodContext, prodNS})
	var r result
	var took time.Duration
	ok := poll(t, 3*time.Minute, func() bool {
		start := time.Now()
		r = runIn(t, kc, dir, "envops", "top", "--all-environments", "--by", "tier", "--timeout", "60s")
		took = time.Since(start)
		return strings.Count(r.Stdout, "\ndev ") == 3 && strings.Count(r.Stdout, "\nprod ") == 3
	})
	if !ok {
		t.Fatalf("dev and prod never showed their three tiers: %s", r)
	}
	if r.ExitCode != 1 {
		t.Errorf("exit %d, want 1", r.ExitCode)
	}
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	last := lines[len(lines)-1]
	for _, want := range []string{"error: environment bare", `context "envops-bare"`, "no metrics API", "metrics.k8s.io", "install metrics-server"} {
		if !strings.Contains(last, want) {
			t.Errorf("the line for bare lacks %q: %s", want, last)
		}
	}
	named := 0
	for _, l := range lines {
		if strings.Contains(l, "envops-bare") {
			named++
		}
	}
	if named != 1 {
		t.Errorf("the cluster without metrics is named on %d lines, want one:\n%s", named, r.Stderr)
	}
	if took >= 60*time.Second {
		t.Errorf("top took %s, its whole --timeout: the cluster without metrics held up the others", took)
	}
	t.Logf("top across dev, bare and prod took %s", took.Round(time.Millisecond))
}
