package deploy

import (
	"context"
	"sync"
)

// memo runs a check once per key for every app of one command: the apps
// going to one namespace share its environment and access checks. A
// failed check is forgotten, so that the next app asks again under its
// own deadline.
type memo[T any] struct{ m sync.Map }

type memoEntry[T any] struct {
	done chan struct{}
	v    T
	err  error
}

func (m *memo[T]) do(ctx context.Context, key string, f func() (T, error)) (T, error) {
	e := &memoEntry[T]{done: make(chan struct{})}
	if v, loaded := m.m.LoadOrStore(key, e); loaded {
		e = v.(*memoEntry[T])
		select {
		case <-e.done:
			return e.v, e.err
		case <-ctx.Done():
			var zero T
			return zero, context.Cause(ctx)
		}
	}
	e.v, e.err = f()
	if e.err != nil {
		m.m.Delete(key)
	}
	close(e.done)
	return e.v, e.err
}
