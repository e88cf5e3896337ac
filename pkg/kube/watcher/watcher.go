// Package watcher mirrors the objects a command waits on through
// informers, and wakes the command whenever one of them changes, so that
// waiting costs one watch per kind instead of repeated requests.
package watcher

import (
	"context"
	"errors"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// Watcher builds informers, runs them, and wakes Wait on every change.
// Register what to watch (Nodes, Pods, ...) before Start; the listers it
// returns answer from the caches once Start has returned.
type Watcher struct {
	client    kubernetes.Interface
	informers []cache.SharedIndexInformer
	changed   chan struct{}
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	mu sync.Mutex
	// err is the first error: of registering a handler, or of a watch
	// the server refused.
	err    error
	onFail func()
	// down holds the informers that cannot reach the API server.
	down map[int]bool
	// outage is the current outage, or the last one until Wait has
	// reported its end; announced tells whether its start was reported.
	outage       *Outage
	announced    bool
	onConnection func(Outage)
}

// Outage is a time when the watches could not reach the API server.
type Outage struct {
	// Err is why the first attempt failed.
	Err   error
	Since time.Time
	// Until is when every watch reached the server again; zero while the
	// outage lasts.
	Until time.Time
}

// New returns a Watcher that lists and watches through client.
func New(client kubernetes.Interface) *Watcher {
	return &Watcher{client: client, changed: make(chan struct{}, 1)}
}

// byNamespace lets the namespaced listers find objects by namespace.
var byNamespace = cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}

// named restricts a list and watch to the object called name, if any.
func named(name string) func(*metav1.ListOptions) {
	return func(lo *metav1.ListOptions) {
		if name != "" {
			lo.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
		}
	}
}

// selected restricts a list and watch to the objects sel selects.
func selected(sel labels.Selector) func(*metav1.ListOptions) {
	return func(lo *metav1.ListOptions) { lo.LabelSelector = sel.String() }
}

// Nodes watches every node.
func (w *Watcher) Nodes() corelisters.NodeLister {
	inf := informer(w, w.client.CoreV1().Nodes(), &corev1.Node{}, cache.Indexers{}, nil)
	return corelisters.NewNodeLister(inf.GetIndexer())
}

// ReplicationControllers watches the ReplicationControllers of namespace,
// only the one called name unless name is "".
func (w *Watcher) ReplicationControllers(namespace, name string) corelisters.ReplicationControllerNamespaceLister {
	inf := informer(w, w.client.CoreV1().ReplicationControllers(namespace), &corev1.ReplicationController{}, byNamespace, named(name))
	return corelisters.NewReplicationControllerLister(inf.GetIndexer()).ReplicationControllers(namespace)
}

// Deployments watches the Deployments of namespace, only the one called
// name unless name is "".
func (w *Watcher) Deployments(namespace, name string) appslisters.DeploymentNamespaceLister {
	inf := informer(w, w.client.AppsV1().Deployments(namespace), &appsv1.Deployment{}, byNamespace, named(name))
	return appslisters.NewDeploymentLister(inf.GetIndexer()).Deployments(namespace)
}

// DaemonSets watches the DaemonSets of namespace, only the one called name
// unless name is "".
func (w *Watcher) DaemonSets(namespace, name string) appslisters.DaemonSetNamespaceLister {
	inf := informer(w, w.client.AppsV1().DaemonSets(namespace), &appsv1.DaemonSet{}, byNamespace, named(name))
	return appslisters.NewDaemonSetLister(inf.GetIndexer()).DaemonSets(namespace)
}

// ReplicaSets watches the ReplicaSets of namespace that sel selects.
func (w *Watcher) ReplicaSets(namespace string, sel labels.Selector) appslisters.ReplicaSetNamespaceLister {
	inf := informer(w, w.client.AppsV1().ReplicaSets(namespace), &appsv1.ReplicaSet{}, byNamespace, selected(sel))
	return appslisters.NewReplicaSetLister(inf.GetIndexer()).ReplicaSets(namespace)
}

// Pods watches the pods of namespace that sel selects.
func (w *Watcher) Pods(namespace string, sel labels.Selector) corelisters.PodNamespaceLister {
	inf := informer(w, w.client.CoreV1().Pods(namespace), &corev1.Pod{}, byNamespace, selected(sel))
	return corelisters.NewPodLister(inf.GetIndexer()).Pods(namespace)
}

// listWatcher is what the typed client of every kind offers.
type listWatcher[L runtime.Object] interface {
	List(context.Context, metav1.ListOptions) (L, error)
	Watch(context.Context, metav1.ListOptions) (watch.Interface, error)
}

// informer builds and registers an informer on c, whose lists and watches
// wait for an unreachable API server instead of failing (see reaching).
func informer[L runtime.Object](w *Watcher, c listWatcher[L], obj runtime.Object, indexers cache.Indexers, tweak func(*metav1.ListOptions)) cache.SharedIndexInformer {
	id := len(w.informers)
	options := func(o metav1.ListOptions) metav1.ListOptions {
		if tweak != nil {
			tweak(&o)
		}
		return o
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return reaching(ctx, w, id, func() (runtime.Object, error) { return c.List(ctx, options(o)) })
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return reaching(ctx, w, id, func() (watch.Interface, error) { return c.Watch(ctx, options(o)) })
		},
	}
	inf := cache.NewSharedIndexInformerWithOptions(cache.ToListWatcherWithWatchListSemantics(lw, w.client), obj,
		cache.SharedIndexInformerOptions{Indexers: indexers})
	w.add(inf)
	return inf
}

// retryPeriod is how often a list or watch tries an unreachable API server
// again.
const retryPeriod = time.Second

// reaching calls call until it reaches the API server. The reflector under
// an informer backs off exponentially after each failure, up to a minute
// with its jitter, so a wait would sit idle for that long after an outage;
// trying every retryPeriod here, the caches fill again within a second of
// the server's return. Errors other than an unreachable server go to the
// reflector as they are.
func reaching[T any](ctx context.Context, w *Watcher, id int, call func() (T, error)) (T, error) {
	for {
		v, err := call()
		if err == nil {
			w.reached(id)
		}
		if err == nil || !serverUnreachable(err) || ctx.Err() != nil {
			return v, err
		}
		w.unreachable(id, err)
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(retryPeriod):
		}
	}
}

// serverUnreachable tells whether err says that the API server could not be
// reached or cannot serve yet, rather than that it refused the request.
func serverUnreachable(err error) bool {
	// A request the server never answered: net's own timeouts, and the
	// bound of --request-timeout.
	var timeout interface{ Timeout() bool }
	return utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsTooManyRequests(err) ||
		(errors.As(err, &timeout) && timeout.Timeout())
}

// unreachable records that informer id cannot reach the API server.
func (w *Watcher) unreachable(id int, err error) {
	w.mu.Lock()
	if w.down == nil {
		w.down = map[int]bool{}
	}
	w.down[id] = true
	started := w.outage == nil
	switch {
	case started:
		w.outage = &Outage{Err: err, Since: time.Now()}
	case !w.outage.Until.IsZero():
		// Lost again before Wait reported the return: one outage.
		w.outage.Until = time.Time{}
	}
	w.mu.Unlock()
	if started {
		w.poke()
	}
}

// reached records that informer id reaches the API server.
func (w *Watcher) reached(id int) {
	w.mu.Lock()
	ended := w.down[id] && len(w.down) == 1
	delete(w.down, id)
	if ended {
		w.outage.Until = time.Now()
	}
	w.mu.Unlock()
	if ended {
		w.poke()
	}
}

// OnConnection registers f, which Wait calls on its caller's goroutine
// when the watches lose the API server (an Outage without Until) and when
// they all reach it again (with Until). An outage that began and ended
// between two Waits is reported once, ended.
func (w *Watcher) OnConnection(f func(Outage)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.onConnection = f
}

// reportConnection tells the OnConnection function what it has not been
// told of the current or last outage.
func (w *Watcher) reportConnection() {
	w.mu.Lock()
	var report *Outage
	if o := w.outage; o != nil && (!o.Until.IsZero() || !w.announced) {
		copied := *o
		report = &copied
		w.announced = o.Until.IsZero()
		if !o.Until.IsZero() {
			w.outage = nil
		}
	}
	f := w.onConnection
	w.mu.Unlock()
	if report != nil && f != nil {
		f(*report)
	}
}

// add registers an informer: every change wakes Wait, and a watch the
// server refuses (RBAC), which the reflector would otherwise retry and log
// forever, stops the Watcher with that error.
func (w *Watcher) add(inf cache.SharedIndexInformer) {
	poke := func(any) { w.poke() }
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    poke,
		UpdateFunc: func(_, obj any) { poke(obj) },
		DeleteFunc: poke,
	})
	if err == nil {
		err = inf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
			if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
				w.fail(err)
			}
		})
	}
	if err != nil {
		w.fail(err)
	}
	w.informers = append(w.informers, inf)
}

func (w *Watcher) poke() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

func (w *Watcher) fail(err error) {
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

// Failed returns the error that stopped a watch, if any.
func (w *Watcher) Failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Start runs the informers and waits until their caches hold the current
// state. The informers outlive ctx, which bounds only the wait: Stop ends
// them. On error they are stopped already.
func (w *Watcher) Start(ctx context.Context) error {
	if err := w.Failed(); err != nil {
		return err
	}
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
	w.Stop()
	if err := w.Failed(); err != nil {
		return err
	}
	return ctx.Err()
}

// Stop ends the informers and waits for them to return.
func (w *Watcher) Stop() {
	if w.cancel != nil {
		w.cancel()
		w.wg.Wait()
	}
}

// Wait blocks until a watched object changes, until (if not zero) passes,
// or ctx ends.
func (w *Watcher) Wait(ctx context.Context, until time.Time) error {
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
	w.reportConnection()
	return nil
}
