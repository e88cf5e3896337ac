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
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	corelisters "k8s.io/client-go/listers/core/v1"
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

// flakyServer is a fake API server whose pod watch can be broken: the
// watch ends, and the next three attempts to watch again are refused.
type flakyServer struct {
	mu       sync.Mutex
	watches  []*watch.FakeWatcher
	broken   bool
	refusals int
}

func newFlakyServer() (*flakyServer, *fake.Clientset) {
	s := &flakyServer{}
	client := fake.NewClientset()
	client.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.broken && s.refusals < 3 {
			s.refusals++
			return true, nil, refused
		}
		fw := watch.NewFake()
		s.watches = append(s.watches, fw)
		return true, fw, nil
	})
	return s, client
}

// breakWatch ends the first watch once the informer has opened it (Start
// returns once the list is in, maybe before).
func (s *flakyServer) breakWatch(t *testing.T, ctx context.Context) {
	t.Helper()
	opened := func(context.Context) (bool, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.watches) > 0, nil
	}
	if err := wait.PollUntilContextCancel(ctx, 10*time.Millisecond, true, opened); err != nil {
		t.Fatalf("no watch opened: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.broken = true
	s.watches[0].Stop()
}

func (s *flakyServer) lastWatch() *watch.FakeWatcher {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.watches[len(s.watches)-1]
}

// flakyWatch is a Watcher of the pods of a flakyServer.
type flakyWatch struct {
	*Watcher
	pods corelisters.PodNamespaceLister
}

// watchFlakyServer starts a Watcher on the pods of a flakyServer and breaks
// the server's watch; the Watcher's reports go to the returned slice.
func watchFlakyServer(t *testing.T, ctx context.Context) (flakyWatch, *flakyServer, *[]Outage) {
	t.Helper()
	server, client := newFlakyServer()
	w := flakyWatch{Watcher: New(client)}
	w.pods = w.Pods("shop", labels.Everything())
	seen := &[]Outage{}
	w.OnConnection(func(o Outage) { *seen = append(*seen, o) })
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	server.breakWatch(t, ctx)
	return w, server, seen
}

func TestWatcherWaitsOutAnUnreachableServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, server, reports := watchFlakyServer(t, ctx)
	for len(*reports) < 2 {
		if err := w.Wait(ctx, time.Now().Add(time.Minute)); err != nil {
			t.Fatalf("Wait = %v after %d reports (%v), want one when the server went away and one when it came back", err, len(*reports), *reports)
		}
	}
	seen := *reports
	if len(seen) != 2 || !errors.Is(seen[0].Err, syscall.ECONNREFUSED) || !seen[0].Until.IsZero() ||
		seen[1].Err != seen[0].Err || seen[1].Since != seen[0].Since || !seen[1].Until.After(seen[1].Since) {
		t.Errorf("reports = %+v, want the outage as it began (refused, no end), then as it ended", seen)
	}
	if err := w.Failed(); err != nil {
		t.Errorf("Failed = %v: an unreachable server is waited out, not a failure", err)
	}
	// The watch that reached the server again feeds the cache.
	server.lastWatch().Add(pod("web-1", nil))
	for {
		if got, _ := w.pods.List(labels.Everything()); len(got) == 1 {
			break
		}
		if err := w.Wait(ctx, time.Now().Add(time.Minute)); err != nil {
			t.Fatalf("Wait = %v, want the pod from the new watch", err)
		}
	}
}

// A command busy elsewhere while the server was away (a request retrying)
// still learns of the outage, once, at its next Wait.
func TestWatcherReportsAnOutageThatEndedBetweenWaits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, _, reports := watchFlakyServer(t, ctx)
	ended := func(context.Context) (bool, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.outage != nil && !w.outage.Until.IsZero(), nil
	}
	if err := wait.PollUntilContextCancel(ctx, 10*time.Millisecond, true, ended); err != nil {
		t.Fatalf("the watch did not reach the server again: %v", err)
	}
	for range 2 {
		if err := w.Wait(ctx, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	seen := *reports
	if len(seen) != 1 || !errors.Is(seen[0].Err, syscall.ECONNREFUSED) || !seen[0].Until.After(seen[0].Since) {
		t.Errorf("reports = %+v, want one: the outage, ended", seen)
	}
}

func TestServerUnreachable(t *testing.T) {
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
		if got := serverUnreachable(c.err); got != c.want {
			t.Errorf("%s: serverUnreachable(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
