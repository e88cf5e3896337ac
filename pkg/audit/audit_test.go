package audit

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func TestCommandLineRedactsCredentials(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "plain flags are kept", args: []string{"deploy", "web", "--env=prod", "--image=web:2"}, want: "kubectl envops deploy web --env=prod --image=web:2"},
		{name: "token with =", args: []string{"deploy", "web", "--token=s3cret"}, want: "kubectl envops deploy web --token=REDACTED"},
		{name: "password as the next argument", args: []string{"init-env", "dev", "--password", "hunter2", "-n", "web"}, want: "kubectl envops init-env dev --password REDACTED -n web"},
		{name: "webhook URL", args: []string{"deploy", "web", "--notify=https://hooks.example.com/T0/B0/xyz"}, want: "kubectl envops deploy web --notify=REDACTED"},
		{name: "a flag that merely starts like one is kept", args: []string{"deploy", "--tokenizer=x"}, want: "kubectl envops deploy --tokenizer=x"},
		{name: "proxy URL with a password", args: []string{"deploy", "web", "--proxy-url=http://alice:s3cret@proxy.example.com:3128"},
			want: "kubectl envops deploy web --proxy-url=http://REDACTED@proxy.example.com:3128"},
		{name: "server URL with a password as the next argument", args: []string{"history", "web", "--server", "https://alice:hunter2@api.example.com:6443"},
			want: "kubectl envops history web --server https://REDACTED@api.example.com:6443"},
		{name: "a token as the user of a URL", args: []string{"deploy", "web", "-s", "https://xyz@api.example.com"},
			want: "kubectl envops deploy web -s https://REDACTED@api.example.com"},
		{name: "a password that holds an @", args: []string{"deploy", "--server=https://alice:s3cret@xyz@api.example.com/path?q=a@b"},
			want: "kubectl envops deploy --server=https://REDACTED@api.example.com/path?q=a@b"},
		{name: "a URL inside a flag's value", args: []string{"new", "web", "--image=x", "--some-flag=mirror=HTTPS://alice:s3cret@m.example.com"},
			want: "kubectl envops new web --image=x --some-flag=mirror=HTTPS://REDACTED@m.example.com"},
		{name: "URLs without user information are kept", args: []string{"deploy", "--server=https://api.example.com:6443", "--image=registry.example.com:5000/web@sha256:abc"},
			want: "kubectl envops deploy --server=https://api.example.com:6443 --image=registry.example.com:5000/web@sha256:abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CommandLine(tt.args)
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			for _, secret := range []string{"s3cret", "hunter2", "xyz"} {
				if strings.Contains(got, secret) {
					t.Errorf("%q leaks %q", got, secret)
				}
			}
		})
	}
}

func TestRecordRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	r := Record{User: "alice", Time: at, Environment: "prod", Image: "web:2", Cause: "kubectl envops deploy web"}
	a := r.Annotations()
	if a[KubeChangeCause] != r.Cause || a[DeployedAt] != "2026-11-25T10:00:00Z" {
		t.Errorf("annotations %v", a)
	}
	got, ok := FromAnnotations(a)
	if !ok || got != r {
		t.Errorf("read back %+v (%v), want %+v", got, ok, r)
	}
	if _, ok := FromAnnotations(map[string]string{KubeChangeCause: "by hand"}); ok {
		t.Error("an object without a record reads as having one")
	}
	obj := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"keep": "me"}}}
	r.Stamp(obj)
	if obj.Annotations["keep"] != "me" || obj.Annotations[DeployedBy] != "alice" {
		t.Errorf("Stamp left %v", obj.Annotations)
	}
}

func TestHistoryNewestFirstWithoutDuplicates(t *testing.T) {
	at := func(min int) time.Time { return time.Date(2026, 11, 25, 10, min, 0, 0, time.UTC) }
	rec := func(min int, user, image string) Record {
		return Record{User: user, Time: at(min), Environment: "dev", Image: image, Cause: "deploy " + image}
	}
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Labels: labels, UID: "d1",
		Annotations: merge(rec(3, "carol", "web:3").Annotations(), map[string]string{"deployment.kubernetes.io/revision": "3"})}}
	owned := []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "d1", Controller: ptr.To(true)}}
	rs := func(name string, r Record, rev string) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: labels, OwnerReferences: owned,
			Annotations: merge(r.Annotations(), map[string]string{"deployment.kubernetes.io/revision": rev})}}
	}
	named := func(ev *corev1.Event, name string) *corev1.Event { ev.Name = name; return ev }
	// The newest ReplicaSet carries the same record as the Deployment.
	client := fake.NewClientset(dep, rs("web-a", rec(1, "alice", "web:1"), "1"), rs("web-b", rec(2, "bob", "web:2"), "2"), rs("web-c", rec(3, "carol", "web:3"), "3"),
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "ns", Labels: map[string]string{"app": "other"}, Annotations: rec(4, "dave", "other:1").Annotations()}},
		named(DeployEvent("web", "ReplicationController", &metav1.ObjectMeta{Name: "web-rc", Namespace: "ns"}, rec(0, "erin", "web:0")), "e1"),
		named(DeployEvent("other", "Deployment", &metav1.ObjectMeta{Name: "other", Namespace: "ns"}, rec(5, "dave", "other:2")), "e2"),
	)
	got, err := History(t.Context(), client, "ns", "web", "app")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range got {
		lines = append(lines, e.User+" "+e.Image+" "+e.Controller+" rev "+e.Revision+" from "+e.Source)
	}
	want := []string{
		"carol web:3 Deployment/web rev 3 from controller",
		"bob web:2 Deployment/web rev 2 from replicaset",
		"alice web:1 Deployment/web rev 1 from replicaset",
		"erin web:0 ReplicationController/web-rc rev  from event",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("history:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func merge(a, b map[string]string) map[string]string {
	for k, v := range b {
		a[k] = v
	}
	return a
}

func TestCause(t *testing.T) {
	for _, tc := range []struct {
		given, path string
		args, flags []string
		want        string
	}{
		{path: "kubectl envops deploy", args: []string{"web"}, flags: []string{"--env=dev", "--token=s3cret"}, want: "kubectl envops deploy web --env=dev --token=REDACTED"},
		{path: "kubectl envops node-agent", args: []string{"dd"}, want: "kubectl envops node-agent dd"},
		{given: "hotfix, see https://ci:t0ken@ci.example.com/7", path: "kubectl envops deploy", args: []string{"web"}, want: "hotfix, see https://REDACTED@ci.example.com/7"},
	} {
		if got := Cause(tc.given, tc.path, tc.args, tc.flags); got != tc.want {
			t.Errorf("Cause(%q, %q, %v, %v) = %q, want %q", tc.given, tc.path, tc.args, tc.flags, got, tc.want)
		}
	}
}
