package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// lintRC is a ReplicationController with the given labels on itself and
// its pod template; withSecret mounts the environment Secret.
func lintRC(name string, labels map[string]string, withSecret bool) *corev1.ReplicationController {
	pod := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/" + name + ":1"}}}
	if withSecret {
		pod.Volumes = []corev1.Volume{{Name: "environment", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "environment"}}}}
		pod.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "environment", MountPath: "/etc/secrets", ReadOnly: true}}
	}
	return &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr.To[int32](2),
			Selector: labels,
			Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod},
		},
	}
}

// lintJSON is the part of "lint -o json" the tests read.
type lintJSON struct {
	Findings []struct {
		Rule     string `json:"rule"`
		Severity string `json:"severity"`
		Message  string `json:"message"`
		Object   struct {
			Kind, Namespace, Name string
		} `json:"object"`
		Location struct {
			Context   string `json:"context"`
			Namespace string `json:"namespace"`
			File      string `json:"file"`
			Line      int    `json:"line"`
		} `json:"location"`
	} `json:"findings"`
	Summary struct {
		Objects int `json:"objects"`
		Sources int `json:"sources"`
	} `json:"summary"`
}

func parseLint(t *testing.T, r result) lintJSON {
	t.Helper()
	var out lintJSON
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("lint -o json printed no JSON: %v\n%s", err, r)
	}
	return out
}

// createLintRCs creates one well-labelled and one badly-labelled RC in ns.
func createLintRCs(t *testing.T, kubeContext, ns string) {
	t.Helper()
	cs := clientset(t, kubeContext)
	good := lintRC("web", map[string]string{"name": "web-frontend", "app": "web", "tier": "frontend", "role": "frontend"}, true)
	// Labelled like the classic guestbook: app, tier and role, no name, no Secret.
	bad := lintRC("redis-master", map[string]string{"app": "redis", "tier": "backend", "role": "master"}, false)
	for _, rc := range []*corev1.ReplicationController{good, bad} {
		if _, err := cs.CoreV1().ReplicationControllers(ns).Create(t.Context(), rc, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create RC %s: %v", rc.Name, err)
		}
	}
}

func TestLintLiveNamespace(t *testing.T) {
	ns := newNamespace(t, devContext)
	createLintRCs(t, devContext, ns)

	r := runKubectl(t, "", "", "envops", "lint", "--live", "--context", devContext, "-n", ns, "-o", "json")
	if r.ExitCode != 1 {
		t.Fatalf("want exit 1 for findings:\n%s", r)
	}
	got := parseLint(t, r)
	var findings []string
	for _, f := range got.Findings {
		findings = append(findings, fmt.Sprintf("%s/%s %s %s: %s", f.Object.Kind, f.Object.Name, f.Severity, f.Rule, f.Message))
		if f.Location.Context != devContext || f.Location.Namespace != ns || f.Object.Namespace != ns {
			t.Errorf("finding located at %+v in namespace %q, want context %s namespace %s", f.Location, f.Object.Namespace, devContext, ns)
		}
	}
	want := []string{
		"ReplicationController/redis-master error required-labels: the controller is missing required label name",
		"ReplicationController/redis-master error required-labels: the pod template is missing required label name",
		`ReplicationController/redis-master error env-secret-mounted: the pod template does not mount the environment Secret "environment"`,
	}
	if strings.Join(findings, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(findings, "\n"), strings.Join(want, "\n"))
	}
	// The RCs' pods belong to their controllers and are not checked again.
	if got.Summary.Objects != 2 {
		t.Errorf("checked %d objects, want the 2 RCs", got.Summary.Objects)
	}

	// The text report names the cluster and the fix.
	r = runKubectl(t, "", "", "envops", "lint", "--live", "--context", devContext, "-n", ns)
	for _, w := range []string{"context " + devContext + ", namespace " + ns, "fix: add name: redis-master under metadata.labels", "2 objects checked in 1 namespace: 3 errors, 0 warnings"} {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("text report lacks %q:\n%s", w, r)
		}
	}
	if r.ExitCode != 1 || strings.Contains(r.Stdout, "\x1b[") {
		t.Errorf("want exit 1 and no colour off a terminal:\n%s", r)
	}

	// Opting the bad RC out of the rules it breaks leaves nothing to report.
	cs := clientset(t, devContext)
	rc, err := cs.CoreV1().ReplicationControllers(ns).Get(t.Context(), "redis-master", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc.Annotations = map[string]string{"envops.io/lint-ignore": "required-labels,env-secret-mounted"}
	if _, err := cs.CoreV1().ReplicationControllers(ns).Update(t.Context(), rc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	r = runKubectl(t, "", "", "envops", "lint", "--live", "--context", devContext, "-n", ns)
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "2 objects checked in 1 namespace: no findings") {
		t.Errorf("want a clean run after opting out:\n%s", r)
	}
}

func TestLintLiveAllContexts(t *testing.T) {
	ns := newNamespace(t, devContext)
	createLintRCs(t, devContext, ns)
	// The same namespace on prod, holding only the bad RC.
	prod := clientset(t, prodContext)
	if _, err := prod.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = prod.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	waitFor(t, 30*time.Second, "default ServiceAccount on prod", func() bool {
		_, err := prod.CoreV1().ServiceAccounts(ns).Get(t.Context(), "default", metav1.GetOptions{})
		return err == nil
	})
	bad := lintRC("cache", map[string]string{"name": "cache-store", "app": "cache", "tier": "backend"}, true)
	if _, err := prod.CoreV1().ReplicationControllers(ns).Create(t.Context(), bad, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	r := runKubectl(t, "", "", "envops", "lint", "--live", "--all-contexts", "-n", ns, "-o", "json")
	if r.ExitCode != 1 {
		t.Fatalf("want exit 1 for findings:\n%s", r)
	}
	got := parseLint(t, r)
	byContext := map[string][]string{}
	for _, f := range got.Findings {
		byContext[f.Location.Context] = append(byContext[f.Location.Context], f.Object.Name+" "+f.Rule)
	}
	for c := range byContext {
		sort.Strings(byContext[c])
	}
	if strings.Join(byContext[devContext], ",") != "redis-master env-secret-mounted,redis-master required-labels,redis-master required-labels" {
		t.Errorf("dev findings: %v", byContext[devContext])
	}
	if strings.Join(byContext[prodContext], ",") != "cache required-labels,cache required-labels" {
		t.Errorf("prod findings: %v", byContext[prodContext])
	}
	if got.Summary.Objects != 3 || got.Summary.Sources != 2 {
		t.Errorf("summary %+v, want 3 objects from 2 contexts", got.Summary)
	}
}

func TestLintLiveAccessDenied(t *testing.T) {
	ns := newNamespace(t, devContext)
	// The namespace's default ServiceAccount may read nothing.
	r := runKubectl(t, "", "", "envops", "lint", "--live", "--context", devContext, "-n", ns, "--as", "system:serviceaccount:"+ns+":default")
	if r.ExitCode != 2 {
		t.Fatalf("want exit 2 for an RBAC denial (lint could not check), not the 1 of findings:\n%s", r)
	}
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "error: cannot list replicationcontrollers in namespace \""+ns+"\"") || !strings.Contains(lines[0], "access denied") {
		t.Errorf("want one line naming what was denied, got:\n%s", r.Stderr)
	}
}

func TestLintFilesThroughKubectl(t *testing.T) {
	dir := t.TempDir()
	manifest := `apiVersion: v1
kind: ReplicationController
metadata:
  name: frontend
  labels: {app: guestbook, tier: frontend}
spec:
  replicas: 3
  template:
    metadata:
      labels: {app: guestbook, tier: frontend}
    spec:
      containers:
      - name: php-redis
        image: gcr.io/google_samples/gb-frontend:v4
`
	if err := os.WriteFile(filepath.Join(dir, "frontend.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}

	r := runKubectl(t, dir, "", "envops", "lint", "frontend.yaml", "-o", "sarif")
	if r.ExitCode != 1 {
		t.Fatalf("want exit 1:\n%s", r)
	}
	var sarif struct {
		Version string `json:"version"`
		Runs    []struct {
			Results []struct {
				RuleID    string `json:"ruleId"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }    `json:"artifactLocation"`
						Region           struct{ StartLine int } `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &sarif); err != nil || sarif.Version != "2.1.0" || len(sarif.Runs) != 1 {
		t.Fatalf("not a SARIF 2.1.0 log (%v):\n%s", err, r.Stdout)
	}
	var got []string
	for _, res := range sarif.Runs[0].Results {
		loc := res.Locations[0].PhysicalLocation
		got = append(got, fmt.Sprintf("%s:%d %s", loc.ArtifactLocation.URI, loc.Region.StartLine, res.RuleID))
	}
	want := "frontend.yaml:5 required-labels,frontend.yaml:10 required-labels,frontend.yaml:11 env-secret-mounted"
	if strings.Join(got, ",") != want {
		t.Errorf("results %v, want %s", got, want)
	}

	// Standard input, and a broken document: exit 2 with file and line.
	r = runKubectl(t, dir, manifest+"---\nkind: [\n", "envops", "lint", "-", "-o", "github")
	if r.ExitCode != 2 || !strings.Contains(r.Stderr, "error: <stdin>:16: cannot parse YAML") || !strings.Contains(r.Stdout, "::error title=envops lint%3A required-labels::") {
		t.Errorf("want annotations, then exit 2 naming <stdin>:16:\n%s", r)
	}
}

// TestLintLiveOverlappingSelectors: two controllers of one app created
// with one selector would fight over the same pods; lint --live flags the
// pair once, naming both, and a controller with a selector of its own is clean.
func TestLintLiveOverlappingSelectors(t *testing.T) {
	ns := newNamespace(t, devContext)
	cs := clientset(t, devContext)
	labels := map[string]string{"name": "twin-server", "app": "twin", "tier": "backend", "role": "server"}
	twin := lintRC("twin", labels, true)
	canary := lintRC("twin-canary", labels, true)
	other := lintRC("solo", map[string]string{"name": "solo-server", "app": "solo", "tier": "backend", "role": "server"}, true)
	for _, rc := range []*corev1.ReplicationController{twin, canary, other} {
		rc.Spec.Replicas = ptr.To[int32](0)
		if _, err := cs.CoreV1().ReplicationControllers(ns).Create(t.Context(), rc, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create RC %s: %v", rc.Name, err)
		}
	}
	r := runKubectl(t, "", "", "envops", "lint", "--live", "--context", devContext, "-n", ns, "-o", "json")
	if r.ExitCode != 1 {
		t.Fatalf("want exit 1 for the overlap:\n%s", r)
	}
	var overlaps []string
	for _, f := range parseLint(t, r).Findings {
		if f.Rule == "selector-overlap" {
			overlaps = append(overlaps, f.Object.Name+": "+f.Message)
		}
	}
	// The list comes back in name order: twin before twin-canary.
	want := "twin-canary: the pods of this controller are also selected by ReplicationController/twin (namespace " + ns + "), whose selector is app=twin,name=twin-server,role=server,tier=backend: both controllers would manage the same pods"
	if len(overlaps) != 1 || overlaps[0] != want {
		t.Errorf("overlap findings:\n%s\nwant:\n%s", strings.Join(overlaps, "\n"), want)
	}
}
