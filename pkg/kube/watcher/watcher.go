// Package watcher mirrors the objects a command waits on through
// informers, and wakes the command whenever one of them changes, so that
// waiting costs one watch per kind instead of repeated requests.
package watcher

import (
	"context"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
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
	inf := coreinformers.NewNodeInformer(w.client, 0, cache.Indexers{})
	w.add(inf)
	return corelisters.NewNodeLister(inf.GetIndexer())
}

// ReplicationControllers watches the ReplicationControllers of namespace,
// only the one called name unless name is "".
func (w *Watcher) ReplicationControllers(namespace, name string) corelisters.ReplicationControllerNamespaceLister {
	inf := coreinformers.NewFilteredReplicationControllerInformer(w.client, namespace, 0, byNamespace, named(name))
	w.add(inf)
	return corelisters.NewReplicationControllerLister(inf.GetIndexer()).ReplicationControllers(namespace)
}

// Deployments watches the Deployments of namespace, only the one called
// name unless name is "".
func (w *Watcher) Deployments(namespace, name string) appslisters.DeploymentNamespaceLister {
	inf := appsinformers.NewFilteredDeploymentInformer(w.client, namespace, 0, byNamespace, named(name))
	w.add(inf)
	return appslisters.NewDeploymentLister(inf.GetIndexer()).Deployments(namespace)
}

// DaemonSets watches the DaemonSets of namespace, only the one called name
// unless name is "".
func (w *Watcher) DaemonSets(namespace, name string) appslisters.DaemonSetNamespaceLister {
	inf := appsinformers.NewFilteredDaemonSetInformer(w.client, namespace, 0, byNamespace, named(name))
	w.add(inf)
	return appslisters.NewDaemonSetLister(inf.GetIndexer()).DaemonSets(namespace)
}

// ReplicaSets watches the ReplicaSets of namespace that sel selects.
func (w *Watcher) ReplicaSets(namespace string, sel labels.Selector) appslisters.ReplicaSetNamespaceLister {
	inf := appsinformers.NewFilteredReplicaSetInformer(w.client, namespace, 0, byNamespace, selected(sel))
	w.add(inf)
	return appslisters.NewReplicaSetLister(inf.GetIndexer()).ReplicaSets(namespace)
}

// Pods watches the pods of namespace that sel selects.
func (w *Watcher) Pods(namespace string, sel labels.Selector) corelisters.PodNamespaceLister {
	inf := coreinformers.NewFilteredPodInformer(w.client, namespace, 0, byNamespace, selected(sel))
	w.add(inf)
	return corelisters.NewPodLister(inf.GetIndexer()).Pods(namespace)
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
	return nil
}
