package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// env -n NAME for a namespace that does not exist says so, and how to list
// the namespaces, instead of "has no Secret".
func TestEnvNamesANamespaceThatDoesNotExist(t *testing.T) {
	ns := "e2e-nosuch-" + sanitize(t.Name())[:10]
	r := runKubectl(t, "", "", "envops", "env", "--context", devContext, "-n", ns)
	oneErrorLine(t, r, 2, `namespace "`+ns+`" not found`, `kubectl get namespaces`)
	if strings.Contains(r.Stderr, "Secret") {
		t.Errorf("the error speaks of a Secret, not of the namespace:\n%s", r)
	}
}

// holdWithFinalizer keeps an object (and so its namespace) from going away
// until the test ends.
func holdWithFinalizer(t *testing.T, kind, ns, name string) {
	t.Helper()
	cs := clientset(t, devContext)
	add := []byte(`{"metadata":{"finalizers":["envops.io/e2e-hold"]}}`)
	remove := []byte(`{"metadata":{"finalizers":null}}`)
	var err error
	switch kind {
	case "secret":
		_, err = cs.CoreV1().Secrets(ns).Patch(t.Context(), name, types.MergePatchType, add, metav1.PatchOptions{})
		t.Cleanup(func() {
			_, _ = cs.CoreV1().Secrets(ns).Patch(context.Background(), name, types.MergePatchType, remove, metav1.PatchOptions{})
		})
	case "rc":
		_, err = cs.CoreV1().ReplicationControllers(ns).Patch(t.Context(), name, types.MergePatchType, add, metav1.PatchOptions{})
		t.Cleanup(func() {
			_, _ = cs.CoreV1().ReplicationControllers(ns).Patch(context.Background(), name, types.MergePatchType, remove, metav1.PatchOptions{})
		})
	}
	if err != nil {
		t.Fatalf("hold %s %s/%s: %v", kind, ns, name, err)
	}
}

// A deploy into a namespace being deleted is refused at once, naming the
// namespace as Terminating, and changes nothing; it does not wait for pods
// that can never be created.
func TestDeployRefusesATerminatingNamespace(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	dir := deployProject(t, ns, ns, 2)
	if r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev"); r.ExitCode != 0 {
		t.Fatalf("first deploy:\n%s", r)
	}
	// The Secret and the controller outlive the namespace's deletion, as
	// objects with finalizers do.
	holdWithFinalizer(t, "secret", ns, "environment")
	holdWithFinalizer(t, "rc", ns, "web")
	if err := cs.CoreV1().Namespaces().Delete(t.Context(), ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "namespace "+ns+" Terminating", func() bool {
		n, err := cs.CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{})
		return err == nil && n.Status.Phase == corev1.NamespaceTerminating
	})
	before, err := cs.CoreV1().ReplicationControllers(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--image", "nginx:1.28", "--failure-grace", "5m", "--timeout", "5m")
	oneErrorLine(t, r, 1, `namespace "`+ns+`" is being deleted (Terminating)`, devContext)

	after, err := cs.CoreV1().ReplicationControllers(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(before.Spec)
	a, _ := json.Marshal(after.Spec)
	if string(a) != string(b) || after.Annotations["envops.io/update"] != "" {
		t.Errorf("the refused deploy changed the controller:\nbefore %s\nafter  %s", b, a)
	}
}
