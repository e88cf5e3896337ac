// Package notify delivers deploy events to machines and people: as JSON
// lines for CI and chat bots, and as short messages per phase to a
// Slack-compatible incoming webhook that can never block or fail a deploy.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/envops/kubectl-envops/pkg/rollout"
)

// JSONLines writes every event as one JSON object per line.
type JSONLines struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// NewJSONLines returns a JSONLines writing to w.
func NewJSONLines(w io.Writer) *JSONLines {
	return &JSONLines{enc: json.NewEncoder(w)}
}

// Event writes e as one line; a write error is dropped, as the deploy must go on.
func (j *JSONLines) Event(e rollout.Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	_ = j.enc.Encode(e)
}

// WebhookOptions tunes a Webhook; zero values take the defaults.
type WebhookOptions struct {
	// Timeout bounds one request (default 5s).
	Timeout time.Duration
	// Retries is how many times a failed request is repeated (default 3).
	Retries int
	// RetryWithin bounds the time from a message's first attempt to the
	// start of its last (default 30s): a retry that would start later,
	// such as one a long Retry-After asks for, is not made.
	RetryWithin time.Duration
	// Every posts progress each time the available share of the desired
	// pods crosses a multiple of this percentage (default 25).
	Every int32
	// Flush is the longest Close waits for queued messages (default 2s).
	Flush time.Duration
	// Client sends the requests (default: a plain http.Client).
	Client *http.Client
}

// Webhook posts one short message per deploy phase (started, progress,
// done, failed, rolled back) to a Slack-compatible incoming webhook. Messages
// are queued and sent in order by one goroutine, so Event never blocks.
type Webhook struct {
	url  string
	o    WebhookOptions
	host string
	// after and now are the clock, as time.After and time.Now; tests
	// replace them, so that no test waits on a real clock.
	after func(time.Duration) <-chan time.Time
	now   func() time.Time
	// redacted is the URL without its path, for error messages.
	redacted string

	queue  chan string
	done   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	shown   map[string]int32
	sent    int
	failed  int
	dropped int
	lastErr error
}

// ValidateURL checks a webhook address before anything is sent.
func ValidateURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL is not echoed: its path is the webhook's secret.
		return errors.New("invalid webhook URL: use an http:// or https:// address with a host, such as a Slack incoming webhook")
	}
	return nil
}

// NewWebhook starts a Webhook posting to rawURL; call Close when done.
func NewWebhook(rawURL string, o WebhookOptions) (*Webhook, error) {
	return newWebhook(rawURL, o, time.After, time.Now)
}

func newWebhook(rawURL string, o WebhookOptions, after func(time.Duration) <-chan time.Time, now func() time.Time) (*Webhook, error) {
	if err := ValidateURL(rawURL); err != nil {
		return nil, err
	}
	u, _ := url.Parse(rawURL)
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Retries < 0 {
		o.Retries = 0
	} else if o.Retries == 0 {
		o.Retries = 3
	}
	if o.RetryWithin <= 0 {
		o.RetryWithin = 30 * time.Second
	}
	if o.Every <= 0 || o.Every > 100 {
		o.Every = 25
	}
	if o.Flush <= 0 {
		o.Flush = 2 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Webhook{
		url: rawURL, o: o, host: u.Host, redacted: u.Scheme + "://" + u.Host + "/…",
		after: after, now: now,
		queue: make(chan string, 64), done: make(chan struct{}),
		ctx: ctx, cancel: cancel,
		shown: map[string]int32{},
	}
	go w.send()
	return w, nil
}

// Event queues a message for the phases worth telling people about; when
// the queue is full the message is dropped rather than waited for.
func (w *Webhook) Event(e rollout.Event) {
	text, ok := w.message(e)
	if !ok {
		return
	}
	select {
	case w.queue <- text:
	default:
		w.mu.Lock()
		w.dropped++
		w.mu.Unlock()
	}
}

// message is the text for e, or false when e is not a phase to post.
func (w *Webhook) message(e rollout.Event) (string, bool) {
	who := fmt.Sprintf("%s %s in namespace %s", e.Kind, e.Name, e.Namespace)
	switch e.Type {
	case rollout.EventStarted, rollout.EventResumed:
		w.mu.Lock()
		w.shown[who] = 0
		w.mu.Unlock()
		return fmt.Sprintf("%s: deploy %s: %s", who, e.Type, e.Message), true
	case rollout.EventProgress:
		if e.Desired <= 0 {
			return "", false
		}
		pct := min(100, e.Ready*100/e.Desired) / w.o.Every * w.o.Every
		w.mu.Lock()
		defer w.mu.Unlock()
		if pct <= w.shown[who] || pct >= 100 {
			return "", false
		}
		w.shown[who] = pct
		return fmt.Sprintf("%s: %d%% (%d/%d pods ready, %d old)", who, pct, e.Ready, e.Desired, e.Old), true
	case rollout.EventDone:
		return fmt.Sprintf("%s: deploy done: %s", who, e.Message), true
	case rollout.EventFailed:
		return fmt.Sprintf("%s: deploy failed: %s", who, e.Message), true
	case rollout.EventRolledBack:
		return fmt.Sprintf("%s: rolled back: %s", who, e.Message), true
	}
	return "", false
}

func (w *Webhook) send() {
	defer close(w.done)
	for text := range w.queue {
		err := w.post(text)
		w.mu.Lock()
		if err != nil {
			w.failed++
			w.lastErr = err
		} else {
			w.sent++
		}
		w.mu.Unlock()
	}
}

// post delivers one message. Network errors, 429 and 5xx are retried, at
// most Retries times and within RetryWithin: after the wait a 429 or 503
// asks for in Retry-After, else after an exponential backoff.
func (w *Webhook) post(text string) error {
	body, err := json.Marshal(map[string]string{"text": text})
	if err != nil {
		return err
	}
	backoff := wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Steps: w.o.Retries, Cap: 5 * time.Second}
	deadline := w.now().Add(w.o.RetryWithin)
	for {
		a := w.postOnce(body)
		if a.err == nil || !a.retry || backoff.Steps < 1 {
			return a.err
		}
		d := backoff.Step()
		if a.retryAfter >= 0 {
			d = a.retryAfter
		}
		if d > deadline.Sub(w.now()) {
			return fmt.Errorf("%w; not retried: the next attempt would be %s from now, beyond the %s allowed", a.err, d, w.o.RetryWithin)
		}
		select {
		case <-w.ctx.Done():
			return a.err
		case <-w.after(d):
		}
	}
}

// attempt is the outcome of one request.
type attempt struct {
	err error
	// retry says the request may succeed if repeated.
	retry bool
	// retryAfter is the wait the server asked for, or -1.
	retryAfter time.Duration
}

func (w *Webhook) postOnce(body []byte) attempt {
	ctx, cancel := context.WithTimeout(w.ctx, w.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return attempt{err: err, retryAfter: -1}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.o.Client.Do(req)
	if err != nil {
		// The URL's path is the webhook's secret: errors name the host only.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = w.redacted
		}
		return attempt{err: err, retry: w.ctx.Err() == nil, retryAfter: -1}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return attempt{retryAfter: -1}
	}
	a := attempt{
		err:        fmt.Errorf("the webhook answered %s", resp.Status),
		retry:      resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500,
		retryAfter: -1,
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		a.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), w.now())
	}
	return a
}

// parseRetryAfter reads a Retry-After header, in seconds or as an HTTP date; it
// returns -1 when there is none or it cannot be read, and 0 for a date
// already past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return -1
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 || secs > math.MaxInt64/int64(time.Second) {
			return -1
		}
		return time.Duration(secs) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return -1
	}
	return max(t.Sub(now), 0)
}

// Close sends what is queued, waiting at most Flush, and reports messages
// that could not be delivered; it never fails the deploy by itself.
func (w *Webhook) Close() error {
	close(w.queue)
	select {
	case <-w.done:
	case <-time.After(w.o.Flush):
		w.cancel()
		<-w.done
	}
	w.cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	lost := w.failed + w.dropped
	if lost == 0 {
		return nil
	}
	err := w.lastErr
	if err == nil {
		err = errors.New("the queue was full")
	}
	return fmt.Errorf("%d of %d notifications to %s were not delivered: %w", lost, lost+w.sent, w.host, err)
}
