// Package kube holds what every client of the API server shares: a
// transport that bounds each request and retries passing failures, and
// how the controllers read a pod's state.
package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/envops/kubectl-envops/pkg/bounded"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
)

// DefaultRequestTimeout is the default of --request-timeout. kubectl's
// default of 0 waits forever for a server that accepts connections and never
// answers; "--request-timeout 0" still asks for that.
const DefaultRequestTimeout = 30 * time.Second

// RequestTimeoutFlag is the flag that sets the bound of each request.
const RequestTimeoutFlag = "--request-timeout"

// maxRetryTime bounds the retries of one request when --request-timeout is
// 0 and the request carries no deadline of its own.
const maxRetryTime = time.Minute

// TimeoutError is a request, or a step of a command, that ran out of the
// time a flag allows before the API server answered. The URL of the
// request, which client-go puts before it, names the server.
type TimeoutError struct {
	// After is the bound and Flag the flag that sets it.
	After time.Duration
	Flag  string
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("no answer within %s: check that the API server is up and reachable, or raise %s", e.After, e.Flag)
}

// Timeout and Is make the error a timeout to code that asks, as the
// errors of net/http's own timeouts are.
func (e *TimeoutError) Timeout() bool        { return true }
func (e *TimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// WithTimeoutCause bounds ctx by d; requests cut short by it fail with a
// TimeoutError that names flag.
func WithTimeoutCause(ctx context.Context, d time.Duration, flag string) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, d, &TimeoutError{After: d, Flag: flag})
}

// WithTransientRetries makes every client built from the config bound each
// request by --request-timeout and retry requests that failed for a
// passing reason: the API server refusing connections while it restarts,
// throttling (429), or being unavailable (503); reads are also retried
// after timeouts, dropped connections and other 5xx answers. Writes are
// retried only when the server cannot have acted on them. Watches are left
// to the informers, which list again. A server that never answered is not
// waited for: a wrong address fails at once, as it does in kubectl, unless
// the request's context asks for it (RetryRefused). An answer larger than
// a limit (MaxObjectBytes for one object, MaxListBytes for anything else)
// fails with a *ResponseTooLargeError instead of being held in memory, and
// a credential plugin is bounded by --request-timeout
// (BoundCredentialPlugin).
func WithTransientRetries(c *rest.Config) *rest.Config {
	// client-go's default of 5 requests per second makes a command that
	// checks a role's rules one by one wait seconds for nothing; kubectl
	// itself allows 50, with bursts of 300.
	if c.QPS == 0 && c.RateLimiter == nil {
		c.QPS, c.Burst = 50, 300
	}
	// The bound moves from the HTTP client into the transport: the HTTP
	// client's timeout would also end every watch after that long, where
	// the transport bounds a watch only until the server answers.
	bound := c.Timeout
	c.Timeout = 0
	BoundCredentialPlugin(c, bound)
	c.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &retryTransport{base: rt, bound: bound} })
	return c
}

type retryTransport struct {
	base http.RoundTripper
	// bound is the time a request may take, retries included (0: none).
	bound time.Duration
	// reached is set once the server has answered anything.
	reached atomic.Bool
}

// WrappedRoundTripper exposes the wrapped transport, as client-go's own
// wrappers do, so client-go can reach through this one.
func (t *retryTransport) WrappedRoundTripper() http.RoundTripper { return t.base }

// CancelRequest passes a cancellation on to the transport underneath, as
// client-go's wrappers do; the request's context, which every attempt
// shares, ends the retries.
func (t *retryTransport) CancelRequest(req *http.Request) {
	rt := t.base
	for rt != nil {
		switch r := rt.(type) {
		case interface{ CancelRequest(*http.Request) }:
			r.CancelRequest(req)
			return
		case interface{ WrappedRoundTripper() http.RoundTripper }:
			rt = r.WrappedRoundTripper()
		default:
			return
		}
	}
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	watch := req.URL.Query().Get("watch") == "true"
	ctx, cancel := context.WithCancelCause(req.Context())
	var timer *time.Timer
	if t.bound > 0 {
		timer = time.AfterFunc(t.bound, func() { cancel(&TimeoutError{After: t.bound, Flag: RequestTimeoutFlag}) })
	}
	release := func() {
		if timer != nil {
			timer.Stop()
		}
		cancel(nil)
	}
	resp, err := t.roundTrip(req.WithContext(ctx), watch)
	if err != nil {
		release()
		// Say which bound ended the request, when one did.
		var te *TimeoutError
		if ctx.Err() != nil && errors.As(context.Cause(ctx), &te) {
			return nil, te
		}
		return nil, err
	}
	if watch && timer != nil {
		// The server answered; the events stream for as long as the watch lasts.
		timer.Stop()
	}
	body := resp.Body
	if !watch {
		limit := responseLimit(req.URL.Path)
		if resp.ContentLength > limit {
			resp.Body.Close()
			release()
			return nil, &ResponseTooLargeError{Method: req.Method, URL: req.URL.Redacted(), Limit: limit}
		}
		body = bounded.ReadCloser(body, limit, &ResponseTooLargeError{Method: req.Method, URL: req.URL.Redacted(), Limit: limit})
	}
	resp.Body = &releasingBody{ReadCloser: body, release: release}
	return resp, nil
}

// MaxObjectBytes bounds the answer to a request for one object. The API
// server refuses to store an object of more than a few MiB (its request
// limit is 3 MiB), so a larger answer is no object of a cluster.
const MaxObjectBytes = 16 << 20

// MaxListBytes bounds any other answer: a list, a page of one, discovery.
// An unpaged list of the nodes of a cluster of 5,000 nodes, each about
// 25 KB with its images, is about half of it.
const MaxListBytes = 256 << 20

// ResponseTooLargeError is an answer larger than the tool reads: it is not
// held in memory, and the request fails.
type ResponseTooLargeError struct {
	Method, URL string
	Limit       int64
}

func (e *ResponseTooLargeError) Error() string {
	return fmt.Sprintf("the answer to %s %s is larger than %d MiB, more than this tool reads in one answer: check that the context's server is a Kubernetes API server", e.Method, e.URL, e.Limit>>20)
}

// responseLimit is the bound of the answer to a request for path: one
// object's, or a list's.
func responseLimit(path string) int64 {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var rest []string
	switch {
	case len(segs) >= 2 && segs[0] == "api":
		rest = segs[2:]
	case len(segs) >= 3 && segs[0] == "apis":
		rest = segs[3:]
	default:
		return MaxListBytes
	}
	if len(rest) >= 3 && rest[0] == "namespaces" {
		rest = rest[2:]
	}
	// A name after the resource is one object, or its subresource; a log
	// or a proxied answer is not an object.
	if len(rest) == 2 || (len(rest) == 3 && rest[2] != "log" && rest[2] != "proxy") {
		return MaxObjectBytes
	}
	return MaxListBytes
}

// releasingBody ends the request's bound when the body is closed.
type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

func (t *retryTransport) roundTrip(req *http.Request, watch bool) (*http.Response, error) {
	if watch || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
		return t.base.RoundTrip(req)
	}
	ctx := req.Context()
	budget := maxRetryTime
	if t.bound > 0 {
		budget = t.bound
	}
	deadline := time.Now().Add(budget)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	backoff := wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 1 << 30, Cap: 3 * time.Second}
	start := time.Now()
	for {
		attempt := req
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			attempt = req.Clone(ctx)
			attempt.Body = body
		}
		resp, err := t.base.RoundTrip(attempt)
		if resp != nil {
			t.reached.Store(true)
		}
		if (!t.reached.Load() && !(retriesRefused(ctx) && refused(err))) || !transient(req.Method, resp, err) {
			return resp, err
		}
		pause := backoff.Step()
		if time.Now().Add(pause).After(deadline) {
			if refused(err) {
				return nil, &RefusedError{Err: err, For: time.Since(start)}
			}
			return resp, err
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
		}
		timer := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
}

// transient tells whether a failed request is worth sending again.
func transient(method string, resp *http.Response, err error) bool {
	read := method == http.MethodGet || method == http.MethodHead
	if err != nil {
		if refused(err) {
			// Nothing reached the server.
			return true
		}
		var ne net.Error
		return read && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || (errors.As(err, &ne) && ne.Timeout()))
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return true
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
		return read
	}
	return false
}

// RefusedError is a connection the server kept refusing while the request
// was retried.
type RefusedError struct {
	Err error
	// For is how long the request was retried.
	For time.Duration
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%v (retried for %s): check that the API server is up", e.Err, e.For.Round(100*time.Millisecond))
}

func (e *RefusedError) Unwrap() error { return e.Err }

func refused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

type retryRefusedKey struct{}

// RetryRefused makes the requests made with ctx retry refused connections
// until ctx's deadline (or --request-timeout) even when the server has not
// answered yet: for a check that its caller bounds by a flag, such as
// deploy's environment check by --timeout, where the API server may be
// restarting. Without it, a server that never answered fails at once.
func RetryRefused(ctx context.Context) context.Context {
	return context.WithValue(ctx, retryRefusedKey{}, true)
}

func retriesRefused(ctx context.Context) bool {
	v, _ := ctx.Value(retryRefusedKey{}).(bool)
	return v
}
