package rollout

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func agentDaemonSet(available int32) *appsv1.DaemonSet {
	labels := map[string]string{"name": "agent"}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "monitoring", Generation: 1},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "agent:1"}}},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
		},
		Status: appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 1, UpdatedNumberScheduled: 1, NumberAvailable: available},
	}
}

func TestDaemonSetWait(t *testing.T) {
	refused := apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "daemonsets"}, "", errors.New("RBAC: access denied"))
	for _, tc := range []struct {
		name    string
		ds      *appsv1.DaemonSet
		timeout time.Duration
		// change is done to the cluster once the wait watches the DaemonSet.
		change  func(context.Context, *fake.Clientset) error
		refuse  bool
		wantErr string
	}{
		{
			name: "a DaemonSet with every pod available ends the wait",
			ds:   agentDaemonSet(1),
		},
		{
			name: "the wait ends when the last pod becomes available",
			ds:   agentDaemonSet(0),
			change: func(ctx context.Context, c *fake.Clientset) error {
				_, err := c.AppsV1().DaemonSets("monitoring").UpdateStatus(ctx, agentDaemonSet(1), metav1.UpdateOptions{})
				return err
			},
		},
		{
			name: "a DaemonSet deleted during the wait ends it",
			ds:   agentDaemonSet(0),
			change: func(ctx context.Context, c *fake.Clientset) error {
				return c.AppsV1().DaemonSets("monitoring").Delete(ctx, "agent", metav1.DeleteOptions{})
			},
			wantErr: `DaemonSet "agent" was deleted while its pods were starting`,
		},
		{
			name:    "a timeout says how many nodes have an available pod",
			ds:      agentDaemonSet(0),
			timeout: 100 * time.Millisecond,
			wantErr: `timed out after 100ms waiting for the pods of daemonset.apps/agent: 0 of 1 nodes have an available pod of its latest template`,
		},
		{
			name:    "a refused watch ends the wait with the refusal",
			ds:      agentDaemonSet(0),
			refuse:  true,
			wantErr: `failed to list *v1.DaemonSet: daemonsets.apps is forbidden: RBAC: access denied`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(tc.ds)
			// The fake API does not replay what happens between a list and
			// its watch, so the cluster changes only once the watch is open.
			watching := make(chan struct{})
			var once sync.Once
			client.PrependWatchReactor("daemonsets", func(a k8stesting.Action) (bool, watch.Interface, error) {
				if tc.refuse {
					return true, nil, refused
				}
				w, err := client.Tracker().Watch(a.GetResource(), a.GetNamespace())
				once.Do(func() { close(watching) })
				return true, w, err
			})
			if tc.refuse {
				client.PrependReactor("list", "daemonsets", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, refused })
			}
			timeout := tc.timeout
			if timeout == 0 {
				timeout = time.Minute
			}
			d := &DaemonSets{Client: client, Namespace: "monitoring"}
			done := make(chan error, 1)
			go func() { done <- d.wait(t.Context(), tc.ds, timeout) }()
			if tc.change != nil {
				<-watching
				if err := tc.change(t.Context(), client); err != nil {
					t.Fatal(err)
				}
			}
			err := <-done
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("wait = %v, want the DaemonSet rolled out", err)
				}
				return
			}
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("wait = %v, want %s", err, tc.wantErr)
			}
			if tc.refuse && !apierrors.IsForbidden(err) {
				t.Errorf("wait = %v, want it to keep the refusal for the caller", err)
			}
		})
	}
}
