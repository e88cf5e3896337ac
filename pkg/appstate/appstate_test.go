package appstate

import (
	"context"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/rollout"
)

var now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func rc(annotations map[string]string) *corev1.ReplicationController {
	return &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Labels: map[string]string{"app": "web"}, Annotations: annotations},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr.To[int32](2),
			Selector: map[string]string{"app": "web"},
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", rollout.TemplateHashLabel: "new"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:2"}}},
			},
		},
		Status: corev1.ReplicationControllerStatus{ReadyReplicas: 2},
	}
}

func pod(name, hash, waiting string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "web", rollout.TemplateHashLabel: hash}}}
	if waiting != "" {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "web", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: waiting}}}}
	}
	return p
}

func lease(renewed time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: rollout.LeaseName("web"), Namespace: "ns"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("ci@host"), LeaseDurationSeconds: ptr.To[int32](30),
			RenewTime: &metav1.MicroTime{Time: renewed}},
	}
}

func TestReadRolloutState(t *testing.T) {
	update := map[string]string{rollout.AnnotationUpdate: `{"desired":2}`}
	for _, tc := range []struct {
		name    string
		objects []runtime.Object
		want    State
		healthy bool
	}{
		{"steady", []runtime.Object{rc(nil), pod("a", "new", "")}, Steady, true},
		{"updating while the deploy holds the lock", []runtime.Object{rc(update), lease(now.Add(-5 * time.Second))}, Updating, false},
		{"interrupted when no deploy holds the lock", []runtime.Object{rc(update)}, Interrupted, false},
		{"interrupted when the lock expired", []runtime.Object{rc(update), lease(now.Add(-time.Minute))}, Interrupted, false},
		{"paused", []runtime.Object{rc(map[string]string{rollout.AnnotationUpdate: `{"desired":2,"paused":true,"pauseAfter":1}`})}, Paused, false},
		{"failed when a new pod cannot pull", []runtime.Object{rc(update), pod("a", "new", "ImagePullBackOff"), pod("b", "old", "")}, Failed, false},
		{"an old pod's trouble is not the new template's", []runtime.Object{rc(nil), pod("b", "old", "CrashLoopBackOff")}, Steady, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Read(context.Background(), fake.NewClientset(tc.objects...), "ns", "web", "app", now)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("got %d controllers, want 1", len(got))
			}
			if got[0].State != tc.want || got[0].Healthy() != tc.healthy {
				t.Errorf("state %s healthy %v (reason %q), want %s healthy %v", got[0].State, got[0].Healthy(), got[0].Reason, tc.want, tc.healthy)
			}
		})
	}
}

func TestReadLastDeploy(t *testing.T) {
	at := now.Add(-time.Hour)
	c := rc(audit.Record{User: "alice", Time: at, Image: "web:2"}.Annotations())
	got, err := Read(context.Background(), fake.NewClientset(c), "ns", "web", "app", now)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].DeployedBy != "alice" || !got[0].DeployedAt.Equal(at) || got[0].Images[0] != "web:2" {
		t.Errorf("got %+v, want alice at %s on web:2", got[0], at)
	}
}

func TestReadOrdersControllersByName(t *testing.T) {
	dep := func(name string) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "web"}}}
	}
	got, err := Read(context.Background(), fake.NewClientset(rc(nil), dep("web"), dep("canary")), "ns", "web", "app", now)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, c := range got {
		order = append(order, c.Kind+"/"+c.Name)
	}
	// By name; of two controllers with one name, the ReplicationController first.
	want := []string{"Deployment/canary", "ReplicationController/web", "Deployment/web"}
	if !slices.Equal(order, want) {
		t.Errorf("controllers = %v, want %v", order, want)
	}
}
