package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

const kindRC = "ReplicationController"

// ReplicationControllers deploys ReplicationControllers of one namespace:
// it creates a missing one, updates one whose pod template is unchanged in
// place, and otherwise rolls its pods to the new template through a second
// controller that takes the original name at the end.
type ReplicationControllers struct {
	Client    kubernetes.Interface
	Namespace string
	// Events receives every step; nil discards them.
	Events EventFunc
}

// Plan is what Deploy would do to one ReplicationController.
type Plan struct {
	Action Action
	// Resume is set when an interrupted update would be continued.
	Resume bool
	// Live is the controller as it is now; nil when missing.
	Live *corev1.ReplicationController
	// Desired is the controller as the deploy will leave it.
	Desired *corev1.ReplicationController
}

// rcRun is one Deploy or Rollback call.
type rcRun struct {
	*ReplicationControllers
	o    Options
	name string

	w    *watcher
	rcs  corelisters.ReplicationControllerNamespaceLister
	pods corelisters.PodNamespaceLister

	lk *rcLock
	// lost stops the run when another deploy takes its lock.
	lost context.CancelCauseFunc
}

func (u *ReplicationControllers) newRun(name string, o Options) *rcRun {
	return &rcRun{ReplicationControllers: u, o: o, name: name}
}

func (r *rcRun) close() {
	if r.w != nil {
		r.w.stop()
	}
}

func (r *rcRun) emit(e Event) {
	if r.Events == nil {
		return
	}
	e.Time = time.Now()
	e.Kind = kindRC
	e.Namespace = r.Namespace
	e.Name = r.name
	if e.Controller == r.name {
		e.Controller = ""
	}
	r.Events(e)
}

func (r *rcRun) step(controller, format string, a ...any) {
	r.emit(Event{Type: EventStep, Controller: controller, Message: fmt.Sprintf(format, a...)})
}

// Deploy makes the live ReplicationController match want: it creates it,
// updates it in place, rolls its pods to a new template, or resumes an
// update that was interrupted. A failed update is rolled back unless
// o.NoRollback; the error is then a *FailedError.
func (u *ReplicationControllers) Deploy(ctx context.Context, want *corev1.ReplicationController, o Options) (Result, error) {
	want, err := u.normalize(want)
	if err != nil {
		return Result{}, err
	}
	r := u.newRun(want.Name, o)
	defer r.close()

	if o.DryRun != DryRunNone {
		return r.dryRun(ctx, want)
	}
	return r.locked(ctx, func(ctx context.Context) (Result, error) { return r.deploy(ctx, want) })
}

func (r *rcRun) deploy(ctx context.Context, want *corev1.ReplicationController) (Result, error) {
	live, err := r.get(ctx, want.Name)
	if err != nil {
		return Result{}, err
	}
	renamed := false
	if live == nil {
		next, err := r.findRenaming(ctx, want.Name)
		if err != nil {
			return Result{}, err
		}
		if next != nil {
			if next, err = r.lock(ctx, next); err != nil {
				return Result{}, err
			}
			r.emit(Event{Type: EventResumed, Controller: next.Name, Message: fmt.Sprintf("the old controller is gone; %s takes the name %s", next.Name, want.Name)})
			if live, err = r.rename(ctx, next, want); err != nil {
				return Result{}, &FailedError{Kind: kindRC, Name: want.Name, Err: err}
			}
			renamed = true
		}
	}
	if live == nil {
		return r.create(ctx, want)
	}
	if !r.lk.held() {
		if live, err = r.lock(ctx, live); err != nil {
			return Result{}, err
		}
	}
	if nextName := live.Annotations[AnnotationNextController]; nextName != "" {
		next, err := r.nextOf(ctx, live)
		if err != nil {
			return Result{}, err
		}
		unchanged := sameTemplate(want.Spec.Template, live) && sameSelector(want.Spec.Selector, live.Spec.Selector)
		switch {
		case next == nil && !unchanged, next != nil && next.Annotations[AnnotationTemplateHash] == TemplateHash(want.Spec.Template):
			return r.rollout(ctx, live, next, want)
		case next == nil:
			r.emit(Event{Type: EventNotice, Message: fmt.Sprintf("an unfinished update of %s is cleared: the pod template is the live one", live.Name)})
		default:
			r.emit(Event{Type: EventNotice, Controller: next.Name, Message: fmt.Sprintf("an unfinished update to another pod template (%s) is rolled back first", next.Name)})
		}
		if live, err = r.rollback(ctx, live, next); err != nil {
			return Result{}, &FailedError{Kind: kindRC, Name: want.Name, Err: err}
		}
	}
	if sameTemplate(want.Spec.Template, live) && sameSelector(want.Spec.Selector, live.Spec.Selector) {
		res, err := r.updateInPlace(ctx, live, want)
		if renamed && err == nil && res.Action == ActionUnchanged {
			res.Action = ActionRolledOut
		}
		return res, err
	}
	return r.rollout(ctx, live, nil, want)
}

// Rollback undoes an update of the named controller that is in progress or
// was left by a failure: the old controller is scaled back, keeping
// desired-maxUnavailable pods available, and the new one is deleted.
func (u *ReplicationControllers) Rollback(ctx context.Context, name string, o Options) (Result, error) {
	r := u.newRun(name, o)
	defer r.close()
	return r.locked(ctx, func(ctx context.Context) (Result, error) { return r.rollbackByName(ctx, name) })
}

func (r *rcRun) rollbackByName(ctx context.Context, name string) (Result, error) {
	o := r.o
	live, err := r.get(ctx, name)
	if err != nil {
		return Result{}, err
	}
	if live == nil {
		next, err := r.findRenaming(ctx, name)
		if err != nil {
			return Result{}, err
		}
		if next != nil {
			return Result{}, fmt.Errorf("the update of ReplicationController %q already removed the old controller, so it cannot be rolled back: run deploy again to finish it, then deploy the previous image", name)
		}
		return Result{}, fmt.Errorf("ReplicationController %q not found in namespace %q", name, r.Namespace)
	}
	if live.Annotations[AnnotationNextController] == "" {
		return Result{}, fmt.Errorf("no update of ReplicationController %q is in progress, so there is nothing to roll back: deploy the previous image instead", name)
	}
	next, err := r.nextOf(ctx, live)
	if err != nil {
		return Result{}, err
	}
	if o.DryRun != DryRunNone {
		return Result{Kind: kindRC, Name: name, Action: ActionRolledBack, DryRun: true}, nil
	}
	if live, err = r.lock(ctx, live); err != nil {
		return Result{}, err
	}
	if next != nil {
		// The lock was taken on the state read before; read next again.
		if next, err = r.nextOf(ctx, live); err != nil {
			return Result{}, err
		}
	}
	live, err = r.rollback(ctx, live, next)
	if err != nil {
		return Result{}, &FailedError{Kind: kindRC, Name: name, Err: err}
	}
	return Result{Kind: kindRC, Name: name, Action: ActionRolledBack, Replicas: replicasOf(live)}, nil
}

// Plan tells what Deploy would do, without changing anything.
func (u *ReplicationControllers) Plan(ctx context.Context, want *corev1.ReplicationController) (*Plan, error) {
	want, err := u.normalize(want)
	if err != nil {
		return nil, err
	}
	r := u.newRun(want.Name, Options{})
	return r.plan(ctx, want)
}

func (r *rcRun) plan(ctx context.Context, want *corev1.ReplicationController) (*Plan, error) {
	live, err := r.get(ctx, want.Name)
	if err != nil {
		return nil, err
	}
	p := &Plan{Live: live}
	if live == nil {
		next, err := r.findRenaming(ctx, want.Name)
		if err != nil {
			return nil, err
		}
		if next != nil {
			p.Resume = true
			p.Action = ActionRolledOut
			p.Desired = r.finalController(want, next)
			return p, nil
		}
		p.Action = ActionCreated
		p.Desired = r.newController(want, want.Name, TemplateHash(want.Spec.Template), desiredReplicas(want, nil))
		return p, nil
	}
	if live.Annotations[AnnotationNextController] != "" {
		next, err := r.nextOf(ctx, live)
		if err != nil {
			return nil, err
		}
		p.Resume = next != nil && next.Annotations[AnnotationTemplateHash] == TemplateHash(want.Spec.Template)
	}
	if !p.Resume && sameTemplate(want.Spec.Template, live) && sameSelector(want.Spec.Selector, live.Spec.Selector) {
		p.Desired = inPlace(live, want)
		p.Action = inPlaceAction(p.Desired, live)
		return p, nil
	}
	p.Action = ActionRolledOut
	p.Desired = r.newController(want, want.Name, TemplateHash(want.Spec.Template), desiredReplicas(want, live))
	return p, nil
}

// dryRun reports the plan; with DryRunServer it also sends the first change
// with dryRun=All so the server validates the new controller.
func (r *rcRun) dryRun(ctx context.Context, want *corev1.ReplicationController) (Result, error) {
	p, err := r.plan(ctx, want)
	if err != nil {
		return Result{}, err
	}
	res := Result{Kind: kindRC, Name: want.Name, Action: p.Action, Replicas: replicasOf(p.Desired), DryRun: true}
	if r.o.DryRun != DryRunServer {
		return res, nil
	}
	server := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	rcs := r.Client.CoreV1().ReplicationControllers(r.Namespace)
	switch {
	case p.Action == ActionCreated:
		_, err = rcs.Create(ctx, p.Desired, server)
	case p.Action == ActionUpdated:
		_, err = rcs.Update(ctx, p.Desired, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
	case p.Action == ActionRolledOut && !p.Resume:
		next := p.Desired.DeepCopy()
		next.Name = want.Name + "-" + TemplateHash(want.Spec.Template)
		_, err = rcs.Create(ctx, next, server)
	}
	if err != nil {
		return Result{}, fmt.Errorf("the server rejected ReplicationController %q: %w", want.Name, err)
	}
	return res, nil
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
		want.Spec.Selector = maps.Clone(want.Spec.Template.Labels)
	}
	if len(want.Spec.Selector) == 0 {
		return nil, fmt.Errorf("ReplicationController %q has neither a selector nor pod template labels: add labels to spec.template.metadata.labels", want.Name)
	}
	if _, ok := want.Spec.Selector[DeploymentLabel]; ok {
		return nil, fmt.Errorf("ReplicationController %q uses the label %q, which the rolling update reserves: remove it from the selector", want.Name, DeploymentLabel)
	}
	if _, ok := want.Spec.Template.Labels[DeploymentLabel]; ok {
		return nil, fmt.Errorf("ReplicationController %q uses the label %q, which the rolling update reserves: remove it from the pod template labels", want.Name, DeploymentLabel)
	}
	if !labels.SelectorFromSet(want.Spec.Selector).Matches(labels.Set(want.Spec.Template.Labels)) {
		return nil, fmt.Errorf("the selector of ReplicationController %q does not match its pod template labels: every selector label must be on the template", want.Name)
	}
	return want, nil
}

// desiredReplicas is the rendered replica count, else the live one, else 1.
func desiredReplicas(want, live *corev1.ReplicationController) int32 {
	if want.Spec.Replicas != nil {
		return *want.Spec.Replicas
	}
	if live != nil && live.Spec.Replicas != nil {
		return *live.Spec.Replicas
	}
	return 1
}

func replicasOf(rc *corev1.ReplicationController) int32 {
	if rc == nil {
		return 0
	}
	return ptr.Deref(rc.Spec.Replicas, 1)
}

func (r *rcRun) minReadySeconds(want *corev1.ReplicationController) int32 {
	if r.o.MinReadySeconds > 0 {
		return r.o.MinReadySeconds
	}
	return want.Spec.MinReadySeconds
}

// newController is want with the deployment label hash on its selector and
// template, under the given name and size.
func (r *rcRun) newController(want *corev1.ReplicationController, name, hash string, replicas int32) *corev1.ReplicationController {
	rc := &corev1.ReplicationController{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: kindRC},
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   r.Namespace,
			Labels:      maps.Clone(want.Labels),
			Annotations: withLabel(want.Annotations, AnnotationTemplateHash, TemplateHash(want.Spec.Template)),
		},
		Spec: corev1.ReplicationControllerSpec{
			Replicas:        ptr.To(replicas),
			MinReadySeconds: r.minReadySeconds(want),
			Selector:        withLabel(want.Spec.Selector, DeploymentLabel, hash),
			Template:        want.Spec.Template.DeepCopy(),
		},
	}
	rc.Spec.Template.Labels = withLabel(want.Spec.Template.Labels, DeploymentLabel, hash)
	return rc
}

// inPlace is live with want's metadata and replica count; the pod template
// stays as it is.
func inPlace(live, want *corev1.ReplicationController) *corev1.ReplicationController {
	up := live.DeepCopy()
	if len(want.Labels) > 0 {
		up.Labels = make(map[string]string, len(live.Labels)+len(want.Labels))
		maps.Copy(up.Labels, live.Labels)
		maps.Copy(up.Labels, want.Labels)
	}
	up.Annotations = withLabel(live.Annotations, AnnotationTemplateHash, TemplateHash(want.Spec.Template))
	maps.Copy(up.Annotations, want.Annotations)
	up.Spec.Replicas = ptr.To(desiredReplicas(want, live))
	if want.Spec.MinReadySeconds != 0 {
		up.Spec.MinReadySeconds = want.Spec.MinReadySeconds
	}
	return up
}

// inPlaceAction tells whether an in-place update changes what the
// controller is (its labels, size or spec) or only records something in
// its annotations, which every deploy does.
func inPlaceAction(up, live *corev1.ReplicationController) Action {
	if maps.Equal(up.Labels, live.Labels) && equality.Semantic.DeepEqual(up.Spec, live.Spec) {
		return ActionUnchanged
	}
	return ActionUpdated
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

// nextOf returns the controller live is being replaced by, or nil when the
// update had not created it yet.
func (r *rcRun) nextOf(ctx context.Context, live *corev1.ReplicationController) (*corev1.ReplicationController, error) {
	name := live.Annotations[AnnotationNextController]
	next, err := r.get(ctx, name)
	if err != nil || next == nil {
		return nil, err
	}
	if next.Annotations[AnnotationUpdateSource] != sourceID(live) {
		return nil, fmt.Errorf("ReplicationController %q names %q as its next controller, but %q is not its update: remove the annotation %s from %q and run deploy again", live.Name, name, name, AnnotationNextController, live.Name)
	}
	return next, nil
}

func sourceID(rc *corev1.ReplicationController) string {
	return rc.Name + ":" + string(rc.UID)
}

// findRenaming finds the controller of an interrupted update that had
// already deleted the old controller named name.
func (r *rcRun) findRenaming(ctx context.Context, name string) (*corev1.ReplicationController, error) {
	list, err := r.Client.CoreV1().ReplicationControllers(r.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("cannot list ReplicationControllers in namespace %q: %w", r.Namespace, err)
	}
	for i := range list.Items {
		if list.Items[i].Annotations[AnnotationOriginalName] == name {
			return &list.Items[i], nil
		}
	}
	return nil, nil
}

// ensureWatcher starts informers on the namespace's ReplicationControllers
// and on the pods that every given selector could select.
func (r *rcRun) ensureWatcher(ctx context.Context, selectors ...map[string]string) error {
	if r.w != nil {
		return nil
	}
	common := commonLabels(selectors...)
	w := newWatcher()
	rcInf := coreinformers.NewReplicationControllerInformer(r.Client, r.Namespace, 0, namespaceIndex)
	podInf := coreinformers.NewFilteredPodInformer(r.Client, r.Namespace, 0, namespaceIndex, func(lo *metav1.ListOptions) {
		lo.LabelSelector = labels.SelectorFromSet(common).String()
	})
	for _, inf := range []cache.SharedIndexInformer{rcInf, podInf} {
		if err := w.add(inf); err != nil {
			return err
		}
	}
	if err := w.start(ctx); err != nil {
		w.stop()
		return fmt.Errorf("cannot watch ReplicationControllers and pods in namespace %q: %w", r.Namespace, err)
	}
	r.w = w
	r.rcs = corelisters.NewReplicationControllerLister(rcInf.GetIndexer()).ReplicationControllers(r.Namespace)
	r.pods = corelisters.NewPodLister(podInf.GetIndexer()).Pods(r.Namespace)
	return nil
}

// commonLabels returns the label pairs all selectors share, without the
// deployment label: the pods of the old and the new controller all carry them.
func commonLabels(selectors ...map[string]string) map[string]string {
	var out map[string]string
	for _, s := range selectors {
		if s == nil {
			continue
		}
		if out == nil {
			out = withoutLabel(s, DeploymentLabel)
			continue
		}
		for k, v := range out {
			if s[k] != v {
				delete(out, k)
			}
		}
	}
	return out
}

// create creates a missing controller and waits for its pods.
func (r *rcRun) create(ctx context.Context, want *corev1.ReplicationController) (Result, error) {
	desired := desiredReplicas(want, nil)
	rc := r.newController(want, want.Name, TemplateHash(want.Spec.Template), desired)
	r.emit(Event{Type: EventStarted, Desired: desired, Message: fmt.Sprintf("creating ReplicationController %s with %d replicas", want.Name, desired)})
	if err := r.ensureWatcher(ctx, rc.Spec.Selector); err != nil {
		return Result{}, err
	}
	// Creating the controller with the lock on it takes the lock: of two
	// deploys that create it at once, the second gets AlreadyExists.
	if err := r.ensureLock(ctx); err != nil {
		return Result{}, err
	}
	r.lk.stamp(rc)
	created, err := r.Client.CoreV1().ReplicationControllers(r.Namespace).Create(ctx, rc, metav1.CreateOptions{FieldManager: FieldManager})
	if apierrors.IsAlreadyExists(err) {
		if other, gerr := r.get(ctx, want.Name); gerr == nil && other != nil {
			if l := ParseLock(other.Annotations); l != nil {
				return Result{}, &LockedError{Kind: kindRC, Namespace: r.Namespace, Name: want.Name, Lock: *l}
			}
		}
		return Result{}, fmt.Errorf("ReplicationController %q was created by someone else while this deploy created it: run deploy again to update it", want.Name)
	}
	if err != nil {
		return Result{}, fmt.Errorf("cannot create ReplicationController %q: %w", want.Name, err)
	}
	r.holdOn(ctx, created.Name)
	r.step(created.Name, "created %s with %d replicas", created.Name, desired)
	if err := r.roll(ctx, rollSpec{target: created, desired: desired, f: fenceposts{}, minReady: created.Spec.MinReadySeconds}); err != nil {
		return Result{}, r.interrupted(ctx, err, false)
	}
	r.emit(Event{Type: EventDone, Desired: desired, Updated: desired, Ready: desired, Message: fmt.Sprintf("created %s: %d pods available", want.Name, desired)})
	return Result{Kind: kindRC, Name: want.Name, Action: ActionCreated, Replicas: desired}, nil
}

// updateInPlace updates the metadata and size of a controller whose pod
// template is unchanged; no pod is replaced.
func (r *rcRun) updateInPlace(ctx context.Context, live, want *corev1.ReplicationController) (Result, error) {
	desired := desiredReplicas(want, live)
	up := inPlace(live, want)
	action := inPlaceAction(up, live)
	if !equality.Semantic.DeepEqual(up, live) {
		var err error
		live, err = r.updateRC(ctx, live, func(rc *corev1.ReplicationController) {
			fresh := inPlace(rc, want)
			rc.Labels, rc.Annotations, rc.Spec = fresh.Labels, fresh.Annotations, fresh.Spec
		})
		if err != nil {
			return Result{}, err
		}
		r.step(live.Name, "updated the labels, annotations and replicas of %s; its pods are unchanged", live.Name)
	}
	ready := live.Status.ObservedGeneration >= live.Generation && live.Status.AvailableReplicas >= desired && live.Status.Replicas == desired
	if !ready {
		if err := r.ensureWatcher(ctx, live.Spec.Selector); err != nil {
			return Result{}, err
		}
		if err := r.roll(ctx, rollSpec{target: live, desired: desired, minReady: live.Spec.MinReadySeconds}); err != nil {
			return Result{}, r.interrupted(ctx, err, false)
		}
	}
	r.emit(Event{Type: EventDone, Desired: desired, Updated: desired, Ready: desired, Message: fmt.Sprintf("%s %s: the pod template is unchanged", want.Name, action)})
	return Result{Kind: kindRC, Name: want.Name, Action: action, Replicas: desired}, nil
}

// rollout rolls live's pods to want's template through next (created when
// nil), then gives next the original name.
func (r *rcRun) rollout(ctx context.Context, live, next, want *corev1.ReplicationController) (Result, error) {
	desired := desiredReplicas(want, live)
	minReady := r.minReadySeconds(want)
	f, err := r.fenceposts(desired, templateHostPort(want.Spec.Template))
	if err != nil {
		return Result{}, err
	}
	resumed := live.Annotations[AnnotationNextController] != ""
	selectors := []map[string]string{want.Spec.Selector, live.Spec.Selector}
	if next != nil {
		selectors = append(selectors, next.Spec.Selector)
	}
	if err := r.ensureWatcher(ctx, selectors...); err != nil {
		return Result{}, err
	}
	if resumed {
		r.emit(Event{Type: EventResumed, Desired: desired, Message: fmt.Sprintf("resuming the interrupted update of %s to %s", live.Name, live.Annotations[AnnotationNextController])})
	} else {
		r.emit(Event{Type: EventStarted, Desired: desired, Old: replicasOf(live),
			Message: fmt.Sprintf("rolling update of %s to a new pod template (%s): max surge %d, max unavailable %d", live.Name, imagesOf(want.Spec.Template), f.surge, f.unavailable)})
	}
	if f.notice != "" {
		r.emit(Event{Type: EventNotice, Message: f.notice})
	}

	// From here on every step changes the cluster; a failure leaves a state
	// that running deploy again resumes.
	live, oldHash, err := r.labelOld(ctx, live)
	if err != nil {
		return Result{}, r.interrupted(ctx, err, false)
	}
	var newHash string
	if next != nil {
		newHash = next.Spec.Selector[DeploymentLabel]
	} else {
		newHash = TemplateHash(want.Spec.Template)
		for salt := 1; newHash == oldHash; salt++ {
			newHash = hashWithSalt(want.Spec.Template, salt)
		}
	}
	nextName := want.Name + "-" + newHash
	if next != nil {
		nextName = next.Name
	}
	if live, err = r.annotateOld(ctx, live, nextName); err != nil {
		return Result{}, r.interrupted(ctx, err, false)
	}
	if next == nil {
		if next, err = r.createNext(ctx, want, live, nextName, newHash, desired); err != nil {
			return Result{}, r.interrupted(ctx, err, false)
		}
	}

	err = r.roll(ctx, rollSpec{target: next, source: live, desired: desired, f: f, minReady: minReady})
	if err != nil {
		return Result{}, r.failed(ctx, err, live, next)
	}
	// The old controller goes now, so the lock moves to the one that will
	// carry the name, and a deploy started meanwhile finds it there.
	if next, err = r.moveLock(ctx, next); err != nil {
		return Result{}, r.interrupted(ctx, err, false)
	}
	if err := r.deleteController(ctx, live, metav1.DeletePropagationBackground); err != nil {
		return Result{}, r.interrupted(ctx, err, false)
	}
	r.step(live.Name, "deleted the old controller %s", live.Name)
	final, err := r.rename(ctx, next, want)
	if err != nil {
		return Result{}, r.interrupted(ctx, err, false)
	}
	r.emit(Event{Type: EventDone, Desired: desired, Updated: desired, Ready: desired, Message: fmt.Sprintf("rolled out %s: %d pods on the new template", final.Name, desired)})
	return Result{Kind: kindRC, Name: want.Name, Action: ActionRolledOut, Replicas: desired}, nil
}

func imagesOf(t *corev1.PodTemplateSpec) string {
	s := ""
	for i, c := range t.Spec.Containers {
		if i > 0 {
			s += ", "
		}
		s += c.Image
	}
	return s
}

func (r *rcRun) fenceposts(desired int32, hostPort int32) (fenceposts, error) {
	surge := ptr.Deref(r.o.MaxSurge, DefaultMaxSurge)
	unavailable := ptr.Deref(r.o.MaxUnavailable, DefaultMaxUnavailable)
	return resolveFenceposts(surge, unavailable, desired, hostPort)
}

// failed handles an update that stopped: interrupted, it is left as it is
// for a resume; failed, it is rolled back unless NoRollback.
func (r *rcRun) failed(ctx context.Context, cause error, live, next *corev1.ReplicationController) error {
	if ctx.Err() != nil || !rollbackWorthy(cause) {
		return r.interrupted(ctx, cause, false)
	}
	r.emit(Event{Type: EventFailed, Controller: next.Name, Message: cause.Error()})
	if r.o.NoRollback {
		return &FailedError{Kind: kindRC, Name: r.name, Err: fmt.Errorf("%w; it was left in place: run deploy again to resume it or deploy --rollback to undo it", cause)}
	}
	// The rollback gets its own deadline: the update's may have passed.
	if _, err := r.rollback(ctx, live, next); err != nil {
		return &FailedError{Kind: kindRC, Name: r.name, Err: fmt.Errorf("%w; rolling back failed too: %w", cause, err)}
	}
	return &FailedError{Kind: kindRC, Name: r.name, RolledBack: true, Err: cause}
}

// interrupted wraps an error that stopped an update which can be resumed.
func (r *rcRun) interrupted(ctx context.Context, err error, rolledBack bool) error {
	var fe *FailedError
	if errors.As(err, &fe) {
		return err
	}
	switch {
	case ctx.Err() != nil:
		err = fmt.Errorf("interrupted (%w): run deploy again to resume", err)
	case !rollbackWorthy(err):
		err = fmt.Errorf("%w; the update was left in place: run deploy again to resume it", err)
	}
	return &FailedError{Kind: kindRC, Name: r.name, RolledBack: rolledBack, Err: err}
}

// rollback scales live back to its original size and deletes next,
// keeping the availability promise all the way.
func (r *rcRun) rollback(ctx context.Context, live, next *corev1.ReplicationController) (*corev1.ReplicationController, error) {
	original := replicasOf(live)
	if v, err := strconv.ParseInt(live.Annotations[AnnotationOriginalReplicas], 10, 32); err == nil {
		original = int32(v)
	}
	f, err := r.fenceposts(original, templateHostPort(live.Spec.Template))
	if err != nil {
		return nil, err
	}
	selectors := []map[string]string{live.Spec.Selector}
	if next != nil {
		selectors = append(selectors, next.Spec.Selector)
	}
	if err := r.ensureWatcher(ctx, selectors...); err != nil {
		return nil, err
	}
	r.emit(Event{Type: EventRollingBack, Desired: original, Message: fmt.Sprintf("rolling back to %s with %d replicas", live.Name, original)})
	spec := rollSpec{target: live, source: next, desired: original, f: f, minReady: live.Spec.MinReadySeconds}
	if err := r.roll(ctx, spec); err != nil {
		return nil, err
	}
	if next != nil {
		if err := r.deleteController(ctx, next, metav1.DeletePropagationBackground); err != nil {
			return nil, err
		}
		r.step(next.Name, "deleted the new controller %s", next.Name)
	}
	live, err = r.updateRC(ctx, live, func(rc *corev1.ReplicationController) {
		rc.Annotations = withoutLabel(rc.Annotations, AnnotationNextController)
		delete(rc.Annotations, AnnotationOriginalReplicas)
	})
	if err != nil {
		return nil, err
	}
	r.emit(Event{Type: EventRolledBack, Desired: original, Updated: original, Ready: original, Message: fmt.Sprintf("rolled back: %s runs %d pods of the previous template", live.Name, original)})
	return live, nil
}

// labelOld puts the deployment label on the old controller's template, its
// pods and then its selector, so its selector cannot select the new pods.
// The order matters: a pod that lost a label the selector requires would be
// released by the controller and replaced.
func (r *rcRun) labelOld(ctx context.Context, rc *corev1.ReplicationController) (*corev1.ReplicationController, string, error) {
	if v := rc.Spec.Selector[DeploymentLabel]; v != "" {
		return rc, v, nil
	}
	hash := rc.Spec.Template.Labels[DeploymentLabel]
	if hash == "" {
		hash = rc.Annotations[AnnotationTemplateHash]
	}
	if hash == "" {
		hash = TemplateHash(rc.Spec.Template)
	}
	var err error
	if rc.Spec.Template.Labels[DeploymentLabel] != hash {
		rc, err = r.updateRC(ctx, rc, func(c *corev1.ReplicationController) {
			c.Spec.Template.Labels = withLabel(c.Spec.Template.Labels, DeploymentLabel, hash)
		})
		if err != nil {
			return nil, "", err
		}
	}
	// Pods the replication manager creates from the template it had before
	// must exist, and so be labelled below, before the selector changes.
	if err := r.waitObserved(ctx, rc); err != nil {
		return nil, "", err
	}
	pods, err := r.Client.CoreV1().Pods(r.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(rc.Spec.Selector).String()})
	if err != nil {
		return nil, "", fmt.Errorf("cannot list the pods of %q: %w", rc.Name, err)
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{DeploymentLabel: hash}}})
	if err != nil {
		return nil, "", err
	}
	n := 0
	for i := range pods.Items {
		p := &pods.Items[i]
		if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != rc.UID || p.Labels[DeploymentLabel] == hash {
			continue
		}
		if _, err := r.Client.CoreV1().Pods(r.Namespace).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager}); err != nil && !apierrors.IsNotFound(err) {
			return nil, "", fmt.Errorf("cannot label pod %q: %w", p.Name, err)
		}
		n++
	}
	rc, err = r.updateRC(ctx, rc, func(c *corev1.ReplicationController) {
		c.Spec.Selector = withLabel(c.Spec.Selector, DeploymentLabel, hash)
	})
	if err != nil {
		return nil, "", err
	}
	r.step(rc.Name, "labelled %s, its template and its %d pods with %s=%s", rc.Name, n, DeploymentLabel, hash)
	return rc, hash, nil
}

// waitObserved waits until the replication manager has seen rc's current generation.
func (r *rcRun) waitObserved(ctx context.Context, rc *corev1.ReplicationController) error {
	deadline := time.Now().Add(r.o.timeout())
	for {
		cached, err := r.rcs.Get(rc.Name)
		if err == nil && cached.UID == rc.UID && cached.Generation >= rc.Generation && cached.Status.ObservedGeneration >= rc.Generation {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w for %s: the replication manager has not seen the change to %s; is kube-controller-manager running?", ErrNoProgress, r.o.timeout(), rc.Name)
		}
		if err := r.w.wait(ctx, deadline); err != nil {
			return err
		}
	}
}

// annotateOld records, on the old controller, which controller replaces it
// and its size before the update.
func (r *rcRun) annotateOld(ctx context.Context, rc *corev1.ReplicationController, next string) (*corev1.ReplicationController, error) {
	if rc.Annotations[AnnotationNextController] == next && rc.Annotations[AnnotationOriginalReplicas] != "" {
		return rc, nil
	}
	return r.updateRC(ctx, rc, func(c *corev1.ReplicationController) {
		c.Annotations = withLabel(c.Annotations, AnnotationNextController, next)
		if c.Annotations[AnnotationOriginalReplicas] == "" {
			c.Annotations[AnnotationOriginalReplicas] = strconv.Itoa(int(replicasOf(c)))
		}
	})
}

// createNext creates the new controller with no replicas yet.
func (r *rcRun) createNext(ctx context.Context, want, old *corev1.ReplicationController, name, hash string, desired int32) (*corev1.ReplicationController, error) {
	rc := r.newController(want, name, hash, 0)
	rc.Annotations[AnnotationUpdateSource] = sourceID(old)
	rc.Annotations[AnnotationDesiredReplicas] = strconv.Itoa(int(desired))
	rc.Annotations[AnnotationOriginalName] = want.Name
	created, err := r.Client.CoreV1().ReplicationControllers(r.Namespace).Create(ctx, rc, metav1.CreateOptions{FieldManager: FieldManager})
	if apierrors.IsAlreadyExists(err) {
		existing, gerr := r.get(ctx, name)
		if gerr == nil && existing != nil && existing.Annotations[AnnotationUpdateSource] == sourceID(old) {
			return existing, nil
		}
		return nil, fmt.Errorf("cannot create ReplicationController %q for the update of %q: a controller of that name exists and is not this update's; delete it or rename it", name, old.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot create ReplicationController %q: %w", name, err)
	}
	r.step(created.Name, "created %s for the new pod template", created.Name)
	return created, nil
}

// finalController is next as it will be under the original name.
func (r *rcRun) finalController(want, next *corev1.ReplicationController) *corev1.ReplicationController {
	rc := &corev1.ReplicationController{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: kindRC},
		ObjectMeta: metav1.ObjectMeta{
			Name:        next.Annotations[AnnotationOriginalName],
			Namespace:   r.Namespace,
			Labels:      maps.Clone(next.Labels),
			Annotations: maps.Clone(next.Annotations),
		},
		Spec: *next.Spec.DeepCopy(),
	}
	if want != nil && len(want.Labels) > 0 {
		rc.Labels = maps.Clone(want.Labels)
	}
	for _, a := range updateAnnotations {
		delete(rc.Annotations, a)
	}
	return rc
}

// rename gives next the original name: it is deleted with its pods
// orphaned, and re-created under the original name with the same selector,
// so that it adopts the running pods instead of starting new ones.
func (r *rcRun) rename(ctx context.Context, next, want *corev1.ReplicationController) (*corev1.ReplicationController, error) {
	// The copy must have next's current size: with fewer replicas it would
	// adopt the pods only to delete some.
	fresh, err := r.get(ctx, next.Name)
	if err != nil {
		return nil, err
	}
	if fresh != nil && fresh.UID == next.UID {
		next = fresh
	}
	final := r.finalController(want, next)
	if err := r.ensureWatcher(ctx, want.Spec.Selector, next.Spec.Selector); err != nil {
		return nil, err
	}
	if err := r.deleteController(ctx, next, metav1.DeletePropagationOrphan); err != nil {
		return nil, err
	}
	created, err := r.Client.CoreV1().ReplicationControllers(r.Namespace).Create(ctx, final, metav1.CreateOptions{FieldManager: FieldManager})
	if err != nil {
		return nil, fmt.Errorf("cannot re-create ReplicationController %q from %q: %w", final.Name, next.Name, err)
	}
	// The copy carries next's annotations, the lock among them.
	if r.lk.held() {
		r.lk.setCarrier(created.Name)
	}
	r.step(created.Name, "renamed %s to %s; its pods were kept", next.Name, created.Name)
	desired := replicasOf(created)
	// The pods only change owner here, so their counts would tell nothing.
	if err := r.roll(ctx, rollSpec{target: created, desired: desired, minReady: created.Spec.MinReadySeconds, quiet: true}); err != nil {
		return nil, err
	}
	return created, nil
}

// deleteController deletes rc (only that very object) and waits until it is
// gone; with orphan propagation that includes releasing its pods.
func (r *rcRun) deleteController(ctx context.Context, rc *corev1.ReplicationController, propagation metav1.DeletionPropagation) error {
	if rc.DeletionTimestamp == nil {
		err := r.Client.CoreV1().ReplicationControllers(r.Namespace).Delete(ctx, rc.Name, metav1.DeleteOptions{
			Preconditions:     metav1.NewUIDPreconditions(string(rc.UID)),
			PropagationPolicy: &propagation,
		})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("cannot delete ReplicationController %q: %w", rc.Name, err)
		}
	}
	deadline := time.Now().Add(r.o.timeout())
	for {
		cached, err := r.rcs.Get(rc.Name)
		if apierrors.IsNotFound(err) || (err == nil && cached.UID != rc.UID) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w for %s: ReplicationController %q is still being deleted; is the garbage collector in kube-controller-manager running?", ErrNoProgress, r.o.timeout(), rc.Name)
		}
		if err := r.w.wait(ctx, deadline); err != nil {
			return err
		}
	}
}

// updateRC applies mutate to the current version of rc and writes it,
// retrying on conflicts; it refuses to touch another object of the same name.
func (r *rcRun) updateRC(ctx context.Context, rc *corev1.ReplicationController, mutate func(*corev1.ReplicationController)) (*corev1.ReplicationController, error) {
	rcs := r.Client.CoreV1().ReplicationControllers(r.Namespace)
	var out *corev1.ReplicationController
	first := true
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := rc.DeepCopy()
		if !first {
			var err error
			if cur, err = rcs.Get(ctx, rc.Name, metav1.GetOptions{}); err != nil {
				return err
			}
			if cur.UID != rc.UID {
				return fmt.Errorf("ReplicationController %q was replaced by another object during the update", rc.Name)
			}
		}
		first = false
		mutate(cur)
		var err error
		out, err = rcs.Update(ctx, cur, metav1.UpdateOptions{FieldManager: FieldManager})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cannot update ReplicationController %q: %w", rc.Name, err)
	}
	return out, nil
}
