package fleet

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// A cluster whose API server accepts connections and never answers is a
// row saying so, and the cluster that answers is read all the same.
func TestEachUnansweringClusterIsARowNotAStall(t *testing.T) {
	release := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer stuck.Close()
	defer close(release)
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"kube-system","uid":"u-1"}}`))
	}))
	defer ok.Close()

	servers := map[string]string{"prod": stuck.URL, "dev": ok.URL}
	const deadline = 300 * time.Millisecond
	results := Each(context.Background(), []string{"dev", "prod"}, deadline, func(ctx context.Context, target string) (string, error) {
		cs, err := kubernetes.NewForConfig(WithDeadline(&rest.Config{Host: servers[target]}, deadline))
		if err != nil {
			return "", err
		}
		ns, err := cs.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		return string(ns.UID), nil
	})
	if results[0].Target != "dev" || results[0].Err != nil || results[0].Value != "u-1" {
		t.Errorf("dev: got %+v, want the UID u-1", results[0])
	}
	if results[1].Target != "prod" || results[1].Err == nil {
		t.Fatalf("prod: got %+v, want an error", results[1])
	}
	if got := Reason(results[1].Err, deadline); !strings.HasPrefix(got, "unreachable: no answer within 300ms") {
		t.Errorf("prod reason = %q, want unreachable within the deadline", got)
	}
}

// A call that ignores its context is abandoned at the deadline: Each
// returns without waiting for it.
func TestEachAbandonsACallThatIgnoresItsContext(t *testing.T) {
	never := make(chan struct{})
	defer close(never)
	results := Each(context.Background(), []string{"a", "b"}, 50*time.Millisecond, func(ctx context.Context, target string) (int, error) {
		if target == "b" {
			<-never
		}
		return 1, nil
	})
	if results[0].Err != nil || results[0].Value != 1 {
		t.Errorf("a: got %+v", results[0])
	}
	if !errors.Is(results[1].Err, context.DeadlineExceeded) {
		t.Errorf("b: err = %v, want context.DeadlineExceeded", results[1].Err)
	}
}

func TestReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{context.DeadlineExceeded, "unreachable: no answer within 2s"},
		{errors.New("boom\n  twice"), "boom twice"},
	} {
		if got := Reason(tc.err, 2*time.Second); got != tc.want {
			t.Errorf("Reason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestBriefKeepsTheCause(t *testing.T) {
	err := Brief(context.DeadlineExceeded, 3*time.Second)
	if err.Error() != "unreachable: no answer within 3s" || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Brief = %q, errors.Is deadline %v", err, errors.Is(err, context.DeadlineExceeded))
	}
}
