package environment

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/config"
)

// WatchOptions configures Watch.
type WatchOptions struct {
	// Env is the environment every namespace must declare.
	Env    string
	Secret config.Secret
	// Force allows overwriting a namespace that declares another environment.
	Force bool
	// FieldManager names this tool in the objects' managed fields.
	FieldManager string
	// MaxRetries bounds the attempts per namespace before its error is reported.
	MaxRetries int
	// Record, when set, is the audit record stamped on each Secret written;
	// its time is that of the write.
	Record *audit.Record
	// OnEvent receives each namespace's outcome; it is called from one
	// goroutine at a time.
	OnEvent func(WatchEvent)
}

// WatchEvent is the outcome of ensuring the Secret in one namespace.
type WatchEvent struct {
	Namespace string
	Action    Action
	// Err is set when the namespace could not be given the Secret.
	Err error
}

// Watch keeps the environment Secret in every namespace, SystemNamespaces
// aside, until ctx ends: an informer reports namespaces (those that exist
// and those created later) and a rate-limited queue ensures each one,
// retrying failures. It returns nil when ctx is cancelled.
func Watch(ctx context.Context, client kubernetes.Interface, opts WatchOptions) error {
	if opts.MaxRetries <= 0 {
		opts.MaxRetries = 5
	}
	if opts.OnEvent == nil {
		opts.OnEvent = func(WatchEvent) {}
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	nsInformer := factory.Core().V1().Namespaces()
	lister := nsInformer.Lister()
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())

	enqueue := func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok && !IsSystemNamespace(ns.Name) {
			queue.Add(ns.Name)
		}
	}
	if _, err := nsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue}); err != nil {
		return fmt.Errorf("cannot watch namespaces: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	factory.Start(ctx.Done())
	defer factory.Shutdown()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		queue.ShutDown()
	}()
	defer wg.Wait()

	if !cache.WaitForCacheSync(ctx.Done(), nsInformer.Informer().HasSynced) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("cannot list namespaces to watch them")
	}
	for {
		name, shutdown := queue.Get()
		if shutdown {
			return nil
		}
		ev := ensureOne(ctx, client, lister, name, opts)
		switch {
		case ev == nil:
			queue.Forget(name)
		case ev.Err != nil && ctx.Err() != nil:
			// Cancelled mid-write: not a failure of the namespace.
			queue.Forget(name)
			ev = nil
		case ev.Err != nil && retryable(ev.Err) && queue.NumRequeues(name) < opts.MaxRetries:
			queue.AddRateLimited(name)
			ev = nil
		default:
			queue.Forget(name)
		}
		queue.Done(name)
		if ev != nil {
			opts.OnEvent(*ev)
		}
	}
}

// namespaceGetter is the part of the namespace lister ensureOne needs.
type namespaceGetter interface {
	Get(name string) (*corev1.Namespace, error)
}

// ensureOne plans and applies the Secret in one namespace; nil means there
// is nothing to report (namespace gone or terminating).
func ensureOne(ctx context.Context, client kubernetes.Interface, lister namespaceGetter, name string, opts WatchOptions) *WatchEvent {
	ns, err := lister.Get(name)
	if apierrors.IsNotFound(err) || (err == nil && ns.Status.Phase == corev1.NamespaceTerminating) {
		return nil
	}
	if err != nil {
		return &WatchEvent{Namespace: name, Err: err}
	}
	changes, err := Plan(ctx, client, []string{name}, opts.Env, opts.Secret, PlanOptions{Force: opts.Force})
	if err != nil {
		return &WatchEvent{Namespace: name, Err: err}
	}
	if opts.Record != nil {
		r := *opts.Record
		r.Time = time.Now()
		for _, c := range changes {
			if c.Action != Unchanged {
				r.Stamp(c.Secret)
			}
		}
	}
	if _, err := Apply(ctx, client, changes, false, opts.FieldManager); err != nil {
		return &WatchEvent{Namespace: name, Err: err}
	}
	return &WatchEvent{Namespace: name, Action: changes[0].Action}
}

// retryable reports whether another attempt may succeed: refusals and
// permission errors will not change by waiting.
func retryable(err error) bool {
	var ce *ConflictError
	if errors.As(err, &ce) {
		return false
	}
	return !apierrors.IsForbidden(err) && !apierrors.IsUnauthorized(err) && !apierrors.IsInvalid(err)
}
