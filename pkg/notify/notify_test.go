package notify

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/envops/kubectl-envops/pkg/rollout"
)

// inbox is a webhook server that records the text of every message.
type inbox struct {
	mu    sync.Mutex
	texts []string
	calls int
}

func (in *inbox) handler(status func(call int) int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var msg struct{ Text string }
		_ = json.NewDecoder(r.Body).Decode(&msg)
		in.mu.Lock()
		in.calls++
		code := status(in.calls)
		if code < 300 {
			in.texts = append(in.texts, msg.Text)
		}
		in.mu.Unlock()
		w.WriteHeader(code)
	}
}

func (in *inbox) received() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.texts...)
}

func rolloutEvents() []rollout.Event {
	ev := func(t rollout.EventType, ready int32, msg string) rollout.Event {
		return rollout.Event{Type: t, Kind: "ReplicationController", Namespace: "shop", Name: "web", Desired: 8, Ready: ready, Message: msg}
	}
	return []rollout.Event{
		ev(rollout.EventStarted, 0, "rolling update of web"),
		ev(rollout.EventStep, 0, "created web-abc"),
		ev(rollout.EventProgress, 1, ""),
		ev(rollout.EventProgress, 2, ""),
		ev(rollout.EventProgress, 3, ""),
		ev(rollout.EventProgress, 5, ""),
		ev(rollout.EventProgress, 8, ""),
		ev(rollout.EventDone, 8, "rolled out web"),
	}
}

func TestWebhookPostsPhasesInOrder(t *testing.T) {
	in := &inbox{}
	srv := httptest.NewServer(in.handler(func(int) int { return http.StatusOK }))
	defer srv.Close()
	w, err := NewWebhook(srv.URL, WebhookOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rolloutEvents() {
		w.Event(e)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got := in.received()
	want := []string{"deploy started", "25%", "50%", "deploy done"}
	if len(got) != len(want) {
		t.Fatalf("received %d messages, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) || !strings.Contains(got[i], "ReplicationController web in namespace shop") {
			t.Errorf("message %d = %q, want it to name the controller and contain %q", i, got[i], w)
		}
	}
}

func TestWebhookRetriesServerErrors(t *testing.T) {
	in := &inbox{}
	// The first attempt of every message fails.
	srv := httptest.NewServer(in.handler(func(call int) int {
		if call%2 == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}))
	defer srv.Close()
	w, err := NewWebhook(srv.URL, WebhookOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Event(rolloutEvents()[0])
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := in.received(); len(got) != 1 {
		t.Fatalf("received %v, want the message once after a retry", got)
	}
}

func TestWebhookThatFailsIsReportedNotFatal(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		opts    WebhookOptions
		wantErr string
	}{
		{
			name:    "always 500",
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) },
			opts:    WebhookOptions{Retries: 1},
			wantErr: "500",
		},
		{
			name:    "rejects the message",
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) },
			wantErr: "403",
		},
		{
			name: "never answers",
			handler: func(w http.ResponseWriter, r *http.Request) {
				// Once the body is read, the server notices the client leaving.
				_, _ = io.Copy(io.Discard, r.Body)
				select {
				case <-r.Context().Done():
				case <-hold:
				}
			},
			opts:    WebhookOptions{Timeout: 50 * time.Millisecond, Flush: 100 * time.Millisecond},
			wantErr: "not delivered",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			w, err := NewWebhook(srv.URL, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range rolloutEvents() {
				w.Event(e)
			}
			err = w.Close()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Close = %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestUndeliveredNotificationsDoNotPrintTheWebhookSecret(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close() // nothing listens there now: every post fails to connect
	w, err := NewWebhook(addr+"/services/T0/B0/s3cretT0ken", WebhookOptions{Timeout: 100 * time.Millisecond, Flush: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rolloutEvents() {
		w.Event(e)
	}
	err = w.Close()
	if err == nil {
		t.Fatal("posting to a closed port was reported as delivered")
	}
	if strings.Contains(err.Error(), "s3cretT0ken") || !strings.Contains(err.Error(), strings.TrimPrefix(addr, "http://")) {
		t.Errorf("the error should name the host and hide the path: %v", err)
	}
}

func TestValidateURL(t *testing.T) {
	for _, ok := range []string{"https://hooks.slack.com/services/T/B/X", "http://127.0.0.1:8080/hook"} {
		if err := ValidateURL(ok); err != nil {
			t.Errorf("ValidateURL(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "hooks.slack.com/x", "ftp://host/x", "https://"} {
		if err := ValidateURL(bad); err == nil {
			t.Errorf("ValidateURL(%q) accepted it", bad)
		}
	}
}

func TestJSONLines(t *testing.T) {
	var buf bytes.Buffer
	j := NewJSONLines(&buf)
	for _, e := range rolloutEvents()[:3] {
		j.Event(e)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3:\n%s", len(lines), buf.String())
	}
	var e rollout.Event
	if err := json.Unmarshal([]byte(lines[2]), &e); err != nil {
		t.Fatal(err)
	}
	if e.Type != rollout.EventProgress || e.Name != "web" || e.Ready != 1 || e.Desired != 8 {
		t.Errorf("third line decodes to %+v", e)
	}
}

// clockless records the waits a Webhook asks for instead of waiting, and
// gives it a fixed time, so retries are checked without a real clock.
type clockless struct {
	mu    sync.Mutex
	waits []time.Duration
	at    time.Time
}

func (c *clockless) after(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	ch := make(chan time.Time, 1)
	ch <- c.at.Add(d)
	return ch
}

func (c *clockless) now() time.Time { return c.at }

func (c *clockless) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// answer is one response of a scripted webhook.
type answer struct {
	code       int
	retryAfter string
}

// scripted answers each request with the next answer, then 200, and
// counts the requests.
func scripted(answers ...answer) (http.HandlerFunc, func() int) {
	var mu sync.Mutex
	calls := 0
	return func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			mu.Lock()
			a := answer{code: http.StatusOK}
			if calls < len(answers) {
				a = answers[calls]
			}
			calls++
			mu.Unlock()
			if a.retryAfter != "" {
				w.Header().Set("Retry-After", a.retryAfter)
			}
			w.WriteHeader(a.code)
		}, func() int {
			mu.Lock()
			defer mu.Unlock()
			return calls
		}
}

func TestWebhookRetryWaits(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		answers   []answer
		opts      WebhookOptions
		wantCalls int
		wantWaits []time.Duration
		wantErr   string
	}{
		{
			name:      "429 with Retry-After in seconds waits that long",
			answers:   []answer{{http.StatusTooManyRequests, "7"}},
			wantCalls: 2, wantWaits: []time.Duration{7 * time.Second},
		},
		{
			name:      "503 with Retry-After as an HTTP date waits until then",
			answers:   []answer{{http.StatusServiceUnavailable, start.Add(12 * time.Second).Format(http.TimeFormat)}},
			wantCalls: 2, wantWaits: []time.Duration{12 * time.Second},
		},
		{
			name:      "a date already past retries at once",
			answers:   []answer{{http.StatusServiceUnavailable, start.Add(-time.Hour).Format(http.TimeFormat)}},
			wantCalls: 2, wantWaits: []time.Duration{0},
		},
		{
			name: "Retry-After and backoff in one message",
			answers: []answer{
				{http.StatusTooManyRequests, "3"},
				{http.StatusBadGateway, ""},
				{http.StatusServiceUnavailable, "1"},
			},
			wantCalls: 4, wantWaits: []time.Duration{3 * time.Second, 400 * time.Millisecond, time.Second},
		},
		{
			name:      "without Retry-After the wait doubles",
			answers:   []answer{{http.StatusInternalServerError, ""}, {http.StatusInternalServerError, ""}, {http.StatusInternalServerError, ""}},
			wantCalls: 4, wantWaits: []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond},
		},
		{
			name:      "Retry-After on another status is not read",
			answers:   []answer{{http.StatusInternalServerError, "9"}},
			wantCalls: 2, wantWaits: []time.Duration{200 * time.Millisecond},
		},
		{
			name:      "an unreadable Retry-After falls back to backoff",
			answers:   []answer{{http.StatusTooManyRequests, "soon"}},
			wantCalls: 2, wantWaits: []time.Duration{200 * time.Millisecond},
		},
		{
			name:      "attempts are bounded by Retries",
			answers:   []answer{{http.StatusTooManyRequests, "1"}, {http.StatusTooManyRequests, "1"}, {http.StatusTooManyRequests, "1"}},
			opts:      WebhookOptions{Retries: 2},
			wantCalls: 3, wantWaits: []time.Duration{time.Second, time.Second},
			wantErr: "429",
		},
		{
			name:      "a Retry-After beyond RetryWithin is not waited for",
			answers:   []answer{{http.StatusTooManyRequests, "3600"}},
			opts:      WebhookOptions{RetryWithin: time.Minute},
			wantCalls: 1, wantWaits: nil,
			wantErr: "1h0m0s from now, beyond the 1m0s allowed",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			handler, calls := scripted(tc.answers...)
			srv := httptest.NewServer(handler)
			defer srv.Close()
			clock := &clockless{at: start}
			w, err := newWebhook(srv.URL, tc.opts, clock.after, clock.now)
			if err != nil {
				t.Fatal(err)
			}
			w.Event(rolloutEvents()[0])
			err = w.Close()
			if tc.wantErr == "" && err != nil {
				t.Fatalf("Close: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Close = %v, want an error mentioning %q", err, tc.wantErr)
			}
			if got := calls(); got != tc.wantCalls {
				t.Errorf("%d requests, want %d", got, tc.wantCalls)
			}
			if got := clock.recorded(); !slices.Equal(got, tc.wantWaits) {
				t.Errorf("waits %v, want %v", got, tc.wantWaits)
			}
		})
	}
}
