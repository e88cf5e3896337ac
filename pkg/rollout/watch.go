package rollout

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/cache"
)

// watcher keeps informer caches of the objects an update waits on and wakes
// the update whenever one of them changes, so waiting costs one watch per
// kind instead of repeated requests.
type watcher struct {
	informers []cache.SharedIndexInformer
	changed   chan struct{}
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	mu     sync.Mutex
	err    error
	onFail func()
}

func newWatcher() *watcher {
	return &watcher{changed: make(chan struct{}, 1)}
}

// add registers an informer; call it before start.
func (w *watcher) add(inf cache.SharedIndexInformer) error {
	notify := func(any) { w.poke() }
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    notify,
		UpdateFunc: func(_, obj any) { notify(obj) },
		DeleteFunc: notify,
	}); err != nil {
		return err
	}
	// A watch that is refused (RBAC) would otherwise be retried forever and
	// logged; record the refusal so the update stops with it.
	if err := inf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
		if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
			w.fail(err)
		}
	}); err != nil {
		return err
	}
	w.informers = append(w.informers, inf)
	return nil
}

func (w *watcher) poke() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

func (w *watcher) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	onFail := w.onFail
	w.mu.Unlock()
	if onFail != nil {
		onFail()
	}
	w.poke()
}

// failed returns the error that stopped a watch, if any.
func (w *watcher) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// start runs the informers and waits until their caches hold the current state.
func (w *watcher) start(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.cancel = cancel
	syncCtx, syncCancel := context.WithCancel(ctx)
	defer syncCancel()
	w.mu.Lock()
	w.onFail = syncCancel
	w.mu.Unlock()
	checkers := make([]cache.DoneChecker, 0, len(w.informers))
	for _, inf := range w.informers {
		w.wg.Go(func() { inf.RunWithContext(runCtx) })
		checkers = append(checkers, inf.HasSyncedChecker())
	}
	if cache.WaitFor(syncCtx, "", checkers...) {
		return nil
	}
	if err := w.failed(); err != nil {
		return fmt.Errorf("cannot watch: %w", err)
	}
	return ctx.Err()
}

// stop ends the informers and waits for them to return.
func (w *watcher) stop() {
	if w.cancel != nil {
		w.cancel()
		w.wg.Wait()
	}
}

// wait blocks until a watched object changes, until (if not zero) passes, or
// ctx ends.
func (w *watcher) wait(ctx context.Context, until time.Time) error {
	var timer <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-w.changed:
	case <-timer:
	}
	return nil
}

// namespaceIndex lets the namespaced listers find objects by namespace.
var namespaceIndex = cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}
