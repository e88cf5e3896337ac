package kube

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/textlogger"
)

func TestTransientRetries(t *testing.T) {
	tests := []struct {
		name   string
		method string
		// failures are the statuses answered before a 200.
		failures  []int
		wantCode  int
		wantCalls int32
	}{
		{name: "a read outlasts an unavailable server", method: http.MethodGet, failures: []int{503, 503}, wantCode: 200, wantCalls: 3},
		{name: "a write is retried after throttling", method: http.MethodPatch, failures: []int{429}, wantCode: 200, wantCalls: 2},
		{name: "a read is retried after a server error", method: http.MethodGet, failures: []int{500}, wantCode: 200, wantCalls: 2},
		{name: "a write is not retried after a server error it may have acted on", method: http.MethodPost, failures: []int{500}, wantCode: 500, wantCalls: 1},
		{name: "a conflict is the caller's to resolve", method: http.MethodPut, failures: []int{409}, wantCode: 409, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := calls.Add(1)
				if int(n) <= len(tt.failures) {
					w.WriteHeader(tt.failures[n-1])
					return
				}
				w.WriteHeader(http.StatusOK)
			}))
			defer srv.Close()
			rt := WithTransientRetries(&rest.Config{}).WrapTransport(http.DefaultTransport)
			req, err := http.NewRequestWithContext(t.Context(), tt.method, srv.URL, strings.NewReader(`{"spec":{}}`))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode || calls.Load() != tt.wantCalls {
				t.Errorf("status %d after %d calls, want %d after %d", resp.StatusCode, calls.Load(), tt.wantCode, tt.wantCalls)
			}
		})
	}
}

func TestTransientRetriesOutlastARestart(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	srv.Start()
	addr := srv.Listener.Addr().String()
	rt := WithTransientRetries(&rest.Config{}).WrapTransport(&http.Transport{DisableKeepAlives: true})
	get := func() (*http.Response, error) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
		return rt.RoundTrip(req)
	}
	if resp, err := get(); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	srv.Close()
	// The server comes back on the same address a little later.
	restarted := make(chan *httptest.Server, 1)
	go func() {
		time.Sleep(700 * time.Millisecond)
		s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			restarted <- nil
			return
		}
		s.Listener = l
		s.Start()
		restarted <- s
	}()
	resp, err := get()
	s := <-restarted
	if s == nil {
		t.Fatalf("the server could not listen on %s again", addr)
	}
	defer s.Close()
	if err != nil {
		t.Fatalf("the read failed across the restart: %v", err)
	}
	resp.Body.Close()
}

func TestTransientRetriesDoNotWaitForAServerNeverReached(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	rt := WithTransientRetries(&rest.Config{}).WrapTransport(http.DefaultTransport)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if _, err := rt.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v, want connection refused at once", err)
	}
}

func TestTransientRetriesStopWithinTheRequestTimeout(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	// --request-timeout sets rest.Config.Timeout; a server that stays
	// unavailable gets its answer back once that budget is spent.
	rt := WithTransientRetries(&rest.Config{Timeout: 500 * time.Millisecond}).WrapTransport(http.DefaultTransport)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || calls.Load() < 2 {
		t.Errorf("status %d after %d calls; want the server's 503 after retrying", resp.StatusCode, calls.Load())
	}
}

func TestClientConfigAllowsKubectlsRate(t *testing.T) {
	c := WithTransientRetries(&rest.Config{Host: "https://127.0.0.1:1"})
	if c.QPS != 50 || c.Burst != 300 {
		t.Errorf("QPS %v burst %d, want 50 and 300 as kubectl", c.QPS, c.Burst)
	}
	c = WithTransientRetries(&rest.Config{Host: "https://127.0.0.1:1", QPS: 7, Burst: 9})
	if c.QPS != 7 || c.Burst != 9 {
		t.Errorf("a rate set by the caller was changed to QPS %v burst %d", c.QPS, c.Burst)
	}
}

// The bound of a request covers a watch only until the server answers: the
// events that follow stream for as long as the watch lasts.
func TestRequestBoundLetsAWatchStream(t *testing.T) {
	const bound = 200 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		time.Sleep(3 * bound)
		_, _ = w.Write([]byte(`{"type":"ADDED"}`))
	}))
	defer srv.Close()
	rt := WithTransientRetries(&rest.Config{Timeout: bound}).WrapTransport(http.DefaultTransport)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/api/v1/pods?watch=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || string(b) != `{"type":"ADDED"}` {
		t.Errorf("read %q, %v: the watch was cut by the request's bound", b, err)
	}
}

// A request that is not a watch gives up at its bound, saying which flag sets it.
func TestRequestBoundEndsARequest(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := WithTransientRetries(&rest.Config{Timeout: 100 * time.Millisecond})
	if c.Timeout != 0 {
		t.Errorf("the HTTP client keeps a timeout of %s, which would also end watches", c.Timeout)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/api/v1/pods", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.WrapTransport(http.DefaultTransport).RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("a server that never answers answered")
	}
	var te *TimeoutError
	if !errors.As(err, &te) || te.Flag != "--request-timeout" || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want a timeout naming --request-timeout", err)
	}
}

// A timeout of the HTTP client reaches the retrying transport through
// client-go's wrappers, which pass the cancellation on to what they wrap; a
// transport they cannot reach through makes client-go log a warning.
func TestRetryTransportTakesCancellationsTheClientGoWay(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	var logged syncBuffer
	ctx := klog.NewContext(context.Background(), textlogger.NewLogger(textlogger.NewConfig(textlogger.Output(&logged))))

	rt := WithTransientRetries(&rest.Config{}).WrapTransport(http.DefaultTransport)
	client := &http.Client{Transport: transport.NewUserAgentRoundTripper("envops-test", rt), Timeout: 100 * time.Millisecond}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a server that never answers answered")
	}
	if l := logged.String(); strings.Contains(l, "unable to cancel request") {
		t.Errorf("client-go could not cancel through the transport: %s", l)
	}
}

// syncBuffer is a buffer that goroutines may write at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
