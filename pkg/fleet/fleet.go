// Package fleet asks many clusters the same question at once, each within
// its own deadline, so that one cluster that never answers costs the caller
// at most that deadline and never hides the answers of the others.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"

	"github.com/envops/kubectl-envops/pkg/kube"
)

// DefaultDeadline is how long one cluster may take to answer.
const DefaultDeadline = 10 * time.Second

// MaxConcurrent bounds how many targets are asked at once: each costs a
// client, a connection and its goroutines, so thousands at once cost
// memory and starve each other of CPU until a refused connection looks
// like one that never answered. Each target's deadline starts when it is
// asked.
const MaxConcurrent = 32

// abandonGrace is how long a call that outlived its deadline is waited
// for, to learn why it did not answer (a credential plugin the transport
// stopped at the same bound, say), before it is abandoned.
const abandonGrace = 2 * time.Second

// Result is the answer of one target.
type Result[T any] struct {
	// Target is the name the answer belongs to, e.g. a kube context.
	Target string
	Value  T
	// Err is the target's failure; context.DeadlineExceeded when it did not
	// answer within the deadline.
	Err error
}

// Each calls ask for every target, MaxConcurrent at a time, each with a
// context that ends after deadline, and returns the results in the order
// of targets. It returns once every target answered or ran out of time: a
// call that ignores its context is abandoned shortly after the deadline
// (its goroutine ends when the call does), so a stuck cluster never delays
// the others.
func Each[T any](ctx context.Context, targets []string, deadline time.Duration, ask func(ctx context.Context, target string) (T, error)) []Result[T] {
	if deadline <= 0 {
		deadline = DefaultDeadline
	}
	out := make([]Result[T], len(targets))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(targets), MaxConcurrent) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(targets); i = int(next.Add(1) - 1) {
				out[i] = one(ctx, targets[i], deadline, ask)
			}
		}()
	}
	wg.Wait()
	return out
}

// one runs ask for one target and gives up at the deadline.
func one[T any](ctx context.Context, target string, deadline time.Duration, ask func(context.Context, string) (T, error)) Result[T] {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	done := make(chan Result[T], 1)
	go func() {
		v, err := ask(ctx, target)
		done <- Result[T]{Target: target, Value: v, Err: err}
	}()
	answered := func(r Result[T]) Result[T] {
		if r.Err != nil && ctx.Err() != nil && !errors.Is(r.Err, ctx.Err()) && isTimeout(r.Err) {
			r.Err = fmt.Errorf("%w: %v", context.DeadlineExceeded, r.Err)
		}
		return r
	}
	select {
	case r := <-done:
		return answered(r)
	case <-ctx.Done():
	}
	grace := time.NewTimer(abandonGrace)
	defer grace.Stop()
	select {
	case r := <-done:
		return answered(r)
	case <-grace.C:
		return Result[T]{Target: target, Err: ctx.Err()}
	}
}

// WithDeadline returns a copy of cfg whose every request ends after
// deadline, so that the client itself gives up on a cluster that does not
// answer.
func WithDeadline(cfg *rest.Config, deadline time.Duration) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Timeout = deadline
	return c
}

// Reason says in a few words why a target could not be read, for a table
// cell: "unreachable: no answer within 10s", "refused: connection refused
// at 10.0.0.1:6443", "forbidden: ...".
func Reason(err error, deadline time.Duration) string {
	var pe *kube.CredentialPluginError
	var tooLarge *kube.ResponseTooLargeError
	var oe *net.OpError
	switch {
	case err == nil:
		return ""
	case asPluginError(err, &pe):
		pe.Bound, pe.Flag = deadline, "--timeout"
		return pe.Error()
	case errors.As(err, &tooLarge):
		return "too large: " + tooLarge.Error()
	case errors.Is(err, syscall.ECONNREFUSED) && errors.As(err, &oe) && oe.Addr != nil:
		return "refused: connection refused at " + oe.Addr.String()
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused: connection refused"
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Sprintf("unreachable: no answer within %s", deadline)
	case apierrors.IsForbidden(err):
		return "forbidden: " + oneLine(err.Error())
	case apierrors.IsUnauthorized(err):
		return "unauthorized: your credentials for this cluster were rejected"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return "unreachable: " + oneLine(ue.Err.Error())
	}
	return oneLine(err.Error())
}

// Brief is err with the message of Reason, keeping err for errors.Is.
func Brief(err error, deadline time.Duration) error {
	return &briefError{msg: Reason(err, deadline), err: err}
}

type briefError struct {
	msg string
	err error
}

func (e *briefError) Error() string { return e.msg }
func (e *briefError) Unwrap() error { return e.err }

// Unreachable reports whether err means the target did not answer.
func Unreachable(err error) bool {
	var ue *url.Error
	return errors.Is(err, context.DeadlineExceeded) || isTimeout(err) || errors.As(err, &ue)
}

func asPluginError(err error, pe **kube.CredentialPluginError) bool {
	var ok bool
	*pe, ok = kube.AsCredentialPluginError(err)
	return ok
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
