package deploy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/envops/kubectl-envops/pkg/rollout"
)

// Deployer deploys the plan of one app to one cluster.
type Deployer struct {
	App    string
	Client kubernetes.Interface
	// Namespace is where objects that name none go.
	Namespace string
	// Options tune every controller's rollout; Options.Holder is filled
	// in from Trail when it is left empty.
	Options rollout.Options
	// Rollback returns each controller to its previous template instead
	// of deploying; the other objects are left alone.
	Rollback bool
	// Applier applies the objects that are not controllers; it may be nil
	// when there are none or with Rollback.
	Applier *rollout.ServerSideApplier
	// Trail checks access and keeps the audit record; nil does neither.
	Trail *Trail
	// Events receives the progress of every controller.
	Events rollout.EventFunc
	// Warn receives what went wrong without failing the deploy (a lock
	// not released, a lock taken over, a deploy Event not recorded).
	Warn func(error)
}

// NamespaceOf is where obj goes: its own namespace, else the Deployer's.
func (d *Deployer) NamespaceOf(obj *unstructured.Unstructured) string {
	if ns := obj.GetNamespace(); ns != "" {
		return ns
	}
	return d.Namespace
}

// Namespaces lists every namespace the deploy could touch: the namespaces
// objects name, and the Deployer's for those naming none.
func (d *Deployer) Namespaces(p *Plan) []string {
	seen := map[string]bool{}
	for _, obj := range append(append([]*unstructured.Unstructured{}, p.Controllers...), p.Others...) {
		seen[d.NamespaceOf(obj)] = true
	}
	if len(seen) == 0 {
		seen[d.Namespace] = true
	}
	out := make([]string, 0, len(seen))
	for ns := range seen {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

func (d *Deployer) warn(err error) {
	if d.Warn != nil {
		d.Warn(err)
	}
}

// holder is the user named in the deploy lock.
func (d *Deployer) holder() string {
	if d.Options.Holder == "" && d.Trail != nil {
		return d.Trail.Record.User
	}
	return d.Options.Holder
}

// Prepare runs before anything changes: it verifies that each namespace
// the plan touches declares the environment (verify), then checks access
// and stamps the audit record on the controllers; a preview (a diff) only
// stamps it.
func (d *Deployer) Prepare(ctx context.Context, p *Plan, verify func(ctx context.Context, namespace string) error, preview bool) error {
	namespaces := d.Namespaces(p)
	for _, ns := range namespaces {
		if err := verify(ctx, ns); err != nil {
			return err
		}
	}
	if preview {
		return d.Trail.preview(ctx, p.Controllers)
	}
	return d.Trail.check(ctx, namespaces, d.Options.DryRun, p.Controllers)
}

// lock takes the app's deploy lock (a Lease) in every namespace its
// controllers go to, so that one deploy of the app runs at a time; the
// returned context ends when another deploy takes a lock over.
func (d *Deployer) lock(ctx context.Context, p *Plan) (context.Context, func(), error) {
	seen := map[string]bool{}
	var held []*rollout.DeployLock
	release := func() {
		for _, l := range held {
			if err := l.Release(context.WithoutCancel(ctx)); err != nil {
				d.warn(err)
			}
		}
	}
	for _, obj := range p.Controllers {
		ns := d.NamespaceOf(obj)
		if seen[ns] {
			continue
		}
		seen[ns] = true
		l, lctx, err := rollout.AcquireDeployLock(ctx, d.Client, ns, d.App, d.holder(), d.Options.BreakLock)
		if err != nil {
			release()
			return ctx, nil, err
		}
		held, ctx = append(held, l), lctx
		if by, why := l.TakenOver(); by != nil {
			d.warn(fmt.Errorf("took over the deploy lock of %s in namespace %q held by %s (%s)", d.App, ns, by.Holder, why))
		}
	}
	return ctx, release, nil
}

// Run takes the deploy lock (unless in a dry run), applies the other
// objects (unless rolling back), then deploys, rolls back or continues
// each controller in turn, calling done with each object's result and
// namespace. A deploy that changed the cluster is recorded by the Trail.
func (d *Deployer) Run(ctx context.Context, p *Plan, done func(rollout.Result, string)) error {
	o := d.Options
	o.Holder = d.holder()
	dryRun := o.DryRun != rollout.DryRunNone
	if !dryRun {
		ctx2, release, err := d.lock(ctx, p)
		if err != nil {
			return err
		}
		defer release()
		ctx = ctx2
	}
	if !d.Rollback {
		for _, obj := range p.Others {
			action, err := d.Applier.Apply(ctx, obj, o.DryRun)
			if err != nil {
				return err
			}
			ns, _ := d.Applier.Namespaced(obj)
			done(rollout.Result{Kind: obj.GetKind(), Name: obj.GetName(), Action: action, DryRun: dryRun}, ns)
		}
	}
	for _, obj := range p.Controllers {
		ns := d.NamespaceOf(obj)
		c := kindOf(obj, d.Client, ns, d.App, d.Events)
		if !d.Rollback {
			if err := refuseOther(ctx, c, obj, ns); err != nil {
				return err
			}
		}
		var res rollout.Result
		var err error
		switch {
		case d.Rollback:
			res, err = c.rollback(ctx, obj.GetName(), o)
		case o.Continue:
			res, err = c.resume(ctx, obj.GetName(), o)
		default:
			res, err = c.deploy(ctx, obj, o)
		}
		if err != nil {
			return interrupted(ctx, obj, err)
		}
		done(res, ns)
	}
	if !dryRun && !d.Rollback {
		if err := d.Trail.done(ctx, d.App, p.Controllers, d.NamespaceOf); err != nil {
			d.warn(err)
		}
	}
	return nil
}

// interrupted makes an update cut short by ctx one that a second deploy
// resumes.
func interrupted(ctx context.Context, obj *unstructured.Unstructured, err error) error {
	if ctx.Err() == nil {
		return err
	}
	var fe *rollout.FailedError
	if errors.As(err, &fe) {
		return err
	}
	return &rollout.FailedError{Kind: obj.GetKind(), Name: obj.GetName(), Err: fmt.Errorf("interrupted (%w): run deploy again to resume", err)}
}

// refuseOther stops a deploy that would start a second set of pods: a
// controller of the other kind with the same name already runs the app.
func refuseOther(ctx context.Context, c controller, obj *unstructured.Unstructured, ns string) error {
	name := obj.GetName()
	other, err := c.other(ctx, name)
	switch {
	case err == nil:
		return fmt.Errorf("a %s named %q already runs in namespace %q, and a %s beside it would run a second set of pods: deploy with --kind %s, or delete the %s first", other, name, ns, obj.GetKind(), other, other)
	case apierrors.IsNotFound(err):
		return nil
	}
	return fmt.Errorf("cannot check for a %s named %q in namespace %q: %w", other, name, ns, err)
}

// EventResult is the event that closes each object's deploy; its message
// is the action taken.
const EventResult rollout.EventType = "result"

// ResultEvent is res as the event that closes the deploy of its object in
// namespace ns; suffix ends the message (a dry run says so).
func ResultEvent(res rollout.Result, ns, suffix string) rollout.Event {
	return rollout.Event{Time: time.Now(), Type: EventResult, Kind: res.Kind, Namespace: ns, Name: res.Name, Message: string(res.Action) + suffix, Desired: res.Replicas, Ready: res.Replicas}
}

// ClientGetter is the part of kubectl's client factory NewApplier uses.
type ClientGetter interface {
	DynamicClient() (dynamic.Interface, error)
	ToRESTMapper() (meta.RESTMapper, error)
}

// NewApplier is the server-side applier of the app's other objects in
// namespace, through the factory's clients for kubeContext.
func NewApplier(f ClientGetter, kubeContext, namespace string) (*rollout.ServerSideApplier, error) {
	dyn, err := f.DynamicClient()
	if err != nil {
		return nil, fmt.Errorf("cannot create a client for context %q: %w", kubeContext, err)
	}
	mapper, err := f.ToRESTMapper()
	if err != nil {
		return nil, fmt.Errorf("cannot discover the API of context %q: %w", kubeContext, err)
	}
	return &rollout.ServerSideApplier{Dynamic: dyn, Mapper: mapper, Namespace: namespace}, nil
}
