package watcher

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/envops/kubectl-envops/pkg/kube"
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

// refused is the error a client gets from a stopped API server.
var refused = &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/api/v1/namespaces/shop/pods",
	Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}

func TestWatcherWaitsOutAnUnreachableServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := fake.NewClientset()
	var mu sync.Mutex
	var watches []*watch.FakeWatcher
	stopped, failures := false, 0
	client.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) {
		mu.Lock()
		defer mu.Unlock()
		if stopped && failures < 3 {
			failures++
			return true, nil, refused
		}
		fw := watch.NewFake()
		watches = append(watches, fw)
		return true, fw, nil
	})
	w := New(client)
	pods := w.Pods("shop", labels.Everything())
	var seen []error
	w.OnConnection(func(lost error) { seen = append(seen, lost) })
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	// The server goes away: the watch ends, and the next three attempts
	// cannot connect.
	mu.Lock()
	stopped = true
	watches[0].Stop()
	mu.Unlock()
	for len(seen) < 2 {
		if err := w.Wait(ctx, time.Now().Add(time.Minute)); err != nil {
			t.Fatalf("Wait = %v after %d reports (%v), want one when the server went away and one when it came back", err, len(seen), seen)
		}
	}
	if !errors.Is(seen[0], syscall.ECONNREFUSED) || seen[1] != nil {
		t.Errorf("reports = %v, want the refused connection, then nil", seen)
	}
	if err := w.Failed(); err != nil {
		t.Errorf("Failed = %v: an unreachable server is waited out, not a failure", err)
	}
	// The watch that reached the server again feeds the cache.
	mu.Lock()
	last := watches[len(watches)-1]
	mu.Unlock()
	last.Add(pod("web-1", nil))
	for {
		if got, _ := pods.List(labels.Everything()); len(got) == 1 {
			break
		}
		if err := w.Wait(ctx, time.Now().Add(time.Minute)); err != nil {
			t.Fatalf("Wait = %v, want the pod from the new watch", err)
		}
	}
}

func TestUnreachable(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", refused, true},
		{"connection reset", &url.Error{Op: "Get", URL: "https://x", Err: syscall.ECONNRESET}, true},
		{"end of stream", io.ErrUnexpectedEOF, true},
		{"server still starting", apierrors.NewServiceUnavailable("starting"), true},
		{"throttled", apierrors.NewTooManyRequests("busy", 1), true},
		{"dial timeout", &url.Error{Op: "Get", URL: "https://x", Err: &net.OpError{Op: "dial", Err: timeoutError{}}}, true},
		{"no answer within --request-timeout", &url.Error{Op: "Get", URL: "https://x", Err: &kube.TimeoutError{After: time.Second, Flag: kube.RequestTimeoutFlag}}, true},
		{"forbidden", apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", nil), false},
		{"not found", apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, "web"), false},
		{"cancelled", context.Canceled, false},
	} {
		if got := Unreachable(c.err); got != c.want {
			t.Errorf("%s: Unreachable(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
