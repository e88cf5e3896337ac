package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

// TestTemplatesThroughKubectl reads env, env --all-contexts, init-env and
// status through -o jsonpath= and -o go-template=, as scripts do.
func TestTemplatesThroughKubectl(t *testing.T) {
	ns := map[string]string{devContext: newNamespace(t, devContext), prodContext: newNamespace(t, prodContext)}
	envOf := map[string]string{devContext: "dev", prodContext: "prod"}
	for _, c := range []string{devContext, prodContext} {
		r := runKubectl(t, "", "", "envops", "init-env", envOf[c], "--context", c, "-n", ns[c], "-o", "go-template={{.kind}}/{{.metadata.namespace}}={{.data.environment}}")
		if want := fmt.Sprintf("Secret/%s=%s", ns[c], map[string]string{"dev": "ZGV2", "prod": "cHJvZA=="}[envOf[c]]); r.ExitCode != 0 || r.Stdout != want {
			t.Fatalf("init-env -o go-template printed %q, want %q:\n%s", r.Stdout, want, r)
		}
	}

	r := runKubectl(t, "", "", "envops", "env", "--context", devContext, "-n", ns[devContext], "-o", "jsonpath={.environment} {.source}")
	if want := "dev " + ns[devContext]; r.ExitCode != 0 || r.Stdout != want {
		t.Errorf("env -o jsonpath printed %q, want %q:\n%s", r.Stdout, want, r)
	}
	r = runKubectl(t, "", "", "envops", "env", "--context", prodContext, "-n", ns[prodContext], "-o", "go-template={{.context}} serves {{.environment}}")
	if want := prodContext + " serves prod"; r.ExitCode != 0 || r.Stdout != want {
		t.Errorf("env -o go-template printed %q, want %q:\n%s", r.Stdout, want, r)
	}

	// Every context, each pointed at its test namespace.
	raw, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for c, n := range ns {
		raw.Contexts[c].Namespace = n
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*raw, path); err != nil {
		t.Fatal(err)
	}
	r = runKubectl(t, "", "", "envops", "env", "--all-contexts", "--kubeconfig", path, "-o", "jsonpath={range .items[*]}{.context}={.environment}:{.status};{end}")
	if want := devContext + "=dev:ok;" + prodContext + "=prod:ok;"; r.ExitCode != 0 || r.Stdout != want {
		t.Errorf("env --all-contexts -o jsonpath printed %q, want %q:\n%s", r.Stdout, want, r)
	}

	// status: one app, scaled to zero so that it is steady at once.
	for _, c := range []string{devContext, prodContext} {
		cs := clientset(t, c)
		labels := map[string]string{"app": "web"}
		_, err := cs.CoreV1().ReplicationControllers(ns[c]).Create(t.Context(), &corev1.ReplicationController{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: labels},
			Spec: corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](0), Selector: labels,
				Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Wait for the replication manager to observe it, which status
		// would otherwise report as updating.
		err = wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			rc, err := cs.CoreV1().ReplicationControllers(ns[c]).Get(ctx, "web", metav1.GetOptions{})
			return err == nil && rc.Status.ObservedGeneration >= rc.Generation, nil
		})
		if err != nil {
			t.Fatalf("the replication manager of %s did not observe the controller: %v", c, err)
		}
	}
	dir := t.TempDir()
	writeProjectFile(t, filepath.Join(dir, ".envops.yaml"), fmt.Sprintf("environments:\n  dev: {context: %s, namespace: %s}\n  prod: {context: %s, namespace: %s}\n",
		devContext, ns[devContext], prodContext, ns[prodContext]))
	r = runKubectl(t, dir, "", "envops", "status", "web", "-o", "jsonpath={range .items[*]}{.environment}:{.secret}:{.images[0]}:{.ready}/{.desired}:{.state};{end}")
	if want := "dev:ok:nginx:1.27:0/0:steady;prod:ok:nginx:1.27:0/0:steady;"; r.ExitCode != 0 || r.Stdout != want {
		t.Errorf("status -o jsonpath printed %q, want %q:\n%s", r.Stdout, want, r)
	}
	r = runKubectl(t, dir, "", "envops", "status", "web", "-o", `go-template={{range .items}}{{.context}} {{.kind}} {{.ok}}{{"\n"}}{{end}}`)
	if want := devContext + " ReplicationController true\n" + prodContext + " ReplicationController true\n"; r.ExitCode != 0 || r.Stdout != want {
		t.Errorf("status -o go-template printed %q, want %q:\n%s", r.Stdout, want, r)
	}
	// A template that fails is one line on stderr and exit code 2.
	r = runKubectl(t, dir, "", "envops", "status", "web", "-o", "go-template={{index .items 7}}")
	oneErrorLine(t, r, 2, "check the template given to --output")
	if r.Stdout != "" {
		t.Errorf("a failing template printed:\n%s", r.Stdout)
	}
}
