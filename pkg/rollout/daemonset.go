package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/polymorphichelpers"

	"github.com/envops/kubectl-envops/pkg/kube/watcher"
	"github.com/envops/kubectl-envops/pkg/text"
)

const kindDaemonSet = "DaemonSet"

// DaemonSets applies DaemonSets of one namespace with server-side apply
// and waits, as "kubectl rollout status" does, until every node they
// should cover runs an available pod of their latest template.
type DaemonSets struct {
	Client    kubernetes.Interface
	Namespace string
	// Events receives every step; nil discards them.
	Events EventFunc
}

func (d *DaemonSets) emit(name string, e Event) {
	if d.Events == nil {
		return
	}
	e.Time, e.Kind, e.Namespace, e.Name = time.Now(), kindDaemonSet, d.Namespace, name
	d.Events(e)
}

// ErrDaemonSetRollback is returned by Rollback: a DaemonSet keeps its
// history in ControllerRevisions, which "kubectl rollout undo" restores.
var ErrDaemonSetRollback = errors.New("a DaemonSet is rolled back with \"kubectl rollout undo daemonset\"")

// Deploy applies obj, a DaemonSet, and waits for its pods; a dry run only
// applies it as such. o.Record, when set, is written on it with the image
// of its first container.
func (d *DaemonSets) Deploy(ctx context.Context, obj *unstructured.Unstructured, o Options) (Result, error) {
	name := obj.GetName()
	obj = obj.DeepCopy()
	obj.SetNamespace(d.Namespace)
	want := &appsv1.DaemonSet{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, want); err != nil {
		return Result{}, fmt.Errorf("DaemonSet %q is malformed: %w", name, err)
	}
	rec := recordOf(o.Record, &want.Spec.Template)
	if rec != nil {
		rec.Stamp(obj)
	}
	client := d.Client.AppsV1().DaemonSets(d.Namespace)
	live, err := client.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		live, err = nil, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("cannot read DaemonSet %q in namespace %q: %w", name, d.Namespace, err)
	}
	action := ActionCreated
	if live != nil {
		action = ActionUpdated
	}
	if o.DryRun == DryRunClient {
		return Result{Kind: kindDaemonSet, Name: name, Action: action, DryRun: true}, nil
	}
	if err := fence(ctx, d.Namespace); err != nil {
		return Result{}, err
	}
	out, err := ForceApply(ctx, client, name, withoutStatus(obj).Object, o.DryRun)
	if err != nil {
		return Result{}, fmt.Errorf("cannot apply DaemonSet %q in namespace %q: %w", name, d.Namespace, err)
	}
	if live != nil && out.ResourceVersion == live.ResourceVersion {
		action = ActionUnchanged
	}
	if o.DryRun != DryRunNone {
		return Result{Kind: kindDaemonSet, Name: name, Action: action, DryRun: true}, nil
	}
	d.emit(name, Event{Type: EventStarted, Message: fmt.Sprintf("applied DaemonSet %s (%s): %s", name, imagesOf(&out.Spec.Template), action)})
	if err := d.wait(ctx, out, o.timeout()); err != nil {
		return Result{}, &FailedError{Kind: kindDaemonSet, Name: name, Err: err}
	}
	ready := out.Status.DesiredNumberScheduled
	if cur, err := client.Get(ctx, name, metav1.GetOptions{}); err == nil {
		ready = cur.Status.NumberAvailable
	}
	d.emit(name, Event{Type: EventDone, Desired: ready, Updated: ready, Ready: ready, Serving: ready, Message: fmt.Sprintf("%s runs %s of %s", name, text.Count(ready, "ready pod"), imagesOf(&out.Spec.Template))})
	return Result{Kind: kindDaemonSet, Name: name, Action: action, Replicas: ready, Record: rec}, nil
}

// Rollback is refused: see ErrDaemonSetRollback.
func (d *DaemonSets) Rollback(context.Context, string, Options) (Result, error) {
	return Result{}, ErrDaemonSetRollback
}

// Preview returns the DaemonSet as it is now (nil when missing) and as
// applying obj would leave it, computed by the server without persisting.
func (d *DaemonSets) Preview(ctx context.Context, obj *unstructured.Unstructured, o Options) (live, merged runtime.Object, err error) {
	obj = obj.DeepCopy()
	obj.SetNamespace(d.Namespace)
	client := d.Client.AppsV1().DaemonSets(d.Namespace)
	l, err := client.Get(ctx, obj.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, nil, fmt.Errorf("cannot read DaemonSet %q in namespace %q: %w", obj.GetName(), d.Namespace, err)
	default:
		live = typed(l, "apps/v1", kindDaemonSet)
	}
	m, err := ForceApply(ctx, client, obj.GetName(), withoutStatus(obj).Object, DryRunServer)
	if err != nil {
		return nil, nil, fmt.Errorf("the server rejected DaemonSet %q: %w", obj.GetName(), err)
	}
	return live, typed(m, "apps/v1", kindDaemonSet), nil
}

// wait watches the DaemonSet until kubectl's status viewer says it is
// rolled out, for at most timeout.
func (d *DaemonSets) wait(ctx context.Context, ds *appsv1.DaemonSet, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	w := watcher.New(d.Client)
	daemonSets := w.DaemonSets(ds.Namespace, ds.Name)
	if err := w.Start(wctx); err != nil {
		return err
	}
	defer w.Stop()
	viewer := &polymorphichelpers.DaemonSetStatusViewer{}
	var shown string
	for {
		if err := w.Failed(); err != nil {
			return err
		}
		cur, err := daemonSets.Get(ds.Name)
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("DaemonSet %q was deleted while its pods were starting", ds.Name)
		}
		if err != nil {
			return err
		}
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(cur)
		if err != nil {
			return err
		}
		msg, done, err := viewer.Status(&unstructured.Unstructured{Object: u}, 0)
		if done || err != nil {
			return err
		}
		if msg != shown {
			shown = msg
			s := cur.Status
			d.emit(ds.Name, Event{Type: EventProgress, Desired: s.DesiredNumberScheduled, Updated: s.UpdatedNumberScheduled, Ready: s.NumberAvailable, Serving: s.NumberAvailable, Message: strings.Join(strings.Fields(msg), " ")})
		}
		if err := w.Wait(wctx, time.Time{}); err != nil {
			if wctx.Err() != nil && ctx.Err() == nil {
				return fmt.Errorf("timed out after %s waiting for the pods of daemonset.apps/%s: %d of %d nodes have an available pod of its latest template", timeout, ds.Name, cur.Status.NumberAvailable, cur.Status.DesiredNumberScheduled)
			}
			return err
		}
	}
}
