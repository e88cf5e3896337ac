package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/kube/watcher"
	"github.com/envops/kubectl-envops/pkg/text"
)

const kindRC = "ReplicationController"

// ReplicationControllers deploys ReplicationControllers of one namespace.
// Each keeps its name and selector for life: an update writes the new pod
// template into it and replaces its old pods in batches; see plan.
type ReplicationControllers struct {
	Client    kubernetes.Interface
	Namespace string
	// Events receives every step; nil discards them.
	Events EventFunc
}

// mode is what a call asks of a controller.
type mode int

const (
	modeDeploy mode = iota
	// modeRollback rolls forward to the newest recorded previous template.
	modeRollback
	// modeContinue finishes the update in progress with its own template.
	modeContinue
)

// Plan is what a deploy would write to one ReplicationController before it
// waits for pods: the same decision deploy acts on, for --dry-run and --diff.
type Plan struct {
	Action Action
	// Resume is set when an update in progress would be continued.
	Resume bool
	// Live is the controller as it is now; nil when missing.
	Live *corev1.ReplicationController
	// Desired is the controller as deploy writes it (Live when it writes
	// nothing).
	Desired *corev1.ReplicationController
	// Takeover is set when the controller was written by an earlier release
	// and is first taken over (its selector simplified, its pods relabelled).
	Takeover bool
	// Record is the audit record the write carries, nil when it carries none.
	Record *audit.Record

	write  bool
	target target
}

// rcRun is one call on one controller.
type rcRun struct {
	*ReplicationControllers
	o    Options
	name string

	w       *watcher.Watcher
	rcs     corelisters.ReplicationControllerNamespaceLister
	pods    corelisters.PodNamespaceLister
	podSel  labels.Selector
	deleted map[types.UID]bool
	// now is the clock; tests replace it.
	now func() time.Time
}

func (u *ReplicationControllers) newRun(name string, o Options) *rcRun {
	return &rcRun{ReplicationControllers: u, o: o, name: name, deleted: map[types.UID]bool{}, now: time.Now}
}

func (r *rcRun) close() {
	if r.w != nil {
		r.w.Stop()
	}
}

func (r *rcRun) emit(e Event) {
	if r.Events == nil {
		return
	}
	e.Time = r.now()
	e.Kind = kindRC
	e.Namespace = r.Namespace
	e.Name = r.name
	if e.Controller == r.name {
		e.Controller = ""
	}
	r.Events(e)
}

func (r *rcRun) step(format string, a ...any) {
	r.emit(Event{Type: EventStep, Message: fmt.Sprintf(format, a...)})
}

// Deploy makes the live ReplicationController match want: it creates it,
// updates it in place, or rolls its pods to a new template, resuming an
// update in progress. A failed update is rolled back to the previous
// template unless o.NoRollback; the error is then a *FailedError.
func (u *ReplicationControllers) Deploy(ctx context.Context, want *corev1.ReplicationController, o Options) (Result, error) {
	want, err := u.normalize(want)
	if err != nil {
		return Result{}, err
	}
	mo := modeDeploy
	if o.Continue {
		mo = modeContinue
	}
	return u.run(ctx, want.Name, want, mo, o)
}

// Rollback rolls the named controller forward to the newest template it
// recorded before the current one: it undoes an update that failed, was
// interrupted or paused, and also one that succeeded.
func (u *ReplicationControllers) Rollback(ctx context.Context, name string, o Options) (Result, error) {
	return u.run(ctx, name, nil, modeRollback, o)
}

// Continue finishes the paused or interrupted update of the named controller.
func (u *ReplicationControllers) Continue(ctx context.Context, name string, o Options) (Result, error) {
	return u.run(ctx, name, nil, modeContinue, o)
}

// Plan tells what Deploy would write, without changing anything. A
// controller left by an earlier release is planned as if taken over.
func (u *ReplicationControllers) Plan(ctx context.Context, want *corev1.ReplicationController, o Options) (*Plan, error) {
	want, err := u.normalize(want)
	if err != nil {
		return nil, err
	}
	r := u.newRun(want.Name, o)
	live, err := r.get(ctx, want.Name)
	if err != nil {
		return nil, err
	}
	mo := modeDeploy
	if o.Continue {
		mo = modeContinue
	}
	taken := false
	if live != nil && isLegacy(live) {
		live, taken = simplified(live), true
	}
	p, err := r.decide(live, want, mo)
	if err != nil {
		return nil, err
	}
	p.Takeover = taken
	return p, nil
}

func (u *ReplicationControllers) run(ctx context.Context, name string, want *corev1.ReplicationController, mo mode, o Options) (Result, error) {
	r := u.newRun(name, o)
	defer r.close()
	live, err := r.get(ctx, name)
	if err != nil {
		return Result{}, err
	}
	if o.DryRun != DryRunNone {
		return r.dryRun(ctx, live, want, mo)
	}
	if live, err = r.takeOver(ctx, name, live, want); err != nil {
		return Result{}, r.interrupted(ctx, err)
	}
	p, live, err := r.decideAndWrite(ctx, live, want, mo)
	if lost := lockLost(ctx, err); err != nil && lost != nil {
		return Result{}, &FailedError{Kind: kindRC, Name: name, Err: lost}
	}
	if err != nil {
		return Result{}, err
	}
	res := Result{Kind: kindRC, Name: name, Action: p.Action, Replicas: p.target.desired, Record: p.Record}
	if err := r.follow(ctx, live, p); err != nil {
		if errors.Is(err, errPaused) {
			res.Paused = true
			return res, nil
		}
		return Result{}, r.failed(ctx, err, live, mo)
	}
	return res, nil
}

// decideAndWrite decides what to write and writes it; when someone else
// wrote the controller meanwhile (the replication manager's status, a
// label), it reads it again and decides again.
func (r *rcRun) decideAndWrite(ctx context.Context, live, want *corev1.ReplicationController, mo mode) (*Plan, *corev1.ReplicationController, error) {
	var p *Plan
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var err error
		if p, err = r.decide(live, want, mo); err != nil {
			return err
		}
		written, err := r.write(ctx, p)
		if apierrors.IsConflict(err) {
			if fresh, gerr := r.get(ctx, r.name); gerr == nil && fresh != nil {
				live = fresh
			}
		}
		if err == nil {
			live = written
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return p, live, nil
}

// errPaused ends a run that stopped at its canary.
var errPaused = errors.New("paused")

// decide is the one decision of what to write, shared by deploy, resume,
// rollback, continue, --dry-run and --diff. It reads nothing.
func (r *rcRun) decide(live, want *corev1.ReplicationController, mo mode) (*Plan, error) {
	p := &Plan{Live: live}
	if live == nil {
		if want == nil {
			return nil, fmt.Errorf("ReplicationController %q not found in namespace %q", r.name, r.Namespace)
		}
		desired := ptr.Deref(want.Spec.Replicas, 1)
		rc := want.DeepCopy()
		hash := TemplateHash(want.Spec.Template)
		rc.Spec.Template = hashedTemplate(want.Spec.Template, hash)
		rc.Spec.Replicas = ptr.To(desired)
		rc.Spec.MinReadySeconds = r.minReadySeconds(want)
		rc.Annotations = copyWith(rc.Annotations, AnnotationTemplateHash, hash)
		rc.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: kindRC}
		p.Action, p.Desired, p.write = ActionCreated, rc, true
		p.target = target{hash: hash, desired: desired, minReady: rc.Spec.MinReadySeconds}
		r.stamp(p)
		return p, r.withFenceposts(p, rc.Spec.Template)
	}
	state := updateStateOf(live)
	desired := ptr.Deref(live.Spec.Replicas, 1)
	if state != nil && state.Desired >= 0 {
		desired = state.Desired
	}
	up := live.DeepCopy()
	up.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: kindRC}
	var newTemplate *corev1.PodTemplateSpec
	var restored *Revision
	hash := templateHashOf(live)
	switch mo {
	case modeRollback:
		revs := revisionsOf(live)
		if len(revs) == 0 {
			return nil, fmt.Errorf("ReplicationController %q records no previous pod template, so there is nothing to roll back to: deploy the previous image instead", r.name)
		}
		restored = &revs[0]
		hash = restored.Hash
		newTemplate = &restored.Template
	case modeContinue:
		if want != nil && !sameTemplate(want.Spec.Template, live) {
			return nil, fmt.Errorf("--continue finishes the update in progress, but the rendered pod template of %q differs from it: drop --continue to deploy the new template", r.name)
		}
	default:
		if err := r.checkSelector(live, want); err != nil {
			return nil, err
		}
		if want.Spec.Replicas != nil {
			desired = *want.Spec.Replicas
		}
		if !sameTemplate(want.Spec.Template, live) {
			hash = TemplateHash(want.Spec.Template)
			newTemplate = want.Spec.Template
		}
	}
	if want != nil {
		up.Labels = merged(live.Labels, want.Labels)
		up.Annotations = merged(live.Annotations, want.Annotations)
		up.Spec.Selector = maps.Clone(want.Spec.Selector)
	}
	switch {
	case r.o.MinReadySeconds > 0:
		up.Spec.MinReadySeconds = r.o.MinReadySeconds
	case want != nil && want.Spec.MinReadySeconds != 0:
		up.Spec.MinReadySeconds = want.Spec.MinReadySeconds
	}
	p.target = target{hash: hash, desired: desired, minReady: up.Spec.MinReadySeconds}
	if err := r.withFenceposts(p, newTemplate, live.Spec.Template); err != nil {
		return nil, err
	}
	pauseAfter := r.o.PauseAfter
	switch {
	case newTemplate != nil:
		up.Annotations = copyWith(up.Annotations, AnnotationRevisions, pushRevision(live, desired, hash))
		up.Spec.Template = hashedTemplate(newTemplate, hash)
		up.Annotations[AnnotationTemplateHash] = hash
		up.Annotations[AnnotationUpdate] = UpdateState{Desired: desired, PauseAfter: pauseAfter}.encode()
		up.Spec.Replicas = ptr.To(desired + p.target.f.surge)
		p.Action = ActionRolledOut
		if mo == modeRollback {
			p.Action = ActionRolledBack
		}
	case state != nil:
		// An update in progress: resumed, or continued after its pause.
		if mo == modeContinue {
			pauseAfter = 0
		}
		up.Annotations = copyWith(up.Annotations, AnnotationUpdate, UpdateState{Desired: desired, PauseAfter: pauseAfter}.encode())
		p.Action, p.Resume = ActionRolledOut, true
	case mo == modeContinue:
		return nil, fmt.Errorf("no update of ReplicationController %q is paused or in progress, so there is nothing to continue", r.name)
	default:
		up.Spec.Replicas = ptr.To(desired)
		p.Action = ActionUnchanged
		if !maps.Equal(up.Labels, live.Labels) || !equality.Semantic.DeepEqual(up.Spec, live.Spec) {
			p.Action = ActionUpdated
		}
	}
	p.target.pauseAfter = pauseAfter
	p.Desired = up
	p.write = !equality.Semantic.DeepEqual(up.ObjectMeta, live.ObjectMeta) || !equality.Semantic.DeepEqual(up.Spec, live.Spec)
	if restored != nil && newTemplate != nil {
		// The template rolled back to is again described as it was
		// deployed: status compares the cluster with the overlay as it was
		// rendered then. A revision of an earlier release, which kept no
		// such record, pins the image rolled back to.
		up.Annotations = copyWithout(up.Annotations, deployedAnnotations...)
		if up.Annotations == nil {
			up.Annotations = map[string]string{}
		}
		maps.Copy(up.Annotations, restored.Deployed)
		if restored.Deployed == nil {
			up.Annotations[audit.RequestedImage] = imageList(newTemplate)[0]
		}
		p.write = true
	}
	if p.write {
		r.stamp(p)
	}
	return p, nil
}

// stamp writes the audit record on the controller the plan writes, with
// the image its template then runs: the one record history, status and
// the change cause all read.
func (r *rcRun) stamp(p *Plan) {
	if r.o.Record == nil {
		return
	}
	rec := recordOf(r.o.Record, p.Desired.Spec.Template)
	p.Desired.Annotations = merged(p.Desired.Annotations, rec.Annotations())
	p.Record = rec
}

// withFenceposts resolves the surge and unavailability of p's target; any
// of the templates involved declaring a hostPort rules out a surge.
func (r *rcRun) withFenceposts(p *Plan, templates ...*corev1.PodTemplateSpec) error {
	hostPort := int32(0)
	for _, t := range templates {
		if hostPort == 0 {
			hostPort = templateHostPort(t)
		}
	}
	surge, unavailable := r.o.Strategy()
	f, err := resolveFenceposts(surge, unavailable, p.target.desired, hostPort)
	p.target.f = f
	return err
}

// checkSelector refuses a rendered selector that the pods the controller
// runs now would not match: they would be orphaned, still running.
func (r *rcRun) checkSelector(live, want *corev1.ReplicationController) error {
	if maps.Equal(live.Spec.Selector, want.Spec.Selector) || live.Spec.Template == nil {
		return nil
	}
	if labels.SelectorFromSet(want.Spec.Selector).Matches(labels.Set(live.Spec.Template.Labels)) {
		return nil
	}
	return fmt.Errorf("the selector of ReplicationController %q would change from %s to %s, which its running pods do not match, so they would be orphaned: keep the selector, or delete the controller first", r.name, labels.FormatLabels(live.Spec.Selector), labels.FormatLabels(want.Spec.Selector))
}

func merged(base, add map[string]string) map[string]string {
	if len(add) == 0 {
		return base
	}
	out := make(map[string]string, len(base)+len(add))
	maps.Copy(out, base)
	maps.Copy(out, add)
	return out
}

// write sends the plan's change and returns the controller as written.
func (r *rcRun) write(ctx context.Context, p *Plan) (*corev1.ReplicationController, error) {
	rcs := r.Client.CoreV1().ReplicationControllers(r.Namespace)
	if p.Live == nil || p.write {
		if err := fence(ctx, r.Namespace); err != nil {
			return nil, err
		}
	}
	switch {
	case p.Live == nil:
		r.emit(Event{Type: EventStarted, Desired: p.target.desired, Message: fmt.Sprintf("creating ReplicationController %s with %s", r.name, text.Count(p.target.desired, "replica"))})
		out, err := rcs.Create(ctx, p.Desired, metav1.CreateOptions{FieldManager: FieldManager})
		if err != nil {
			return nil, fmt.Errorf("cannot create ReplicationController %q: %w", r.name, err)
		}
		return out, nil
	case !p.write:
		return p.Live, nil
	}
	switch {
	case p.Resume:
		r.emit(Event{Type: EventResumed, Desired: p.target.desired, Message: fmt.Sprintf("continuing the update of %s to %s", r.name, strings.Join(imageList(p.Desired.Spec.Template), ", "))})
	case p.Action == ActionRolledOut || p.Action == ActionRolledBack:
		what := "rolling update of"
		if p.Action == ActionRolledBack {
			what = "rolling back"
		}
		r.emit(Event{Type: EventStarted, Desired: p.target.desired, Message: fmt.Sprintf("%s %s to %s: max surge %d, max unavailable %d", what, r.name, strings.Join(imageList(p.Desired.Spec.Template), ", "), p.target.f.surge, p.target.f.unavailable)})
		if p.target.f.notice != "" {
			r.emit(Event{Type: EventNotice, Message: p.target.f.notice})
		}
	}
	out, err := rcs.Update(ctx, p.Desired, metav1.UpdateOptions{FieldManager: FieldManager})
	if err != nil {
		if apierrors.IsConflict(err) {
			return nil, err
		}
		return nil, fmt.Errorf("cannot update ReplicationController %q: %w", r.name, err)
	}
	return out, nil
}

// dryRun reports the plan; with DryRunServer the server also validates the
// write with dryRun=All.
func (r *rcRun) dryRun(ctx context.Context, live, want *corev1.ReplicationController, mo mode) (Result, error) {
	if live != nil && isLegacy(live) {
		live = simplified(live)
	}
	p, err := r.decide(live, want, mo)
	if err != nil {
		return Result{}, err
	}
	res := Result{Kind: kindRC, Name: r.name, Action: p.Action, Replicas: p.target.desired, DryRun: true}
	if r.o.DryRun == DryRunServer {
		if _, err := r.serverDryRun(ctx, p); err != nil {
			return Result{}, err
		}
	}
	return res, nil
}

// serverDryRun has the server default and validate the plan's write.
func (r *rcRun) serverDryRun(ctx context.Context, p *Plan) (*corev1.ReplicationController, error) {
	rcs := r.Client.CoreV1().ReplicationControllers(r.Namespace)
	var out *corev1.ReplicationController
	var err error
	switch {
	case p.Live == nil:
		out, err = rcs.Create(ctx, p.Desired, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldManager: FieldManager})
	case !p.write:
		return p.Live, nil
	default:
		d := p.Desired.DeepCopy()
		d.ResourceVersion = p.Live.ResourceVersion
		out, err = rcs.Update(ctx, d, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}, FieldManager: FieldManager})
	}
	if err != nil {
		return nil, fmt.Errorf("the server rejected ReplicationController %q: %w", r.name, err)
	}
	return out, nil
}

// normalize checks the rendered controller and fills in what the API server
// would: the selector defaults to the template's labels.
func (u *ReplicationControllers) normalize(want *corev1.ReplicationController) (*corev1.ReplicationController, error) {
	if want == nil || want.Name == "" {
		return nil, errors.New("the ReplicationController has no name: set metadata.name")
	}
	if want.Spec.Template == nil {
		return nil, fmt.Errorf("ReplicationController %q has no pod template: set spec.template", want.Name)
	}
	want = want.DeepCopy()
	want.Namespace = u.Namespace
	if len(want.Spec.Selector) == 0 {
		want.Spec.Selector = copyWithout(want.Spec.Template.Labels, TemplateHashLabel)
	}
	if len(want.Spec.Selector) == 0 {
		return nil, fmt.Errorf("ReplicationController %q has neither a selector nor pod template labels: add labels to spec.template.metadata.labels", want.Name)
	}
	for _, k := range []string{TemplateHashLabel, DeploymentLabel} {
		if _, ok := want.Spec.Selector[k]; ok {
			return nil, fmt.Errorf("ReplicationController %q selects pods by the label %q, which the rolling update manages: remove it from the selector", want.Name, k)
		}
	}
	if !labels.SelectorFromSet(want.Spec.Selector).Matches(labels.Set(want.Spec.Template.Labels)) {
		return nil, fmt.Errorf("the selector of ReplicationController %q does not match its pod template labels: every selector label must be on the template", want.Name)
	}
	return want, nil
}

func (r *rcRun) minReadySeconds(want *corev1.ReplicationController) int32 {
	if r.o.MinReadySeconds > 0 {
		return r.o.MinReadySeconds
	}
	return want.Spec.MinReadySeconds
}

func (r *rcRun) get(ctx context.Context, name string) (*corev1.ReplicationController, error) {
	rc, err := r.Client.CoreV1().ReplicationControllers(r.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read ReplicationController %q in namespace %q: %w", name, r.Namespace, err)
	}
	return rc, nil
}

// ensureWatcher starts informers on this controller and on the pods its
// selector selects, so waiting costs two watches and no polling.
func (r *rcRun) ensureWatcher(ctx context.Context, selector map[string]string) error {
	if r.w != nil {
		return nil
	}
	w := watcher.New(r.Client)
	sel := labels.SelectorFromSet(copyWithout(selector, DeploymentLabel))
	rcs := w.ReplicationControllers(r.Namespace, r.name)
	pods := w.Pods(r.Namespace, sel)
	w.OnConnection(func(o watcher.Outage) { r.emit(connectionEvent(o)) })
	if err := w.Start(ctx); err != nil {
		return fmt.Errorf("cannot watch ReplicationControllers and pods in namespace %q: %w", r.Namespace, err)
	}
	r.w, r.podSel, r.rcs, r.pods = w, sel, rcs, pods
	return nil
}

// podsOf returns the cached pods rc controls.
func (r *rcRun) podsOf(rc *corev1.ReplicationController) []*corev1.Pod {
	return controlledPods(r.pods, rc.UID)
}

// follow drives the update of the written controller to its end: it
// observes, asks plan for the next step, acts, and waits for the next
// change. It returns errPaused at a canary pause.
func (r *rcRun) follow(ctx context.Context, written *corev1.ReplicationController, p *Plan) error {
	if err := r.ensureWatcher(ctx, written.Spec.Selector); err != nil {
		return err
	}
	t := p.target
	timeout, grace := r.o.timeout(), r.o.failureGrace()
	progressAt := r.now()
	generation := written.Generation
	best := counts{newAvailable: -1, oldActive: 1 << 30}
	var lastWrite time.Time
	var shown Event
	// noticed is the passing failure last told.
	noticed := ""
	// scaledTo is the replica count this run last wrote: another count on
	// a newer generation is someone else's scaling, which the update keeps.
	scaledTo := ptr.Deref(written.Spec.Replicas, 1)
	for {
		if err := r.w.Failed(); err != nil {
			return fmt.Errorf("lost the watch on namespace %q: %w", r.Namespace, err)
		}
		now := r.now()
		rc, err := r.rcs.Get(r.name)
		if apierrors.IsNotFound(err) || (err == nil && rc.UID != written.UID) || (err == nil && rc.Generation < generation) {
			// Not yet in the cache, or the cache lags behind this run's write.
			if live, gerr := r.get(ctx, r.name); gerr != nil {
				return gerr
			} else if live == nil || live.UID != written.UID {
				return fmt.Errorf("ReplicationController %q was deleted or replaced by someone else during the update; run deploy again", r.name)
			}
			if err := r.w.Wait(ctx, now.Add(time.Second)); err != nil {
				return err
			}
			continue
		} else if err != nil {
			return err
		}
		if replicas := ptr.Deref(rc.Spec.Replicas, 1); rc.Generation > generation && replicas != scaledTo {
			if err := r.keepScaling(ctx, rc, &t, replicas); err != nil {
				return err
			}
			generation, scaledTo = rc.Generation, replicas
		}
		obs := &observed{rc: rc, pods: r.podsOf(rc), deleted: r.deleted, now: now}
		r.forgetDeleted(obs.pods)
		c := obs.count(t)

		ev := Event{Type: EventProgress, Desired: t.desired, Updated: c.newActive, Ready: c.newAvailable, Serving: c.available(), Old: c.oldActive}
		if ev.Updated != shown.Updated || ev.Ready != shown.Ready || ev.Old != shown.Old || ev.Serving != shown.Serving || shown.Type == "" {
			ev.Message = ProgressMessage(ev)
			r.emit(ev)
			shown = ev
		}
		if c.newAvailable > best.newAvailable || c.oldActive < best.oldActive {
			best.newAvailable, best.oldActive = max(best.newAvailable, c.newAvailable), min(best.oldActive, c.oldActive)
			progressAt = now
		}
		failure := obs.failure(t.hash)
		if failure != nil && (failure.Definite || !now.Before(progressAt.Add(grace))) {
			return failure
		}
		cannotCreate := replicaFailure(rc)
		if cannotCreate != nil && !now.Before(progressAt.Add(grace)) {
			return cannotCreate
		}
		// A failure that may pass is told as soon as it is seen, with how
		// long the update gives it: the grace is not spent in silence.
		var passing error = cannotCreate
		if failure != nil {
			passing = failure
		}
		if why := passing; why != nil && why.Error() != noticed {
			noticed = why.Error()
			r.emit(Event{Type: EventNotice, Message: fmt.Sprintf("%v; the update waits up to %s after its last progress (until %s) for this to clear, then fails",
				why, grace, progressAt.Add(grace).UTC().Format(time.TimeOnly))})
		}
		if !now.Before(progressAt.Add(timeout)) {
			return fmt.Errorf("%w for %s: %d of %d pods on the new template available%s", ErrNoProgress, timeout, c.newAvailable, t.desired, notReadyDetail(obs, t.hash))
		}

		s := plan(obs, t)
		if (s.kind == stepScale || s.kind == stepDelete) && r.o.UpdatePeriod > 0 && now.Before(lastWrite.Add(r.o.UpdatePeriod)) {
			// --update-period spaces the steps out.
			if err := r.w.Wait(ctx, lastWrite.Add(r.o.UpdatePeriod)); err != nil {
				return err
			}
			continue
		}
		if s.kind == stepScale || s.kind == stepDelete {
			// A step taken is progress: the last ones, scaling back down and
			// waiting for the status, make no pod newer or fewer.
			lastWrite, progressAt = now, now
		}
		switch s.kind {
		case stepScale:
			g, err := r.scale(ctx, rc, s.replicas)
			if errors.Is(err, errStale) {
				// Read the controller again before deciding again.
				if live, gerr := r.get(ctx, r.name); gerr == nil && live != nil {
					_ = r.w.Wait(ctx, now.Add(50*time.Millisecond))
				}
				continue
			}
			if err != nil {
				return err
			}
			generation, scaledTo = g, s.replicas
			continue
		case stepDelete:
			if err := r.deletePods(ctx, s.pods); err != nil {
				return err
			}
			continue
		case stepPause:
			state := UpdateState{Desired: t.desired, PauseAfter: t.pauseAfter, Paused: true}
			if err := r.annotate(ctx, rc, AnnotationUpdate, ptr.To(state.encode())); err != nil {
				return err
			}
			r.emit(Event{Type: EventPaused, Desired: t.desired, Updated: c.newActive, Ready: c.newAvailable, Old: c.oldActive,
				Serving: c.available(), Message: fmt.Sprintf("paused with %d of %d pods on the new template", c.newAvailable, t.desired)})
			return errPaused
		case stepDone:
			if _, ok := rc.Annotations[AnnotationUpdate]; ok {
				if err := r.annotate(ctx, rc, AnnotationUpdate, nil); err != nil {
					return err
				}
			}
			r.emit(Event{Type: EventDone, Desired: t.desired, Updated: t.desired, Ready: t.desired, Serving: t.desired, Message: fmt.Sprintf("%s runs %s of %s", r.name, text.Count(t.desired, "ready pod"), strings.Join(imageList(rc.Spec.Template), ", "))})
			return nil
		}
		wake := progressAt.Add(timeout)
		if failure != nil || replicaFailure(rc) != nil {
			wake = earliest(wake, progressAt.Add(grace))
		}
		if at := nextAvailable(obs, t.minReady); !at.IsZero() {
			wake = earliest(wake, at)
		}
		if err := r.w.Wait(ctx, wake); err != nil {
			return err
		}
	}
}

// keepScaling takes a replica count someone else set during the update
// (kubectl scale) as the update's new desired count: the update goes on
// toward it, records it for a resume, and says so, rather than scaling
// back what the user asked for.
func (r *rcRun) keepScaling(ctx context.Context, rc *corev1.ReplicationController, t *target, replicas int32) error {
	surge, unavailable := r.o.Strategy()
	f, err := resolveFenceposts(surge, unavailable, replicas, templateHostPort(rc.Spec.Template))
	if err != nil {
		return err
	}
	was := t.desired
	t.desired, t.f = replicas, f
	state := UpdateState{Desired: replicas, PauseAfter: t.pauseAfter}
	if err := r.annotate(ctx, rc, AnnotationUpdate, ptr.To(state.encode())); err != nil {
		return err
	}
	r.emit(Event{Type: EventNotice, Desired: replicas, Message: fmt.Sprintf("%s was scaled to %d replicas by someone else during the update; the update keeps that and heads for %s instead of %d",
		r.name, replicas, text.Count(replicas, "pod"), was)})
	return nil
}

// forgetDeleted drops pods from the deleted set once the cache shows them
// terminating or gone.
func (r *rcRun) forgetDeleted(pods []*corev1.Pod) {
	if len(r.deleted) == 0 {
		return
	}
	seen := make(map[types.UID]bool, len(pods))
	for _, p := range pods {
		if p.DeletionTimestamp == nil {
			seen[p.UID] = true
		}
	}
	for uid := range r.deleted {
		if !seen[uid] {
			delete(r.deleted, uid)
		}
	}
}

// errStale is a step planned on an observation someone else's write has
// since replaced; the updater observes again.
var errStale = errors.New("the controller changed since it was observed")

// scale sets rc's replicas and returns the generation the change has.
func (r *rcRun) scale(ctx context.Context, rc *corev1.ReplicationController, replicas int32) (int64, error) {
	// The uid makes the patch fail rather than touch a re-created namesake;
	// the resourceVersion, rather than overwrite a scaling made by someone
	// else since rc was observed.
	patch := fmt.Appendf(nil, `{"metadata":{"uid":%q,"resourceVersion":%q},"spec":{"replicas":%d}}`, rc.UID, rc.ResourceVersion, replicas)
	if err := fence(ctx, r.Namespace); err != nil {
		return 0, err
	}
	out, err := r.Client.CoreV1().ReplicationControllers(r.Namespace).Patch(ctx, rc.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager})
	if apierrors.IsConflict(err) {
		return 0, errStale
	}
	if err != nil {
		return 0, fmt.Errorf("cannot scale ReplicationController %q to %d: %w", rc.Name, replicas, err)
	}
	dir := "up"
	if replicas < ptr.Deref(rc.Spec.Replicas, 1) {
		dir = "down"
	}
	r.step("scaled %s %s to %d", rc.Name, dir, replicas)
	return out.Generation, nil
}

// deleteParallelism bounds the deletes of one batch in flight at once:
// sent one after another, a batch of 30 costs 30 round trips.
const deleteParallelism = 16

// deletePods deletes a batch of old pods concurrently; a pod already gone
// counts as deleted.
func (r *rcRun) deletePods(ctx context.Context, pods []*corev1.Pod) error {
	if err := fence(ctx, r.Namespace); err != nil {
		return err
	}
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, deleteParallelism)
	var wg sync.WaitGroup
	for _, p := range pods {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := r.Client.CoreV1().Pods(r.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions(string(p.UID))})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil, apierrors.IsNotFound(err), apierrors.IsConflict(err):
				r.deleted[p.UID] = true
			case firstErr == nil:
				firstErr = fmt.Errorf("cannot delete pod %q: %w", p.Name, err)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	names := make([]string, 0, len(pods))
	for _, p := range pods {
		names = append(names, p.Name)
	}
	r.step("deleted %s: %s", text.Count(int32(len(pods)), "old pod"), strings.Join(names, ", "))
	return nil
}

// annotate sets (value non-nil) or removes one annotation of rc.
func (r *rcRun) annotate(ctx context.Context, rc *corev1.ReplicationController, key string, value *string) error {
	var v any
	if value != nil {
		v = *value
	}
	patch := map[string]any{"metadata": map[string]any{"uid": rc.UID, "annotations": map[string]any{key: v}}}
	return r.patch(ctx, rc.Name, patch)
}

func (r *rcRun) patch(ctx context.Context, name string, patch map[string]any) error {
	body, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	if err := fence(ctx, r.Namespace); err != nil {
		return err
	}
	_, err = r.Client.CoreV1().ReplicationControllers(r.Namespace).Patch(ctx, name, types.MergePatchType, body, metav1.PatchOptions{FieldManager: FieldManager})
	if err != nil {
		return fmt.Errorf("cannot update ReplicationController %q: %w", name, err)
	}
	return nil
}

// failed handles an update that stopped: interrupted, it is left as it is
// for a resume; failed, it is rolled back unless NoRollback; stopped because
// another deploy took the lock over, it is left to that deploy.
func (r *rcRun) failed(ctx context.Context, cause error, live *corev1.ReplicationController, mo mode) error {
	if lost := lockLost(ctx, cause); lost != nil {
		return &FailedError{Kind: kindRC, Name: r.name, Err: lost}
	}
	if ctx.Err() != nil || !rollbackWorthy(cause) {
		return r.interrupted(ctx, cause)
	}
	r.emit(Event{Type: EventFailed, Message: cause.Error()})
	if r.o.NoRollback || mo == modeRollback {
		return &FailedError{Kind: kindRC, Name: r.name, Err: fmt.Errorf("%w; it was left in place: run deploy again to resume it or deploy --rollback to undo it", cause)}
	}
	fresh, err := r.get(ctx, r.name)
	if err == nil && fresh == nil {
		err = fmt.Errorf("ReplicationController %q is gone", r.name)
	}
	if err == nil && len(revisionsOf(fresh)) == 0 {
		return &FailedError{Kind: kindRC, Name: r.name, Err: fmt.Errorf("%w; there is no previous template to roll back to", cause)}
	}
	if err == nil {
		r.emit(Event{Type: EventRollingBack, Message: fmt.Sprintf("rolling %s back to its previous template", r.name)})
		err = r.rollBack(ctx, fresh)
	}
	if err != nil {
		return &FailedError{Kind: kindRC, Name: r.name, Err: fmt.Errorf("%w; rolling back failed too: %w", cause, err)}
	}
	return &FailedError{Kind: kindRC, Name: r.name, RolledBack: true, Err: cause}
}

// rollBack writes the previous template back and follows it to the end.
func (r *rcRun) rollBack(ctx context.Context, live *corev1.ReplicationController) error {
	r.o.PauseAfter = 0
	p, written, err := r.decideAndWrite(ctx, live, nil, modeRollback)
	if err != nil {
		return err
	}
	if err := r.follow(ctx, written, p); err != nil {
		return err
	}
	r.emit(Event{Type: EventRolledBack, Desired: p.target.desired, Updated: p.target.desired, Ready: p.target.desired, Message: fmt.Sprintf("rolled back: %s runs %s of the previous template", r.name, text.Count(p.target.desired, "pod"))})
	return nil
}

// interrupted wraps an error that stopped an update which can be resumed.
func (r *rcRun) interrupted(ctx context.Context, err error) error {
	var fe *FailedError
	if errors.As(err, &fe) {
		return err
	}
	if lost := lockLost(ctx, err); lost != nil {
		return &FailedError{Kind: kindRC, Name: r.name, Err: lost}
	}
	switch {
	case ctx.Err() != nil:
		err = fmt.Errorf("interrupted (%w): run deploy again to resume", err)
	case !rollbackWorthy(err):
		err = fmt.Errorf("%w; the update was left in place: run deploy again to resume it", err)
	}
	return &FailedError{Kind: kindRC, Name: r.name, Err: err}
}

// lockLost returns the *LockLostError that stopped the update, from err or
// as the cause of ctx's end; nil when the lock was not lost.
func lockLost(ctx context.Context, err error) *LockLostError {
	var lost *LockLostError
	if errors.As(err, &lost) || errors.As(context.Cause(ctx), &lost) {
		return lost
	}
	return nil
}

// nextAvailable is the earliest time a Ready pod becomes available, or zero.
func nextAvailable(o *observed, minReady int32) time.Time {
	var at time.Time
	if minReady == 0 {
		return at
	}
	for _, p := range o.pods {
		if !o.alive(p) || o.available(p, minReady) {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				at = earliest(at, c.LastTransitionTime.Add(time.Duration(minReady)*time.Second+10*time.Millisecond))
			}
		}
	}
	return at
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// replicaFailure reports a controller that cannot create its pods (quota,
// admission).
func replicaFailure(rc *corev1.ReplicationController) error {
	for _, c := range rc.Status.Conditions {
		if c.Type == corev1.ReplicationControllerReplicaFailure && c.Status == corev1.ConditionTrue {
			return fmt.Errorf("ReplicationController %s %w: %s: %s", rc.Name, ErrCannotCreatePods, c.Reason, c.Message)
		}
	}
	return nil
}

// failure returns the first reason a new pod will not become Ready alone.
func (o *observed) failure(hash string) *PodFailure {
	leaving := false
	for _, p := range o.pods {
		if p.DeletionTimestamp != nil || o.deleted[p.UID] {
			leaving = true
		}
	}
	for _, p := range o.pods {
		if o.alive(p) && isNew(p, hash) {
			if f := podFailure(p, leaving); f != nil {
				return f
			}
		}
	}
	return nil
}

// notReadyDetail names one new pod that is not Ready and why, for the timeout message.
func notReadyDetail(o *observed, hash string) string {
	for _, p := range o.pods {
		if !o.alive(p) || !isNew(p, hash) || isReady(p) {
			continue
		}
		why := string(p.Status.Phase)
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Reason != "" {
				why = c.Reason
			}
		}
		if p.Spec.NodeName == "" {
			why = "not scheduled"
		}
		return fmt.Sprintf("; pod %s is not Ready (%s)", p.Name, why)
	}
	return ""
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func imagesOf(t *corev1.PodTemplateSpec) string { return strings.Join(imageList(t), ", ") }

func anyLeaving(pods []*corev1.Pod) bool {
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			return true
		}
	}
	return false
}
