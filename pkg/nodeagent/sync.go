package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/envops/kubectl-envops/pkg/kube"
	"github.com/envops/kubectl-envops/pkg/kube/watcher"
	"github.com/envops/kubectl-envops/pkg/rollout"
)

// ErrDaemonSet is wrapped by Sync and Watch when the agent is a DaemonSet,
// which places one pod per node by itself.
var ErrDaemonSet = errors.New("nothing to sync")

// DefaultSettle is how long Sync waits, after scaling, for the scheduler to
// place or reject the agent's pods, so that it can report host port conflicts.
const DefaultSettle = 30 * time.Second

// retryAfter is how soon Watch tries again after a write the API refused
// for a passing reason (a conflict, a lost connection).
const retryAfter = 5 * time.Second

// SyncResult is the outcome of one comparison of an agent's replicas with
// the nodes.
type SyncResult struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// From and To are the replicas before and after; equal when nothing changed.
	From int32 `json:"from"`
	To   int32 `json:"to"`
	// Nodes are the nodes counted, and those left out.
	Nodes NodeSet `json:"nodes"`
	// Conflicts are agent pods Pending because a host port is taken.
	Conflicts []PortConflict `json:"conflicts,omitempty"`
	// Updating names the controller of a rolling update in progress; the
	// replicas are then left to the update.
	Updating string `json:"updating,omitempty"`
	// Gone is set, while watching, when the controller has disappeared.
	Gone   bool `json:"gone,omitempty"`
	DryRun bool `json:"dryRun,omitempty"`
}

// Scaled tells whether the replicas were (or, in a dry run, would be) changed.
func (r *SyncResult) Scaled() bool { return r.From != r.To }

// Syncer keeps the replicas of an agent's ReplicationController equal to the
// number of nodes its pods can be scheduled on.
type Syncer struct {
	Client    kubernetes.Interface
	Namespace string
	Name      string
	// DryRun, when set, computes the change (and with DryRunServer has the
	// server validate it) without making it.
	DryRun rollout.DryRun
	// Settle bounds the wait for the scheduler after scaling; zero means
	// DefaultSettle.
	Settle time.Duration
}

// Sync sets the replicas once, waits for the scheduler to place the pods,
// and reports the pods that cannot be placed because the host port is taken.
func (s *Syncer) Sync(ctx context.Context) (*SyncResult, error) {
	a, err := s.find(ctx)
	if err != nil {
		return nil, err
	}
	v, err := s.start(ctx, a.Selector)
	if err != nil {
		return nil, err
	}
	defer v.Stop()
	res, written, err := s.reconcile(ctx, v, mark{})
	if err != nil {
		return nil, err
	}
	if s.DryRun == rollout.DryRunNone && res.Updating == "" {
		settle := s.Settle
		if settle <= 0 {
			settle = DefaultSettle
		}
		if err := s.settle(ctx, v, written, time.Now().Add(settle)); err != nil {
			return nil, err
		}
	}
	if err := s.report(ctx, v, res); err != nil {
		return nil, err
	}
	return res, nil
}

// Watch keeps the replicas in step with the nodes as they are added,
// removed, cordoned or tainted, until ctx ends (which is not an error).
// onResult receives the first result and every later one that changed the
// replicas or found a new host port conflict.
func (s *Syncer) Watch(ctx context.Context, onResult func(*SyncResult)) error {
	a, err := s.find(ctx)
	if err != nil {
		return err
	}
	v, err := s.start(ctx, a.Selector)
	if err != nil {
		return err
	}
	defer v.Stop()
	reported := map[string]bool{}
	first, updating, gone := true, "", false
	var written mark
	for {
		if err := v.Failed(); err != nil {
			return fmt.Errorf("lost the watch on nodes and namespace %q: %w", s.Namespace, err)
		}
		var wake time.Time
		res, w, err := s.reconcile(ctx, v, written)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, errGone):
			// A rolling update re-creates the controller under its name;
			// wait for it rather than give up.
			if !gone {
				onResult(&SyncResult{Namespace: s.Namespace, Name: s.Name, Gone: true})
			}
			gone = true
		case err != nil && retriable(err):
			wake = time.Now().Add(retryAfter)
		case err != nil:
			return err
		default:
			wasGone := gone
			gone = false
			if w.UID != "" {
				written = w
			}
			if err := s.report(ctx, v, res); err != nil && ctx.Err() == nil {
				return err
			}
			fresh := res.Conflicts[:0:0]
			seen := map[string]bool{}
			for _, c := range res.Conflicts {
				seen[c.Pod] = true
				if !reported[c.Pod] {
					fresh = append(fresh, c)
				}
			}
			reported = seen
			if first || wasGone || res.Scaled() || len(fresh) > 0 || res.Updating != updating {
				res.Conflicts = fresh
				onResult(res)
			}
			first, updating = false, res.Updating
		}
		if err := v.Wait(ctx, wake); err != nil {
			return nil
		}
	}
}

// retriable tells whether a failed write may succeed when tried again.
func retriable(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		apierrors.IsTooManyRequests(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err)
}

// find reads the agent through the API, so that a missing agent or a
// refused read is reported before any watch starts.
func (s *Syncer) find(ctx context.Context) (*agent, error) {
	a, err := findRC(ctx, s.Client, s.Namespace, s.Name)
	if err != nil || a != nil {
		return a, err
	}
	if ds, err := findDS(ctx, s.Client, s.Namespace, s.Name); err == nil && ds != nil {
		return nil, fmt.Errorf("daemonset.apps/%s runs one pod on every node by itself: %w", s.Name, ErrDaemonSet)
	}
	return nil, notFound(s.Namespace, s.Name)
}

// mark is a controller version this Syncer wrote.
type mark struct {
	UID        types.UID
	Generation int64
	Replicas   int32
}

// stale tells whether a cached controller predates the write m: an older
// generation, or the same one with other replicas than were written.
func (m mark) stale(a *agent) bool {
	return a.UID == m.UID && (a.Generation < m.Generation || a.Generation == m.Generation && a.Replicas != m.Replicas)
}

// reconcile compares the cached controller with the cached nodes and scales
// it when they differ. Until the cache has caught up with the last write
// (written), the cached replicas are stale and nothing is written. It
// returns its own write, if any.
func (s *Syncer) reconcile(ctx context.Context, v *view, written mark) (*SyncResult, mark, error) {
	a, err := v.agent(s.Name)
	if err != nil {
		return nil, mark{}, err
	}
	nodes, err := v.nodes.List(labels.Everything())
	if err != nil {
		return nil, mark{}, err
	}
	set := ClassifyNodes(nodes, a.Template)
	res := &SyncResult{Namespace: s.Namespace, Name: s.Name, From: a.Replicas, To: set.Count(), Nodes: set, Updating: a.Updating, DryRun: s.DryRun != rollout.DryRunNone}
	if a.Updating != "" || written.stale(a) {
		res.To = res.From
		return res, mark{}, nil
	}
	if !res.Scaled() || s.DryRun == rollout.DryRunClient {
		return res, mark{}, nil
	}
	if res.To < res.From {
		pods, err := v.pods.List(a.Selector)
		if err != nil {
			return nil, mark{}, err
		}
		if err := s.markStranded(ctx, pods, set); err != nil {
			return nil, mark{}, err
		}
	}
	gen, err := s.scale(ctx, a.UID, res.To)
	if err != nil {
		return nil, mark{}, err
	}
	return res, mark{UID: a.UID, Generation: gen, Replicas: res.To}, nil
}

// strandedCost is the deletion cost of an agent pod on a node that is gone
// or no longer counted: the lowest there is, so that the replication
// manager removes those pods first when it scales down, rather than the
// agent of a node that still needs one.
const strandedCost = math.MinInt32

// markStranded gives the agent pods on nodes outside set the lowest
// deletion cost.
func (s *Syncer) markStranded(ctx context.Context, pods []*corev1.Pod, set NodeSet) error {
	counted := map[string]bool{}
	for _, n := range set.Schedulable {
		counted[n] = true
	}
	cost := strconv.Itoa(strandedCost)
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, corev1.PodDeletionCost, cost)
	for _, p := range pods {
		if !kube.IsPodActive(p) || p.Spec.NodeName == "" || counted[p.Spec.NodeName] || p.Annotations[corev1.PodDeletionCost] == cost {
			continue
		}
		_, err := s.Client.CoreV1().Pods(s.Namespace).Patch(ctx, p.Name, types.MergePatchType, patch, s.DryRun.PatchOptions())
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("cannot mark pod %q on node %s to be removed first: %w", p.Name, p.Spec.NodeName, err)
		}
	}
	return nil
}

// scale sets the controller's replicas and returns the generation the
// change has.
func (s *Syncer) scale(ctx context.Context, uid types.UID, replicas int32) (int64, error) {
	// The uid makes the patch fail rather than touch a re-created namesake.
	patch := fmt.Appendf(nil, `{"metadata":{"uid":%q},"spec":{"replicas":%d}}`, uid, replicas)
	out, err := s.Client.CoreV1().ReplicationControllers(s.Namespace).Patch(ctx, s.Name, types.MergePatchType, patch, s.DryRun.PatchOptions())
	if err != nil {
		return 0, fmt.Errorf("cannot scale ReplicationController %q in namespace %q to %d: %w", s.Name, s.Namespace, replicas, err)
	}
	if s.DryRun != rollout.DryRunNone {
		return 0, nil
	}
	return out.Generation, nil
}

// settle waits until the replication manager has acted on the latest
// replicas and the scheduler has placed or rejected every pod, or until
// deadline passes, which is not an error: what is known is reported.
func (s *Syncer) settle(ctx context.Context, v *view, written mark, deadline time.Time) error {
	for {
		if err := v.Failed(); err != nil {
			return fmt.Errorf("lost the watch on nodes and namespace %q: %w", s.Namespace, err)
		}
		a, pods, err := v.agentPods(s.Name)
		if err != nil {
			return err
		}
		if !written.stale(a) && placed(a, pods) || !time.Now().Before(deadline) {
			return nil
		}
		if err := v.Wait(ctx, deadline); err != nil {
			return err
		}
	}
}

// placed tells whether the controller has its pods and the scheduler has
// bound or rejected each of them.
func placed(a *agent, pods []*corev1.Pod) bool {
	if a.ObservedGeneration < a.Generation {
		return false
	}
	var n int32
	for _, p := range pods {
		if !kube.IsPodActive(p) {
			continue
		}
		n++
		if _, rejected := unschedulable(p); p.Spec.NodeName == "" && !rejected {
			return false
		}
	}
	return n == a.Replicas
}

// report fills in the host port conflicts from the cache.
func (s *Syncer) report(ctx context.Context, v *view, res *SyncResult) error {
	a, pods, err := v.agentPods(s.Name)
	if err != nil {
		return err
	}
	res.Conflicts, err = conflicts(ctx, s.Client, a, res.Nodes, pods)
	return err
}

// view mirrors the nodes, the namespace's ReplicationControllers and the
// agent's pods through informers, and wakes its user on every change, so
// that waiting costs one watch per kind rather than repeated requests.
type view struct {
	*watcher.Watcher
	nodes corelisters.NodeLister
	rcs   corelisters.ReplicationControllerNamespaceLister
	pods  corelisters.PodNamespaceLister
}

// start runs the informers and waits until their caches are filled.
func (s *Syncer) start(ctx context.Context, pods labels.Selector) (*view, error) {
	w := watcher.New(s.Client)
	v := &view{Watcher: w, nodes: w.Nodes(), rcs: w.ReplicationControllers(s.Namespace, ""), pods: w.Pods(s.Namespace, pods)}
	if err := w.Start(ctx); err != nil {
		return nil, fmt.Errorf("cannot watch nodes, ReplicationControllers and pods in namespace %q: %w", s.Namespace, err)
	}
	return v, nil
}

// agent returns the named agent's controller from the cache: the
// ReplicationController itself or the controller of an update about to take
// its name.
func (v *view) agent(name string) (*agent, error) {
	rc, err := v.rcs.Get(name)
	if err == nil {
		return agentOfRC(rc)
	}
	if !apierrors.IsNotFound(err) {
		return nil, err
	}
	all, err := v.rcs.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	for _, rc := range all {
		if rollout.RenamingTo(rc) == name {
			return agentOfRC(rc)
		}
	}
	return nil, fmt.Errorf("%w: ReplicationController %q was deleted; create the agent again with \"kubectl envops node-agent %s --image IMAGE --host-port PORT\"", errGone, name, name)
}

// agentPods returns the named agent's controller and its pods from the cache.
func (v *view) agentPods(name string) (*agent, []*corev1.Pod, error) {
	a, err := v.agent(name)
	if err != nil {
		return nil, nil, err
	}
	pods, err := v.pods.List(a.Selector)
	if err != nil {
		return nil, nil, err
	}
	return a, pods, nil
}

// errGone is wrapped when the agent's controller disappears from the cache.
var errGone = errors.New("the agent is gone")
