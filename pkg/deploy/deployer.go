package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/envops/kubectl-envops/pkg/applyset"
	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/drift"
	"github.com/envops/kubectl-envops/pkg/environment"
	"github.com/envops/kubectl-envops/pkg/rbac"
	"github.com/envops/kubectl-envops/pkg/rollout"
)

// Request is one app's deploy: its rendered objects and how to roll them.
type Request struct {
	App  string
	Plan *Plan
	// Image is the image asked for with --image ("" for the overlay's). It
	// is recorded on the controllers, so that status compares the cluster
	// with the overlay rendered as it was deployed.
	Image string
	// Options tune every controller's rollout.
	Options rollout.Options
	// Rollback returns each controller to its previous template instead
	// of deploying; the other objects are left alone.
	Rollback bool
	// Prune deletes, after a successful rollout, the objects of the app's
	// set that the overlay no longer renders.
	Prune bool
	// Cause is the change cause recorded on the controllers.
	Cause string
}

// Deployer deploys apps to one resolved target. Deploy may be called for
// several apps at once.
type Deployer struct {
	Target *environment.Target
	// Tooling is "kubectl-envops/VERSION", recorded on each app's set.
	Tooling string
	// CreateNamespaces creates the namespaces objects name that do not
	// exist, with the environment Secret, once the target's own namespace
	// declares the environment.
	CreateNamespaces bool
	// Guard checks access in a namespace and says who the user is; nil
	// uses the deploy role's guard.
	Guard func(ctx context.Context, namespace string, allNamespaces bool) (string, error)
	// Confirm is asked once, before the first change of a deploy that is
	// not a dry run; nil asks nothing.
	Confirm func() error
	// Events receives every controller's progress, App set.
	Events rollout.EventFunc
	// Done receives each object's result as it is reached.
	Done func(app string, r ObjectResult)
	// Warn receives what went wrong without failing the deploy (a lock
	// not released, a lock taken over, a deploy Event not recorded).
	Warn func(app string, err error)
	// Dynamic and Mapper reach objects of any kind; nil builds them from
	// the target.
	Dynamic dynamic.Interface
	Mapper  meta.RESTMapper

	confirm struct {
		sync.Once
		err error
	}
	clients struct {
		sync.Once
		dyn    dynamic.Interface
		mapper meta.RESTMapper
		err    error
	}
	// client and dyn replace the target's clients when a deploy of several
	// apps gave every app its own share of requests (widen).
	client  kubernetes.Interface
	dyn     dynamic.Interface
	checked memo[struct{}]
	allowed memo[string]
	// guardFn is the access guard shared by every app; it asks who the
	// user is once, and is not safe for concurrent use, hence guardMu.
	guardOnce sync.Once
	guardFn   func(ctx context.Context, namespace string, allNamespaces bool) (string, error)
	guardMu   sync.Mutex
}

// ObjectResult is what a deploy did, or would do, to one object.
type ObjectResult struct {
	rollout.Result
	APIVersion string
	Namespace  string
}

// ActionPruned is the action of a member of an app's set deleted because
// the overlay no longer renders it.
const ActionPruned rollout.Action = "pruned"

// Outcome is what a deploy did to one app as a whole.
type Outcome string

// Outcomes of an app.
const (
	// OutcomeUnchanged: the cluster already runs what the overlay renders;
	// nothing was written.
	OutcomeUnchanged Outcome = "unchanged"
	// OutcomeDeployed: objects were created or updated and every
	// controller reached its desired state.
	OutcomeDeployed Outcome = "deployed"
	// OutcomeRolledBack: --rollback restored the previous templates.
	OutcomeRolledBack Outcome = "rolled back"
	// OutcomePaused: an update stopped at its canary, as asked.
	OutcomePaused Outcome = "paused"
	// OutcomeFailed: the deploy failed; Err says why, and whether the
	// update was rolled back or left in place.
	OutcomeFailed Outcome = "failed"
	// OutcomeNotStarted: the app was not deployed because an app it needs
	// failed, or the deploy stopped first.
	OutcomeNotStarted Outcome = "not started"
)

// Result is the outcome of one app's deploy.
type Result struct {
	App     string
	Outcome Outcome
	// Image is the image of the app's first controller as deployed.
	Image    string
	Started  time.Time
	Finished time.Time
	Objects  []ObjectResult
	// DryRun is set when nothing was changed on purpose; Sent are then the
	// objects the deploy would send, as it would send them.
	DryRun bool
	Sent   []*unstructured.Unstructured
	Err    error
}

// Duration is how long the app's deploy took.
func (r *Result) Duration() time.Duration {
	if r.Started.IsZero() || r.Finished.IsZero() {
		return 0
	}
	return r.Finished.Sub(r.Started)
}

// Namespaces lists every namespace a deploy of p could touch, sorted: the
// namespaces objects name, and the target's for those naming none.
func (d *Deployer) Namespaces(p *Plan) []string {
	seen := map[string]bool{}
	for _, obj := range p.all() {
		seen[d.namespaceOf(obj)] = true
	}
	if len(seen) == 0 {
		seen[d.Target.Namespace] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

func (d *Deployer) namespaceOf(obj *unstructured.Unstructured) string {
	if ns := obj.GetNamespace(); ns != "" {
		return ns
	}
	return d.Target.Namespace
}

func (d *Deployer) warn(app string, err error) {
	if d.Warn != nil {
		d.Warn(app, err)
	}
}

func (d *Deployer) events(app string) rollout.EventFunc {
	return func(e rollout.Event) {
		if d.Events != nil {
			e.App = app
			d.Events(e)
		}
	}
}

func (d *Deployer) done(app string, res *Result, obj *unstructured.Unstructured, r rollout.Result, ns string) {
	or := ObjectResult{Result: r, APIVersion: obj.GetAPIVersion(), Namespace: ns}
	res.Objects = append(res.Objects, or)
	if d.Done != nil {
		d.Done(app, or)
	}
}

// dynamicClients are the dynamic client and mapper of the target, built
// once for every app.
func (d *Deployer) dynamicClients() (dynamic.Interface, meta.RESTMapper, error) {
	d.clients.Do(func() {
		d.clients.dyn, d.clients.mapper = d.Dynamic, d.Mapper
		if d.clients.dyn == nil {
			if d.clients.dyn, d.clients.err = d.Target.Dynamic(); d.clients.err != nil {
				return
			}
		}
		if d.clients.mapper == nil {
			d.clients.mapper, d.clients.err = d.Target.Mapper()
		}
	})
	if d.dyn != nil && d.clients.err == nil {
		return d.dyn, d.clients.mapper, nil
	}
	return d.clients.dyn, d.clients.mapper, d.clients.err
}

func (d *Deployer) applier() (*rollout.ServerSideApplier, error) {
	dyn, mapper, err := d.dynamicClients()
	if err != nil {
		return nil, err
	}
	return &rollout.ServerSideApplier{Dynamic: dyn, Mapper: mapper, Namespace: d.Target.Namespace}, nil
}

func (d *Deployer) guard() func(ctx context.Context, namespace string, allNamespaces bool) (string, error) {
	if d.Guard != nil {
		return d.Guard
	}
	return rbac.NewGuard(d.kube(), rbac.Deploy).Check
}

// askConfirmation asks once for the deploy of every app.
func (d *Deployer) askConfirmation() error {
	d.confirm.Do(func() {
		if d.Confirm != nil {
			d.confirm.err = d.Confirm()
		}
	})
	return d.confirm.err
}

// Deploy deploys one app: it checks that every namespace the app touches
// declares the target's environment and that the user may deploy there,
// reports an app whose objects already match as unchanged without a
// write, and otherwise takes the app's deploy lock, applies its objects,
// rolls its controllers, prunes what left its set and records the deploy.
func (d *Deployer) Deploy(ctx context.Context, req Request) *Result {
	res := &Result{App: req.App, Started: time.Now(), DryRun: req.Options.DryRun != rollout.DryRunNone}
	err := d.deploy(ctx, req, res)
	res.Finished = time.Now()
	res.Err = err
	switch {
	case err != nil && errors.Is(err, errNotStarted):
		res.Outcome = OutcomeNotStarted
	case err != nil:
		res.Outcome = OutcomeFailed
	case res.Outcome == "":
		res.Outcome = OutcomeDeployed
	}
	return res
}

// errNotStarted marks a deploy that stopped before changing anything
// because the deploy of several apps was asked to stop.
var errNotStarted = errors.New("not started")

func (d *Deployer) deploy(ctx context.Context, req Request, res *Result) error {
	p, o := req.Plan, req.Options
	dryRun := o.DryRun != rollout.DryRunNone
	// The image the deploy is for, until a controller says what it runs.
	res.Image = imageOf(p.Controllers)
	namespaces := d.Namespaces(p)
	// The environment and access checks run before anything else touches
	// the cluster.
	checkCtx, cancel := checkTimeout(ctx, o.Timeout)
	defer cancel()
	if err := d.checkNamespaces(checkCtx, namespaces, dryRun); err != nil {
		return err
	}
	cancel()

	set := applyset.Set{App: req.App, Namespace: d.Target.Namespace}
	marked := p
	if !req.Rollback {
		marked = Mark(p, set, req.Image)
	}
	// write holds the objects the deploy writes: those already as the
	// overlay renders them are left alone, so that a deploy changes what
	// changed and nothing else.
	write := marked
	var inSync []drift.Object
	if !req.Rollback && !o.Continue {
		st, err := d.standing(ctx, req, set, marked)
		if err != nil {
			return err
		}
		write, inSync = st.split(marked)
		if st.unchanged() {
			res.Outcome, res.Image = OutcomeUnchanged, imageOf(marked.Controllers)
			d.unchanged(req.App, res, inSync, dryRun)
			return nil
		}
	}
	if ctx.Err() != nil {
		return errNotStarted
	}
	// Access is checked once the deploy is known to write: an app already
	// as its overlay renders needs no write access to say so.
	record := audit.Record{Environment: d.Target.Env, Cause: req.Cause}
	if o.DryRun != rollout.DryRunClient {
		accessCtx, cancel := checkTimeout(ctx, o.Timeout)
		user, err := d.access(accessCtx, namespaces)
		cancel()
		if err != nil {
			return err
		}
		record.User = user
	}
	if !dryRun {
		if err := d.askConfirmation(); err != nil {
			return err
		}
		lctx, release, err := d.lock(ctx, req, marked)
		if err != nil {
			return err
		}
		defer release()
		ctx = lctx
	}
	record.Time = time.Now()
	o.Holder = record.User
	// The objects sent show the record; the updater writes it, with the
	// image each controller then runs, on every path: deploy, continue,
	// resume and rollback alike.
	audit.StampControllers(marked.Controllers, record)
	o.Record = &record
	if dryRun {
		res.Sent = d.sent(write)
	}
	d.unchanged(req.App, res, inSync, dryRun)
	if !req.Rollback {
		if err := d.beginSet(ctx, set, marked, o.DryRun); err != nil {
			return err
		}
		if err := d.applyOthers(ctx, req, write, res); err != nil {
			return err
		}
	}
	paused := false
	type written struct {
		obj    *unstructured.Unstructured
		ns     string
		record audit.Record
	}
	var records []written
	for _, obj := range write.Controllers {
		ns := d.namespaceOf(obj)
		c := kindOf(obj, d.kube(), ns, req.App, d.events(req.App))
		if !req.Rollback {
			if err := refuseOther(ctx, c, obj, ns); err != nil {
				return err
			}
		}
		var r rollout.Result
		var err error
		switch {
		case req.Rollback:
			r, err = c.rollback(ctx, obj.GetName(), o)
		case o.Continue:
			r, err = c.resume(ctx, obj.GetName(), o)
		default:
			r, err = c.deploy(ctx, obj, o)
		}
		if err != nil {
			return interrupted(ctx, obj, err)
		}
		paused = paused || r.Paused
		d.done(req.App, res, obj, r, ns)
		if r.Record != nil {
			records = append(records, written{obj, ns, *r.Record})
			if len(records) == 1 {
				res.Image = r.Record.Image
			}
		}
	}
	switch {
	case paused:
		res.Outcome = OutcomePaused
	case req.Rollback:
		res.Outcome = OutcomeRolledBack
	}
	if !req.Rollback && !paused {
		if req.Prune {
			if err := d.prune(ctx, req.App, res, o.DryRun, set, marked); err != nil {
				return err
			}
		}
		if err := d.finishSet(ctx, set, marked, req.Prune, o.DryRun); err != nil {
			d.warn(req.App, err)
		}
	}
	// Each controller written is recorded as an Event too, so that history
	// keeps the deploy after a later one overwrites the annotations.
	for _, w := range records {
		if dryRun {
			break
		}
		ref := w.obj.DeepCopy()
		ref.SetNamespace(w.ns)
		if err := audit.RecordDeploy(ctx, d.kube(), req.App, w.obj.GetKind(), ref, w.record); err != nil {
			d.warn(req.App, err)
		}
	}
	return nil
}

// unchanged reports the objects that are already as the overlay renders
// them, with the replicas of the controllers among them.
func (d *Deployer) unchanged(app string, res *Result, objs []drift.Object, dryRun bool) {
	for _, o := range objs {
		r := rollout.Result{Kind: o.Kind, Name: o.Name, Action: rollout.ActionUnchanged, DryRun: dryRun}
		if o.Live != nil {
			if n, found, _ := unstructured.NestedInt64(o.Live.Object, "spec", "replicas"); found {
				r.Replicas = int32(n)
			}
		}
		d.done(app, res, o.Want, r, o.Namespace)
	}
}

// sent is the plan's objects as a deploy sends them, each in its namespace.
func (d *Deployer) sent(p *Plan) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, 0, len(p.Others)+len(p.Controllers))
	for _, obj := range p.all() {
		c := obj.DeepCopy()
		c.SetNamespace(d.namespaceOf(obj))
		out = append(out, c)
	}
	return out
}

// applyOthers applies the objects that are not controllers, before the
// controllers that may use them.
func (d *Deployer) applyOthers(ctx context.Context, req Request, p *Plan, res *Result) error {
	if len(p.Others) == 0 {
		return nil
	}
	a, err := d.applier()
	if err != nil {
		return err
	}
	for _, obj := range p.Others {
		action, err := a.Apply(ctx, obj, req.Options.DryRun)
		if err != nil {
			return err
		}
		ns, _ := a.Namespaced(obj)
		d.done(req.App, res, obj, rollout.Result{Kind: obj.GetKind(), Name: obj.GetName(), Action: action, DryRun: req.Options.DryRun != rollout.DryRunNone}, ns)
	}
	return nil
}

// lock takes the app's deploy lock (a Lease) in every namespace its
// controllers go to, so that one deploy of the app runs at a time; the
// returned context ends when another deploy takes a lock over.
func (d *Deployer) lock(ctx context.Context, req Request, p *Plan) (context.Context, func(), error) {
	seen := map[string]bool{}
	var held []*rollout.DeployLock
	release := func() {
		for _, l := range held {
			if err := l.Release(context.WithoutCancel(ctx)); err != nil {
				d.warn(req.App, err)
			}
		}
	}
	for _, obj := range p.Controllers {
		ns := d.namespaceOf(obj)
		if seen[ns] {
			continue
		}
		seen[ns] = true
		l, lctx, err := rollout.AcquireDeployLock(ctx, d.kube(), ns, req.App, req.Options.Holder, req.Options.BreakLock)
		if err != nil {
			release()
			return ctx, nil, err
		}
		held, ctx = append(held, l), lctx
		if by, why := l.TakenOver(); by != nil {
			d.warn(req.App, fmt.Errorf("took over the deploy lock of %s in namespace %q held by %s (%s)", req.App, ns, by.Holder, why))
		}
	}
	return ctx, release, nil
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

// ResultEvent is r as the event that closes the deploy of its object;
// suffix ends the message (a dry run says so).
func ResultEvent(app string, r ObjectResult, suffix string) rollout.Event {
	return rollout.Event{Time: time.Now(), Type: EventResult, App: app, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name, Message: string(r.Action) + suffix, Desired: r.Replicas, Ready: r.Replicas}
}

// imageOf is the image of the first container of the first controller.
func imageOf(controllers []*unstructured.Unstructured) string {
	for _, obj := range controllers {
		containers, _, _ := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", "containers")
		for _, c := range containers {
			if m, ok := c.(map[string]any); ok {
				if image, ok := m["image"].(string); ok {
					return image
				}
			}
		}
	}
	return ""
}
