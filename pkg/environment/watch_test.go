package environment

import (
	"context"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestWatchAddsTheSecretToNewNamespacesAndStopsCleanly(t *testing.T) {
	client := fake.NewClientset(namespace("web"), namespace("kube-system"), secret("taken", "environment", map[string]string{"environment": "dev"}), namespace("taken"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex
	events := map[string]WatchEvent{}
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, client, WatchOptions{Env: "prod", Secret: defaultSecret, FieldManager: "test", OnEvent: func(ev WatchEvent) {
			mu.Lock()
			events[ev.Namespace] = ev
			mu.Unlock()
		}})
	}()

	if _, err := client.CoreV1().Namespaces().Create(ctx, namespace("late"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventFor := func(ns string) (WatchEvent, bool) {
		mu.Lock()
		defer mu.Unlock()
		ev, ok := events[ns]
		return ev, ok
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, late := eventFor("late")
		_, web := eventFor("web")
		_, taken := eventFor("taken")
		if late && web && taken {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no events for every namespace; got %v", events)
		}
		time.Sleep(10 * time.Millisecond)
	}

	for _, ns := range []string{"web", "late"} {
		if ev, _ := eventFor(ns); ev.Err != nil || ev.Action != Create {
			t.Errorf("namespace %s: event %+v, want created", ns, ev)
		}
		got, err := Read(ctx, client, ns, defaultSecret)
		if err != nil || got != "prod" {
			t.Errorf("namespace %s declares %q (%v), want prod", ns, got, err)
		}
	}
	if ev, _ := eventFor("taken"); ev.Err == nil {
		t.Errorf("a namespace declaring another environment was not refused: %+v", ev)
	}
	if got, _ := Read(ctx, client, "taken", defaultSecret); got != "dev" {
		t.Errorf("refused namespace now declares %q, want dev kept", got)
	}
	if _, ok := eventFor("kube-system"); ok {
		t.Errorf("kube-system was handled")
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch returned %v after cancel, want nil", err)
	}
}
