package cmd

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/environment"
	"github.com/envops/kubectl-envops/pkg/fleet"
)

// devCluster is a fake dev cluster running web:2, its Secret bound to it.
func devCluster() kubernetes.Interface {
	return fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system", UID: types.UID("dev-uid")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "environment", Namespace: "web",
			Annotations: map[string]string{environment.IdentityAnnotation: "kube-system:dev-uid"}},
			Data: map[string][]byte{"environment": []byte("dev")}},
		&corev1.ReplicationController{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "web", Labels: map[string]string{"app": "web"}},
			Spec: corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](2), Selector: map[string]string{"app": "web"},
				Template: &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:2"}}}}},
			Status: corev1.ReplicationControllerStatus{ReadyReplicas: 2},
		},
	)
}

func TestStatusUnansweringClusterIsARow(t *testing.T) {
	release := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer stuck.Close()
	defer close(release)

	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	o := &StatusOptions{
		Apps:    []string{"web"},
		Timeout: 300 * time.Millisecond,
		Config:  config.Default(),
		Targets: []fleet.Target{{Env: "dev", Context: "dev", Namespace: "web"}, {Env: "prod", Context: "prod", Namespace: "web"}},
		NewClient: func(name string, timeout time.Duration) (kubernetes.Interface, error) {
			if name == "dev" {
				return devCluster(), nil
			}
			return kubernetes.NewForConfig(fleet.WithDeadline(&rest.Config{Host: stuck.URL}, timeout))
		},
		Now:       time.Now,
		IOStreams: streams,
	}
	err := o.Run(t.Context())
	if ExitCode(err) != ExitError || !strings.Contains(err.Error(), "prod unreachable") {
		t.Errorf("err = %v, want exit 1 naming prod unreachable", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want a header and two rows:\n%s", out)
	}
	for _, want := range []string{"dev", "ok", "web", "ReplicationController", "web:2", "2/2", "steady"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("the dev row lacks %q: %s", want, lines[1])
		}
	}
	if !strings.Contains(lines[2], "prod") || !strings.Contains(lines[2], "unreachable: no answer within 300ms") {
		t.Errorf("the prod row should say it is unreachable: %s", lines[2])
	}
}

func TestStatusHealthyExitsZero(t *testing.T) {
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	o := &StatusOptions{
		Apps: []string{"web"}, Timeout: time.Second, Config: config.Default(), Output: "json",
		Targets:   []fleet.Target{{Env: "dev", Context: "dev", Namespace: "web"}},
		NewClient: func(string, time.Duration) (kubernetes.Interface, error) { return devCluster(), nil },
		Now:       time.Now, IOStreams: streams,
	}
	if err := o.Run(t.Context()); err != nil {
		t.Fatalf("a steady, healthy environment: %v", err)
	}
	if !strings.Contains(out.String(), `"ok": true`) {
		t.Errorf("json lacks ok: true:\n%s", out)
	}
}

func TestStatusValidate(t *testing.T) {
	for _, o := range []StatusOptions{{Output: "table", Timeout: time.Second}, {Timeout: 0}, {Watch: true, Output: "json", Timeout: time.Second, Interval: time.Second}, {Watch: true, Output: "jsonpath={.items}", Timeout: time.Second, Interval: time.Second}, {Watch: true, Timeout: time.Second}} {
		if err := o.Validate(); ExitCode(err) != ExitUsage {
			t.Errorf("%+v: err = %v, want a usage error", o, err)
		}
	}
}

// --watch prints the table once, then, as kubectl get --watch does, only
// the rows whose data changed; the clock moving on ("19s ago" becoming
// "21s ago") is no change.
func TestStatusWatchPrintsOnChange(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	calls := 0
	cs := devCluster()
	rc, _ := cs.CoreV1().ReplicationControllers("web").Get(ctx, "web", metav1.GetOptions{})
	rc.Annotations = audit.Record{User: "alice", Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}.Annotations()
	_, _ = cs.CoreV1().ReplicationControllers("web").Update(ctx, rc, metav1.UpdateOptions{})
	clock := time.Date(2026, 1, 1, 0, 0, 19, 0, time.UTC)
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	o := &StatusOptions{
		Apps: []string{"web"}, Timeout: time.Second, Config: config.Default(), Watch: true, Interval: time.Millisecond,
		Targets: []fleet.Target{{Env: "dev", Context: "dev", Namespace: "web"}, {Env: "prod", Context: "prod", Namespace: "web"}},
		NewClient: func(name string, _ time.Duration) (kubernetes.Interface, error) {
			if name == "prod" {
				return fake.NewClientset(), nil
			}
			calls++
			switch calls {
			case 5:
				// The fifth round sees a new image.
				rc, _ := cs.CoreV1().ReplicationControllers("web").Get(ctx, "web", metav1.GetOptions{})
				rc.Spec.Template.Spec.Containers[0].Image = "web:3"
				_, _ = cs.CoreV1().ReplicationControllers("web").Update(ctx, rc, metav1.UpdateOptions{})
			case 8:
				cancel()
			}
			return cs, nil
		},
		// Each round is two seconds later: the LAST DEPLOY column's
		// rendering changes every round, its data never.
		Now:       func() time.Time { clock = clock.Add(time.Second); return clock },
		IOStreams: streams,
	}
	if err := o.Run(ctx); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("want the header, the two rows, and the one row that changed; got:\n%s", out)
	}
	if !strings.HasPrefix(lines[0], "ENVIRONMENT") || strings.Count(out.String(), "ENVIRONMENT") != 1 {
		t.Errorf("the header should be printed once, first:\n%s", out)
	}
	if !strings.Contains(lines[1], "web:2") || !strings.Contains(lines[2], "prod") {
		t.Errorf("the first round should print every row:\n%s", out)
	}
	if !strings.HasPrefix(lines[3], "dev") || !strings.Contains(lines[3], "web:3") {
		t.Errorf("the last line should be dev's row with the new image:\n%s", out)
	}
	// The changed row lines up with the header.
	if strings.Index(lines[3], "web:3") != strings.Index(lines[0], "IMAGE") {
		t.Errorf("the changed row is not aligned with the header:\n%s", out)
	}
}

// -o jsonpath= and -o go-template= see the rows as .items.
func TestStatusTemplates(t *testing.T) {
	for _, tc := range []struct{ output, want string }{
		{"jsonpath={range .items[*]}{.environment} {.app} {.images[0]} {.ready}/{.desired} {.state}{end}", "dev web web:2 2/2 steady"},
		{"go-template={{range .items}}{{.context}}:{{.secret}}:{{.ok}}{{end}}", "dev:ok:true"},
	} {
		streams, _, out, _ := genericiooptions.NewTestIOStreams()
		o := &StatusOptions{
			Apps: []string{"web"}, Timeout: time.Second, Config: config.Default(), Output: tc.output,
			Targets:   []fleet.Target{{Env: "dev", Context: "dev", Namespace: "web"}},
			NewClient: func(string, time.Duration) (kubernetes.Interface, error) { return devCluster(), nil },
			Now:       time.Now, IOStreams: streams,
		}
		if err := o.Run(t.Context()); err != nil {
			t.Errorf("%s: %v", tc.output, err)
		}
		if out.String() != tc.want {
			t.Errorf("%s: printed %q, want %q", tc.output, out, tc.want)
		}
	}
}
