package cmd

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
)

// maxRetryTime bounds the retries of one request that carries no deadline
// of its own (commands with --timeout give their requests that deadline);
// --request-timeout bounds them further.
const maxRetryTime = time.Minute

// withTransientRetries makes every client built from the config retry
// requests that failed for a passing reason: the API server refusing
// connections while it restarts, throttling (429), or being unavailable
// (503); reads are also retried after timeouts, dropped connections and
// other 5xx answers. Writes are retried only when the server cannot have
// acted on them. Watches are left to the informers, which list again. A
// server that never answered is not waited for: a wrong address fails at
// once, as it does in kubectl.
func withTransientRetries(c *rest.Config) *rest.Config {
	// client-go's default of 5 requests per second makes a command that
	// checks a role's rules one by one wait seconds for nothing; kubectl
	// itself allows 50, with bursts of 300.
	if c.QPS == 0 && c.RateLimiter == nil {
		c.QPS, c.Burst = 50, 300
	}
	budget := maxRetryTime
	if c.Timeout > 0 {
		budget = c.Timeout
	}
	c.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &retryTransport{base: rt, budget: budget} })
	return c
}

type retryTransport struct {
	base   http.RoundTripper
	budget time.Duration
	// reached is set once the server has answered anything.
	reached atomic.Bool
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Query().Get("watch") == "true" || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
		return t.base.RoundTrip(req)
	}
	ctx := req.Context()
	deadline := time.Now().Add(t.budget)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	backoff := wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 1 << 30, Cap: 3 * time.Second}
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
		if !t.reached.Load() || !transient(req.Method, resp, err) {
			return resp, err
		}
		pause := backoff.Step()
		if time.Now().Add(pause).After(deadline) {
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
		if errors.Is(err, syscall.ECONNREFUSED) {
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
