package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/polymorphichelpers"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"
	"k8s.io/utils/ptr"

	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/kube/watcher"
)

const kindDeployment = "Deployment"

var deploymentGK = appsv1.SchemeGroupVersion.WithKind(kindDeployment).GroupKind()

// errDeadlineExceeded marks a rollout the Deployment controller itself gave up on.
var errDeadlineExceeded = errors.New("rollout failed")

// Deployments applies apps/v1 Deployments with server-side apply and waits,
// with kubectl's status viewer over a watch, for the Deployment controller
// to roll them out; a failed rollout returns to the previous revision.
type Deployments struct {
	Client    kubernetes.Interface
	Namespace string
	// Events receives every step; nil discards them.
	Events EventFunc
}

func (d *Deployments) emit(name string, e Event) {
	if d.Events == nil {
		return
	}
	e.Time = time.Now()
	e.Kind = kindDeployment
	e.Namespace = d.Namespace
	e.Name = name
	d.Events(e)
}

// Deploy applies obj, an apps/v1 Deployment, and waits until it is rolled
// out. A failed rollout is rolled back to the previous revision unless
// o.NoRollback; the error is then a *FailedError.
func (d *Deployments) Deploy(ctx context.Context, obj *unstructured.Unstructured, o Options) (Result, error) {
	if obj.GroupVersionKind().GroupKind() != deploymentGK {
		return Result{}, fmt.Errorf("%s %q is not an apps/v1 Deployment", obj.GetKind(), obj.GetName())
	}
	name := obj.GetName()
	if name == "" {
		return Result{}, fmt.Errorf("the Deployment has no name: set metadata.name")
	}
	obj = obj.DeepCopy()
	obj.SetNamespace(d.Namespace)
	notice, err := applyStrategy(obj, o)
	if err != nil {
		return Result{}, err
	}
	want := &appsv1.Deployment{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, want); err != nil {
		return Result{}, fmt.Errorf("Deployment %q is malformed: %w", name, err)
	}
	rec := recordOf(o.Record, &want.Spec.Template)
	if rec != nil {
		rec.Stamp(obj)
	}

	deployments := d.Client.AppsV1().Deployments(d.Namespace)
	live, err := deployments.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		live, err = nil, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("cannot read Deployment %q in namespace %q: %w", name, d.Namespace, err)
	}

	if o.DryRun == DryRunClient {
		return Result{Kind: kindDeployment, Name: name, Action: planDeployment(want, live), Replicas: ptr.Deref(want.Spec.Replicas, 1), DryRun: true}, nil
	}
	if err := fence(ctx, d.Namespace); err != nil {
		if lost := lockLost(ctx, err); lost != nil {
			return Result{}, &FailedError{Kind: kindDeployment, Name: name, Err: lost}
		}
		return Result{}, err
	}
	applied, err := ForceApply(ctx, deployments, name, obj.Object, o.DryRun)
	if err != nil {
		return Result{}, fmt.Errorf("cannot apply Deployment %q: %w", name, err)
	}
	action := ActionCreated
	if live != nil {
		// Annotations are not compared: every deploy records itself in them
		// (and they bump a Deployment's generation), but they change no pod.
		switch {
		case equality.Semantic.DeepEqual(applied.Spec, live.Spec) && maps.Equal(applied.Labels, live.Labels):
			action = ActionUnchanged
		case equality.Semantic.DeepEqual(applied.Spec.Template, live.Spec.Template):
			action = ActionUpdated
		default:
			action = ActionRolledOut
		}
	}
	desired := ptr.Deref(applied.Spec.Replicas, 1)
	if o.DryRun == DryRunServer {
		return Result{Kind: kindDeployment, Name: name, Action: action, Replicas: desired, DryRun: true}, nil
	}
	d.emit(name, Event{Type: EventStarted, Desired: desired, Message: fmt.Sprintf("applied Deployment %s (%s): %s", name, imagesOf(&applied.Spec.Template), action)})
	if notice != "" {
		d.emit(name, Event{Type: EventNotice, Message: notice})
	}
	if action == ActionUnchanged {
		d.emit(name, Event{Type: EventDone, Desired: desired, Updated: applied.Status.UpdatedReplicas, Ready: applied.Status.AvailableReplicas, Message: fmt.Sprintf("%s unchanged", name)})
		return Result{Kind: kindDeployment, Name: name, Action: action, Replicas: applied.Status.AvailableReplicas, Record: rec}, nil
	}
	if err := d.wait(ctx, applied, o); err != nil {
		if lost := lockLost(ctx, err); lost != nil {
			return Result{}, &FailedError{Kind: kindDeployment, Name: name, Err: lost}
		}
		// The viewer's own failure is the Deployment's progress deadline.
		if ctx.Err() != nil || live == nil || o.NoRollback || !(rollbackWorthy(err) || errors.Is(err, errDeadlineExceeded)) {
			return Result{}, &FailedError{Kind: kindDeployment, Name: name, Err: err}
		}
		d.emit(name, Event{Type: EventFailed, Message: err.Error()})
		if _, rbErr := d.rollback(ctx, name, o); rbErr != nil {
			return Result{}, &FailedError{Kind: kindDeployment, Name: name, Err: fmt.Errorf("%w; rolling back failed too: %w", err, rbErr)}
		}
		return Result{}, &FailedError{Kind: kindDeployment, Name: name, RolledBack: true, Err: err}
	}
	d.emit(name, Event{Type: EventDone, Desired: desired, Updated: desired, Ready: desired, Message: fmt.Sprintf("%s %s", name, action)})
	return Result{Kind: kindDeployment, Name: name, Action: action, Replicas: desired, Record: rec}, nil
}

// Rollback returns the named Deployment to its previous revision and waits
// until that is rolled out.
func (d *Deployments) Rollback(ctx context.Context, name string, o Options) (Result, error) {
	if o.DryRun != DryRunNone {
		if _, err := d.Client.AppsV1().Deployments(d.Namespace).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return Result{}, fmt.Errorf("cannot read Deployment %q in namespace %q: %w", name, d.Namespace, err)
		}
		return Result{Kind: kindDeployment, Name: name, Action: ActionRolledBack, DryRun: true}, nil
	}
	dep, err := d.rollback(ctx, name, o)
	if err != nil {
		return Result{}, &FailedError{Kind: kindDeployment, Name: name, Err: err}
	}
	res := Result{Kind: kindDeployment, Name: name, Action: ActionRolledBack, Replicas: ptr.Deref(dep.Spec.Replicas, 1)}
	if o.Record != nil {
		// The rollback is a deploy of the previous revision: it is recorded
		// on the Deployment like any other.
		r := recordOf(o.Record, &dep.Spec.Template)
		annotations := r.Annotations()
		// As for a ReplicationController, the image rolled back to is pinned.
		annotations[audit.RequestedImage] = r.Image
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
		if err != nil {
			return Result{}, err
		}
		if _, err := d.Client.AppsV1().Deployments(d.Namespace).Patch(ctx, name, types.MergePatchType, patch, DryRunNone.PatchOptions()); err != nil {
			return Result{}, fmt.Errorf("cannot record the rollback on Deployment %q: %w", name, err)
		}
		res.Record = r
	}
	return res, nil
}

func (d *Deployments) rollback(ctx context.Context, name string, o Options) (*appsv1.Deployment, error) {
	dep, err := d.Client.AppsV1().Deployments(d.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("cannot read Deployment %q in namespace %q: %w", name, d.Namespace, err)
	}
	d.emit(name, Event{Type: EventRollingBack, Desired: ptr.Deref(dep.Spec.Replicas, 1), Message: fmt.Sprintf("rolling %s back to its previous revision", name)})
	rb, err := polymorphichelpers.RollbackerFor(deploymentGK, d.Client)
	if err != nil {
		return nil, err
	}
	msg, err := rb.Rollback(dep, nil, 0, cmdutil.DryRunNone)
	if err != nil {
		return nil, fmt.Errorf("cannot roll back Deployment %q: %w", name, err)
	}
	d.emit(name, Event{Type: EventStep, Message: msg})
	dep, err = d.Client.AppsV1().Deployments(d.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	if err := d.wait(ctx, dep, o); err != nil {
		return nil, err
	}
	d.emit(name, Event{Type: EventRolledBack, Desired: ptr.Deref(dep.Spec.Replicas, 1), Message: fmt.Sprintf("rolled %s back to its previous revision", name)})
	return dep, nil
}

// planDeployment guesses, without the server, what applying want would do.
func planDeployment(want, live *appsv1.Deployment) Action {
	switch {
	case live == nil:
		return ActionCreated
	case !equality.Semantic.DeepDerivative(want.Spec.Template, live.Spec.Template):
		return ActionRolledOut
	case want.Spec.Replicas != nil && *want.Spec.Replicas != ptr.Deref(live.Spec.Replicas, 1):
		return ActionUpdated
	case !equality.Semantic.DeepDerivative(want.Labels, live.Labels):
		return ActionUpdated
	}
	return ActionUnchanged
}

// applyStrategy writes the requested rolling update settings into the
// Deployment, and maxSurge 0 when its pods declare a hostPort.
func applyStrategy(obj *unstructured.Unstructured, o Options) (string, error) {
	dep := &appsv1.Deployment{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, dep); err != nil {
		return "", fmt.Errorf("Deployment %q is malformed: %w", obj.GetName(), err)
	}
	recreate := dep.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType
	if recreate {
		if o.MaxSurge != nil || o.MaxUnavailable != nil {
			return "", fmt.Errorf("Deployment %q uses the Recreate strategy, which has no max surge or max unavailable: drop the flags or use RollingUpdate", obj.GetName())
		}
	}
	if o.MinReadySeconds > 0 {
		if err := unstructured.SetNestedField(obj.Object, int64(o.MinReadySeconds), "spec", "minReadySeconds"); err != nil {
			return "", err
		}
	}
	if recreate {
		return "", nil
	}
	surge, unavailable := DefaultMaxSurge, DefaultMaxUnavailable
	if ru := dep.Spec.Strategy.RollingUpdate; ru != nil {
		surge = ptr.Deref(ru.MaxSurge, surge)
		unavailable = ptr.Deref(ru.MaxUnavailable, unavailable)
	}
	surge = ptr.Deref(o.MaxSurge, surge)
	unavailable = ptr.Deref(o.MaxUnavailable, unavailable)
	var notice string
	if hp := templateHostPort(&dep.Spec.Template); hp != 0 {
		f, err := resolveFenceposts(surge, unavailable, ptr.Deref(dep.Spec.Replicas, 1), hp)
		if err != nil {
			return "", fmt.Errorf("Deployment %q: %w", obj.GetName(), err)
		}
		notice = f.notice
		surge = intstr.FromInt32(0)
	} else if err := ValidateStrategy(surge, unavailable); err != nil {
		return "", fmt.Errorf("Deployment %q: %w", obj.GetName(), err)
	}
	if o.MaxSurge == nil && o.MaxUnavailable == nil && notice == "" {
		return "", nil
	}
	for field, v := range map[string]intstr.IntOrString{"maxSurge": surge, "maxUnavailable": unavailable} {
		var val any = int64(v.IntValue())
		if v.Type == intstr.String {
			val = v.StrVal
		}
		if err := unstructured.SetNestedField(obj.Object, val, "spec", "strategy", "rollingUpdate", field); err != nil {
			return "", err
		}
	}
	if err := unstructured.SetNestedField(obj.Object, string(appsv1.RollingUpdateDeploymentStrategyType), "spec", "strategy", "type"); err != nil {
		return "", err
	}
	return notice, nil
}

// wait watches the Deployment, its ReplicaSets and pods until kubectl's
// status viewer says the rollout is complete, failing fast when a new pod
// cannot start and when nothing improves for the timeout.
func (d *Deployments) wait(ctx context.Context, dep *appsv1.Deployment, o Options) error {
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return fmt.Errorf("Deployment %q has an invalid selector: %w", dep.Name, err)
	}
	w := watcher.New(d.Client)
	deps := w.Deployments(d.Namespace, dep.Name)
	rss := w.ReplicaSets(d.Namespace, sel)
	pods := w.Pods(d.Namespace, sel)
	w.OnConnection(func(o watcher.Outage) { d.emit(dep.Name, connectionEvent(o)) })
	if err := w.Start(ctx); err != nil {
		return fmt.Errorf("cannot watch Deployment %q: %w", dep.Name, err)
	}
	defer w.Stop()
	viewer, err := polymorphichelpers.StatusViewerFor(deploymentGK)
	if err != nil {
		return err
	}

	timeout := o.timeout()
	progressAt := time.Now()
	var shown Event
	for {
		if err := w.Failed(); err != nil {
			return fmt.Errorf("lost the watch on Deployment %q: %w", dep.Name, err)
		}
		now := time.Now()
		cur, err := deps.Get(dep.Name)
		if err != nil || cur.UID != dep.UID || cur.Generation < dep.Generation {
			if apierrors.IsNotFound(err) && now.Sub(progressAt) > timeout {
				return fmt.Errorf("Deployment %q was deleted during the rollout", dep.Name)
			}
			if err := w.Wait(ctx, now.Add(timeout)); err != nil {
				return err
			}
			continue
		}
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(cur)
		if err != nil {
			return err
		}
		msg, done, err := viewer.Status(&unstructured.Unstructured{Object: u}, 0)
		if err != nil {
			return fmt.Errorf("%w: %w", errDeadlineExceeded, err)
		}
		newPods := newReplicaSetPods(cur, rss, pods)
		leaving := anyLeaving(newPods)
		for _, p := range newPods {
			if f := podFailure(p, leaving); f != nil {
				return f
			}
		}
		desired := ptr.Deref(cur.Spec.Replicas, 1)
		ev := Event{Type: EventProgress, Desired: desired, Updated: cur.Status.UpdatedReplicas, Ready: min(cur.Status.AvailableReplicas, cur.Status.UpdatedReplicas), Serving: cur.Status.AvailableReplicas, Old: max(0, cur.Status.Replicas-cur.Status.UpdatedReplicas)}
		if ev.Desired != shown.Desired || ev.Updated != shown.Updated || ev.Ready != shown.Ready || ev.Old != shown.Old {
			ev.Message = strings.TrimSpace(msg)
			d.emit(dep.Name, ev)
			shown = ev
			progressAt = now
		}
		if done {
			return nil
		}
		deadline := progressAt.Add(timeout)
		if !now.Before(deadline) {
			return fmt.Errorf("%w for %s: %s", ErrNoProgress, timeout, strings.TrimSpace(msg))
		}
		if err := w.Wait(ctx, deadline); err != nil {
			return err
		}
	}
}

// newReplicaSetPods returns the pods of the Deployment's current revision.
func newReplicaSetPods(dep *appsv1.Deployment, rss appslisters.ReplicaSetNamespaceLister, pods corelisters.PodNamespaceLister) []*corev1.Pod {
	if dep.Status.ObservedGeneration < dep.Generation {
		return nil
	}
	rev := dep.Annotations[deploymentutil.RevisionAnnotation]
	all, err := rss.List(labels.Everything())
	if err != nil {
		return nil
	}
	for _, rs := range all {
		ref := metav1.GetControllerOf(rs)
		if ref == nil || ref.UID != dep.UID || rs.Annotations[deploymentutil.RevisionAnnotation] != rev {
			continue
		}
		return controlledPods(pods, rs.UID)
	}
	return nil
}
