package watcher

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func pod(name string, l map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: l}}
}

func TestWatcherMirrorsAndWakes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	web := map[string]string{"name": "web"}
	client := fake.NewClientset(
		pod("web-1", web),
		pod("api-1", map[string]string{"name": "api"}),
		&corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}},
		&corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "shop"}},
	)
	w := New(client)
	pods := w.Pods("shop", labels.SelectorFromSet(web))
	rcs := w.ReplicationControllers("shop", "")
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if got, _ := pods.List(labels.Everything()); len(got) != 1 || got[0].Name != "web-1" {
		t.Errorf("pods after Start = %v, want web-1 only", got)
	}
	if got, _ := rcs.List(labels.Everything()); len(got) != 2 {
		t.Errorf("ReplicationControllers after Start = %d, want 2", len(got))
	}
	// A change wakes Wait; without one, Wait would sleep the minute.
	if _, err := client.CoreV1().Pods("shop").Create(ctx, pod("web-2", web), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		if got, _ := pods.List(labels.Everything()); len(got) == 2 {
			break
		}
		if err := w.Wait(ctx, time.Now().Add(time.Minute)); err != nil {
			t.Fatalf("Wait = %v, want it woken by the new pod", err)
		}
	}
	if err := w.Failed(); err != nil {
		t.Errorf("Failed = %v", err)
	}
}

func TestWatcherStopsOnARefusedWatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := fake.NewClientset()
	client.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "", nil)
	})
	w := New(client)
	w.Nodes()
	w.Pods("shop", labels.Everything())
	err := w.Start(ctx)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "nodes") {
		t.Fatalf("Start = %v, want the refusal to list nodes", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Start waited for the context instead of stopping at the refusal")
	}
	w.Stop() // stopping again is harmless
}
