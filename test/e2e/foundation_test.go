package e2e

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestPluginIsDiscoveredByKubectl(t *testing.T) {
	r := runKubectl(t, "", "", "plugin", "list")
	if r.ExitCode != 0 {
		t.Fatalf("kubectl plugin list failed:\n%s", r)
	}
	if !strings.Contains(r.Stdout, "kubectl-envops") {
		t.Errorf("kubectl plugin list does not list kubectl-envops:\n%s", r)
	}
	if strings.Contains(strings.ToLower(r.Stderr), "warning") {
		t.Errorf("kubectl plugin list printed warnings:\n%s", r)
	}
}

func TestVersionThroughKubectl(t *testing.T) {
	r := runKubectl(t, "", "", "envops", "version")
	if r.ExitCode != 0 {
		t.Fatalf("kubectl envops version failed:\n%s", r)
	}
	for _, want := range []string{"kubectl-envops v0.0.0-e2e", "commit:", "e2e", "go1.", "client-go:  v0.37."} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("version output lacks %q:\n%s", want, r.Stdout)
		}
	}

	r = runKubectl(t, "", "", "envops", "version", "-o", "json")
	if r.ExitCode != 0 {
		t.Fatalf("kubectl envops version -o json failed:\n%s", r)
	}
	var info map[string]string
	if err := json.Unmarshal([]byte(r.Stdout), &info); err != nil {
		t.Fatalf("version -o json is not valid JSON: %v\n%s", err, r.Stdout)
	}
	if info["version"] != "v0.0.0-e2e" || info["commit"] != "e2e" || !strings.HasPrefix(info["clientGoVersion"], "v0.37.") {
		t.Errorf("version -o json = %v, want the build's stamped version, commit and client-go v0.37.x", info)
	}

	r = runKubectl(t, "", "", "envops", "version", "-o", "xml")
	if r.ExitCode != 2 || !strings.Contains(r.Stderr, `unknown output format "xml"`) || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
		t.Errorf("a bad -o value should give one line and exit 2:\n%s", r)
	}
}

func TestUnknownFlagIsAUsageError(t *testing.T) {
	r := runKubectl(t, "", "", "envops", "version", "--no-such-flag")
	if r.ExitCode != 2 || !strings.Contains(r.Stderr, "unknown flag: --no-such-flag") {
		t.Errorf("an unknown flag should exit 2 naming the flag:\n%s", r)
	}
}

// The local clusters are real: a ReplicationController gets its pods
// scheduled on kwok nodes and Ready, on both clusters.
func TestReplicationControllerPodsBecomeReady(t *testing.T) {
	for _, kc := range []string{devContext, prodContext} {
		t.Run(kc, func(t *testing.T) {
			cs := clientset(t, kc)
			ns := newNamespace(t, kc)
			labels := map[string]string{"name": "web-frontend"}
			rc := &corev1.ReplicationController{
				ObjectMeta: metav1.ObjectMeta{Name: "web"},
				Spec: corev1.ReplicationControllerSpec{
					Replicas: ptr.To[int32](3),
					Selector: labels,
					Template: &corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: labels},
						Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
					},
				},
			}
			if _, err := cs.CoreV1().ReplicationControllers(ns).Create(t.Context(), rc, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			var pods *corev1.PodList
			waitFor(t, 60*time.Second, "3 Ready pods of rc/web", func() bool {
				var err error
				pods, err = cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "name=web-frontend"})
				if err != nil {
					return false
				}
				ready := 0
				for _, p := range pods.Items {
					for _, c := range p.Status.Conditions {
						if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
							ready++
						}
					}
				}
				return ready == 3
			})
			for _, p := range pods.Items {
				if !strings.HasPrefix(p.Spec.NodeName, strings.TrimPrefix(kc, "envops-")+"-node-") {
					t.Errorf("pod %s runs on %q, want a kwok node of %s", p.Name, p.Spec.NodeName, kc)
				}
			}
		})
	}
}

// --context picks the cluster: an environment Secret that exists only on
// the prod cluster is seen through --context envops-prod and not through
// --context envops-dev, in the same namespace name.
func TestContextFlagSelectsTheCluster(t *testing.T) {
	ns := newNamespace(t, prodContext)
	// The same namespace name on dev, without the Secret.
	dev := clientset(t, devContext)
	if _, err := dev.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "environment"},
		StringData: map[string]string{"environment": "prod"},
	}
	if _, err := clientset(t, prodContext).CoreV1().Secrets(ns).Create(t.Context(), secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	r := runKubectl(t, "", "", "envops", "--context", prodContext, "-n", ns, "env")
	if r.ExitCode != 0 || !regexp.MustCompile(`environment:\s+prod`).MatchString(r.Stdout) || !strings.Contains(r.Stdout, prodContext) {
		t.Errorf("--context %s should read environment prod from the prod cluster:\n%s", prodContext, r)
	}
	r = runKubectl(t, "", "", "envops", "--context", devContext, "-n", ns, "env")
	if strings.Contains(r.Stdout, "prod") || !strings.Contains(r.Stdout+r.Stderr, devContext) {
		t.Errorf("--context %s must reach the dev cluster, where namespace %s has no environment Secret:\n%s", devContext, ns, r)
	}
}
