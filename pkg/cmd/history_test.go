package cmd

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/envops/kubectl-envops/pkg/audit"
)

// history -o jsonpath= and -o go-template= see the deploys, newest first,
// as .items.
func TestHistoryTemplates(t *testing.T) {
	rc := func(name, user, image string, at time.Time) *corev1.ReplicationController {
		return &corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: map[string]string{"app": "web"},
			Annotations: audit.Record{User: user, Time: at, Environment: "dev", Image: image}.Annotations()}}
	}
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	client := fake.NewClientset(rc("web", "alice", "web:2", at.Add(time.Hour)), rc("web-old", "bob", "web:1", at))
	for _, tc := range []struct{ format, want string }{
		{"jsonpath={.items[*].image}", "web:2 web:1"},
		{`go-template={{range .items}}{{.user}} {{.controller}};{{end}}`, "alice ReplicationController/web;bob ReplicationController/web-old;"},
	} {
		streams, _, out, _ := genericiooptions.NewTestIOStreams()
		o := &HistoryOptions{App: "web", Output: tc.format, Namespace: "shop", Client: client, IOStreams: streams}
		if err := o.Validate(); err != nil {
			t.Fatal(err)
		}
		if err := o.Run(t.Context()); err != nil {
			t.Fatalf("%s: %v", tc.format, err)
		}
		if out.String() != tc.want {
			t.Errorf("%s: got %q, want %q", tc.format, out.String(), tc.want)
		}
	}
}
