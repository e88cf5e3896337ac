package deploy

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envops/kubectl-envops/pkg/applyset"
	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/drift"
	"github.com/envops/kubectl-envops/pkg/rollout"
)

// Mark returns a copy of p whose objects carry what a deploy records on
// them besides the overlay: membership of the app's set, the hash of the
// rendered object (drift.AnnotationApplied), and on controllers the image
// asked for. The same marks make a deploy that changes nothing compare
// equal to the cluster.
func Mark(p *Plan, set applyset.Set, image string) *Plan {
	mark := func(objs []*unstructured.Unstructured, controllers bool) []*unstructured.Unstructured {
		out := make([]*unstructured.Unstructured, 0, len(objs))
		for _, obj := range objs {
			c := obj.DeepCopy()
			a := c.GetAnnotations()
			if a == nil {
				a = map[string]string{}
			}
			if controllers {
				a[audit.RequestedImage] = image
			}
			a[drift.AnnotationApplied] = drift.Hash(obj)
			c.SetAnnotations(a)
			set.Mark(c)
			out = append(out, c)
		}
		return out
	}
	return &Plan{Controllers: mark(p.Controllers, true), Others: mark(p.Others, false)}
}

// Drift is how an app stands against the cluster: each object the deploy
// of req would send, and the members of the app's set that its overlay no
// longer renders (state drift.Extra), which the deploy would prune.
func (d *Deployer) Drift(ctx context.Context, req Request) (drift.Report, error) {
	set := applyset.Set{App: req.App, Namespace: d.Target.Namespace}
	marked := Mark(req.Plan, set, req.Image)
	req.Prune = true
	st, err := d.standing(ctx, req, set, marked)
	if err != nil {
		return drift.Report{}, err
	}
	report := st.report
	for _, m := range st.stale {
		report.Objects = append(report.Objects, drift.Object{Kind: m.GetKind(), Namespace: m.GetNamespace(), Name: m.GetName(), State: drift.Extra, Live: m})
	}
	return report, nil
}

// standing is how an app's marked objects stand against the cluster.
type standing struct {
	report drift.Report
	// parent is what the set's parent records, nil when it has none.
	parent *applyset.Parent
	// kinds is the parent the marked objects call for.
	kinds *applyset.Parent
	// stale are the set's members the overlay no longer renders.
	stale []*unstructured.Unstructured
	prune bool
}

// unchanged tells whether a deploy would write nothing: every object is in
// sync, the set records its kinds, and with prune nothing is stale.
func (s *standing) unchanged() bool {
	if !s.report.InSync() || s.parent == nil || !covers(s.parent, s.kinds) {
		return false
	}
	return !s.prune || len(s.stale) == 0
}

// split divides the marked objects into those a deploy writes and those
// already in sync, which it leaves alone.
func (s *standing) split(marked *Plan) (*Plan, []drift.Object) {
	state := map[*unstructured.Unstructured]drift.Object{}
	for _, o := range s.report.Objects {
		state[o.Want] = o
	}
	write := &Plan{}
	var inSync []drift.Object
	for _, group := range []struct {
		from []*unstructured.Unstructured
		to   *[]*unstructured.Unstructured
	}{{marked.Others, &write.Others}, {marked.Controllers, &write.Controllers}} {
		for _, obj := range group.from {
			if o, ok := state[obj]; ok && o.State == drift.InSync {
				inSync = append(inSync, o)
				continue
			}
			*group.to = append(*group.to, obj)
		}
	}
	return write, inSync
}

// covers tells whether p records every kind and namespace of q.
func covers(p, q *applyset.Parent) bool {
	u := applyset.Union(p, q)
	return len(u.Kinds) == len(p.Kinds) && len(u.Namespaces) == len(p.Namespaces)
}

// standing compares the app's marked objects with the cluster, and finds
// the members of its set that the overlay no longer renders.
func (d *Deployer) standing(ctx context.Context, req Request, set applyset.Set, marked *Plan) (*standing, error) {
	dyn, mapper, err := d.dynamicClients()
	if err != nil {
		return nil, err
	}
	st := &standing{prune: req.Prune}
	live := drift.Live{Dynamic: dyn, Mapper: mapper, Namespace: d.Target.Namespace}
	// The image asked for is recorded whenever an object is written, but
	// does not make an object that runs it differ.
	if st.report, err = drift.Compare(ctx, live, marked.all(), d.Target.Namespace, audit.RequestedImage); err != nil {
		return nil, err
	}
	if st.parent, st.kinds, err = d.setState(ctx, set, marked); err != nil {
		return nil, err
	}
	if st.stale, err = d.stale(ctx, set, st.parent, st.kinds, marked); err != nil {
		return nil, err
	}
	return st, nil
}

// stale lists the members of the set, as the parent and the marked
// objects span it, that the marked objects do not hold; never the
// environment Secret.
func (d *Deployer) stale(ctx context.Context, set applyset.Set, parent, kinds *applyset.Parent, marked *Plan) ([]*unstructured.Unstructured, error) {
	dyn, mapper, err := d.dynamicClients()
	if err != nil {
		return nil, err
	}
	members, err := set.Members(ctx, dyn, mapper, applyset.Union(parent, kinds))
	if err != nil {
		return nil, err
	}
	keep := map[applyset.Key]bool{}
	for _, obj := range marked.all() {
		keep[applyset.KeyOf(obj, d.Target.Namespace)] = true
	}
	var out []*unstructured.Unstructured
	for _, m := range applyset.Stale(members, keep) {
		if m.GetKind() == "Secret" && m.GetName() == d.Target.Config.Secret.Name && m.GetAPIVersion() == "v1" {
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// setState reads the set's parent (nil when there is none yet) and the
// kinds and namespaces the marked objects span.
func (d *Deployer) setState(ctx context.Context, set applyset.Set, marked *Plan) (parent, kinds *applyset.Parent, err error) {
	_, mapper, err := d.dynamicClients()
	if err != nil {
		return nil, nil, err
	}
	if parent, err = set.Read(ctx, d.kube()); err != nil {
		return nil, nil, err
	}
	if kinds, err = applyset.Kinds(marked.all(), mapper, d.Target.Namespace); err != nil {
		return nil, nil, err
	}
	return parent, kinds, nil
}

// beginSet records, before any member is written, the kinds and
// namespaces the set spans, together with those it spanned: a deploy cut
// short leaves a parent through which the next one still finds every
// member.
func (d *Deployer) beginSet(ctx context.Context, set applyset.Set, marked *Plan, dryRun rollout.DryRun) error {
	if dryRun == rollout.DryRunClient {
		return nil
	}
	parent, kinds, err := d.setState(ctx, set, marked)
	if err != nil {
		return err
	}
	if parent != nil && covers(parent, kinds) {
		return nil
	}
	return set.Write(ctx, d.kube(), applyset.Union(parent, kinds), d.Tooling, dryRun == rollout.DryRunServer)
}

// finishSet records the kinds and namespaces the set spans now: exactly
// those of the marked objects after a prune, and those besides what it
// spanned when stale members were kept.
func (d *Deployer) finishSet(ctx context.Context, set applyset.Set, marked *Plan, pruned bool, dryRun rollout.DryRun) error {
	if dryRun != rollout.DryRunNone {
		return nil
	}
	parent, kinds, err := d.setState(ctx, set, marked)
	if err != nil {
		return err
	}
	want := kinds
	if !pruned {
		want = applyset.Union(parent, kinds)
	}
	if parent != nil && covers(parent, want) && covers(want, parent) {
		return nil
	}
	return set.Write(ctx, d.kube(), want, d.Tooling, false)
}

// prune deletes the members of the app's set that the overlay no longer
// renders, listed afresh now that the rollout succeeded; a dry run only
// reports them.
func (d *Deployer) prune(ctx context.Context, app string, res *Result, dryRun rollout.DryRun, set applyset.Set, marked *Plan) error {
	dyn, mapper, err := d.dynamicClients()
	if err != nil {
		return err
	}
	parent, kinds, err := d.setState(ctx, set, marked)
	if err != nil {
		return err
	}
	stale, err := d.stale(ctx, set, parent, kinds, marked)
	if err != nil {
		return err
	}
	for _, obj := range stale {
		if dryRun != rollout.DryRunClient {
			if err := applyset.Delete(ctx, dyn, mapper, obj, dryRun == rollout.DryRunServer); err != nil {
				return err
			}
		}
		d.done(app, res, obj, rollout.Result{Kind: obj.GetKind(), Name: obj.GetName(), Action: ActionPruned, DryRun: dryRun != rollout.DryRunNone}, obj.GetNamespace())
	}
	return nil
}
