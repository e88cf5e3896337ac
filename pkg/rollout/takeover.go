package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// Earlier releases rolled a ReplicationController through a second one
// (APP-<hash>) whose selector and pods carried a "deployment" label, and
// renamed it at the end. A controller they left, finished or in flight, is
// taken over before anything else: its pods get the template-hash label, its
// selector loses the deployment key, and the second controller's pods are
// adopted by the app's own controller, so that no pod restarts needlessly.

// DeploymentLabel is the selector key earlier releases added; it is removed
// from the selector of any controller an update finds it on.
const DeploymentLabel = "deployment"

// Annotations of the two-controller update of earlier releases.
const (
	legacyNextController   = annotationPrefix + "next-controller"
	legacyOriginalReplicas = annotationPrefix + "original-replicas"
	legacyUpdateSource     = annotationPrefix + "update-source"
	legacyDesiredReplicas  = annotationPrefix + "desired-replicas"
	legacyOriginalName     = annotationPrefix + "original-name"
)

// legacyAnnotations are removed from a controller once it is taken over.
var legacyAnnotations = []string{legacyNextController, legacyOriginalReplicas, legacyUpdateSource, legacyDesiredReplicas, legacyOriginalName, AnnotationTakeover, annotationPrefix + "lock"}

// isLegacy tells whether rc needs taking over: it lacks the template-hash
// label, or carries what an earlier release's update left on it.
func isLegacy(rc *corev1.ReplicationController) bool {
	if rc.Spec.Template == nil {
		return false
	}
	if _, ok := rc.Spec.Selector[DeploymentLabel]; ok {
		return true
	}
	if rc.Spec.Template.Labels[TemplateHashLabel] == "" {
		return true
	}
	for _, a := range legacyAnnotations {
		if _, ok := rc.Annotations[a]; ok {
			return true
		}
	}
	return false
}

// simplified is rc as a takeover leaves it when no second controller runs.
func simplified(rc *corev1.ReplicationController) *corev1.ReplicationController {
	out := rc.DeepCopy()
	hash := templateHashOf(rc)
	out.Spec.Selector = copyWithout(rc.Spec.Selector, DeploymentLabel)
	if rc.Spec.Template != nil {
		out.Spec.Template = hashedTemplate(rc.Spec.Template, hash)
		out.Annotations = copyWith(copyWithout(rc.Annotations, legacyAnnotations...), AnnotationTemplateHash, hash)
	}
	return out
}

// takeOver brings a controller left by an earlier release under this
// updater and returns it as it is then (nil when it does not exist).
func (r *rcRun) takeOver(ctx context.Context, name string, live, want *corev1.ReplicationController) (*corev1.ReplicationController, error) {
	if live == nil {
		next, err := r.findRenaming(ctx, name)
		if err != nil || next == nil {
			return nil, err
		}
		return r.adoptRenaming(ctx, next, want)
	}
	if !isLegacy(live) {
		return live, nil
	}
	nextName := live.Annotations[AnnotationTakeover]
	if nextName == "" {
		nextName = live.Annotations[legacyNextController]
	}
	var next *corev1.ReplicationController
	if nextName != "" {
		n, err := r.get(ctx, nextName)
		if err != nil {
			return nil, err
		}
		if n != nil && (n.Annotations[legacyUpdateSource] == live.Name+":"+string(live.UID) || live.Annotations[AnnotationTakeover] == n.Name) {
			next = n
		}
	}
	if next == nil {
		return r.simplify(ctx, live)
	}
	return r.adoptInFlight(ctx, live, next, want)
}

// simplify relabels the pods of a controller with no second controller and
// rewrites its selector and template labels.
func (r *rcRun) simplify(ctx context.Context, live *corev1.ReplicationController) (*corev1.ReplicationController, error) {
	if err := r.labelPods(ctx, live, templateHashOf(live)); err != nil {
		return nil, err
	}
	out, err := r.update(ctx, live, func(rc *corev1.ReplicationController) {
		s := simplified(rc)
		if v, err := strconv.ParseInt(rc.Annotations[legacyOriginalReplicas], 10, 32); err == nil && rc.Annotations[legacyNextController] != "" {
			// The earlier release had recorded the size before its update.
			s.Spec.Replicas = ptr.To(int32(v))
		}
		*rc = *s
	})
	if err != nil {
		return nil, err
	}
	r.step("took over %s from an earlier release: its pods carry %s, its selector is %s", live.Name, TemplateHashLabel, labels.FormatLabels(out.Spec.Selector))
	return out, nil
}

// adoptInFlight turns a two-controller update of an earlier release into
// an update of live alone: live takes the new template and, once the second
// controller is deleted with its pods orphaned, adopts those pods.
func (r *rcRun) adoptInFlight(ctx context.Context, live, next *corev1.ReplicationController, want *corev1.ReplicationController) (*corev1.ReplicationController, error) {
	newHash := templateHashOf(next)
	if live.Annotations[AnnotationTakeover] == "" {
		if err := r.labelPods(ctx, live, templateHashOf(live)); err != nil {
			return nil, err
		}
		desired := ptr.Deref(next.Spec.Replicas, 1)
		if v, err := strconv.ParseInt(next.Annotations[legacyDesiredReplicas], 10, 32); err == nil {
			desired = int32(v)
		}
		if want != nil && want.Spec.Replicas != nil {
			desired = *want.Spec.Replicas
		}
		var err error
		live, err = r.update(ctx, live, func(rc *corev1.ReplicationController) {
			original := ptr.Deref(rc.Spec.Replicas, 1)
			if v, err := strconv.ParseInt(rc.Annotations[legacyOriginalReplicas], 10, 32); err == nil {
				original = int32(v)
			}
			revisions := pushRevision(simplified(rc), original, newHash)
			s := simplified(rc)
			s.Spec.Template = hashedTemplate(next.Spec.Template, newHash)
			// Room for the pods it is about to adopt, so that adopting
			// them deletes none; the planner brings the size down again.
			s.Spec.Replicas = ptr.To(ptr.Deref(rc.Spec.Replicas, 1) + ptr.Deref(next.Spec.Replicas, 1))
			s.Annotations[AnnotationTemplateHash] = newHash
			s.Annotations[AnnotationRevisions] = revisions
			s.Annotations[AnnotationUpdate] = UpdateState{Desired: desired}.encode()
			s.Annotations[AnnotationTakeover] = next.Name
			*rc = *s
		})
		if err != nil {
			return nil, err
		}
	}
	if err := r.labelPods(ctx, next, newHash); err != nil {
		return nil, err
	}
	if err := r.orphanDelete(ctx, next); err != nil {
		return nil, err
	}
	if err := r.annotate(ctx, live, AnnotationTakeover, nil); err != nil {
		return nil, err
	}
	r.step("took over the update of %s from an earlier release: %s was removed and its pods adopted", live.Name, next.Name)
	return r.get(ctx, live.Name)
}

// adoptRenaming finishes the rename an earlier release was interrupted in:
// the second controller is deleted with its pods orphaned, and the app's
// controller is created with the simplified selector, adopting them.
func (r *rcRun) adoptRenaming(ctx context.Context, next, want *corev1.ReplicationController) (*corev1.ReplicationController, error) {
	hash := templateHashOf(next)
	if err := r.labelPods(ctx, next, hash); err != nil {
		return nil, err
	}
	if err := r.orphanDelete(ctx, next); err != nil {
		return nil, err
	}
	s := simplified(next)
	rc := &corev1.ReplicationController{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: kindRC},
		ObjectMeta: metav1.ObjectMeta{Name: r.name, Namespace: r.Namespace, Labels: s.Labels, Annotations: s.Annotations},
		Spec:       s.Spec,
	}
	if v, err := strconv.ParseInt(next.Annotations[legacyDesiredReplicas], 10, 32); err == nil && int32(v) != ptr.Deref(rc.Spec.Replicas, 1) {
		rc.Annotations[AnnotationUpdate] = UpdateState{Desired: int32(v)}.encode()
	}
	if want != nil && len(want.Labels) > 0 {
		rc.Labels = merged(rc.Labels, want.Labels)
	}
	if err := fence(ctx, r.Namespace); err != nil {
		return nil, err
	}
	created, err := r.Client.CoreV1().ReplicationControllers(r.Namespace).Create(ctx, rc, metav1.CreateOptions{FieldManager: FieldManager})
	if err != nil {
		return nil, fmt.Errorf("cannot create ReplicationController %q to adopt the pods of %q: %w", r.name, next.Name, err)
	}
	r.step("took over the update of %s from an earlier release: %s was removed and its pods adopted", r.name, next.Name)
	return created, nil
}

// findRenaming finds the second controller of an earlier release's update
// that had already deleted the controller named name.
func (r *rcRun) findRenaming(ctx context.Context, name string) (*corev1.ReplicationController, error) {
	list, err := r.Client.CoreV1().ReplicationControllers(r.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("cannot list ReplicationControllers in namespace %q: %w", r.Namespace, err)
	}
	for i := range list.Items {
		if list.Items[i].Annotations[legacyOriginalName] == name {
			return &list.Items[i], nil
		}
	}
	return nil, nil
}

// labelPods puts the template-hash label on rc's pods that lack it.
func (r *rcRun) labelPods(ctx context.Context, rc *corev1.ReplicationController, hash string) error {
	list, err := r.Client.CoreV1().Pods(r.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(copyWithout(rc.Spec.Selector, DeploymentLabel)).String()})
	if err != nil {
		return fmt.Errorf("cannot list the pods of %q: %w", rc.Name, err)
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{TemplateHashLabel: hash}}})
	if err := fence(ctx, r.Namespace); err != nil {
		return err
	}
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, deleteParallelism)
	var wg sync.WaitGroup
	for i := range list.Items {
		p := &list.Items[i]
		if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != rc.UID || p.Labels[TemplateHashLabel] == hash {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, err := r.Client.CoreV1().Pods(r.Namespace).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager})
			if err != nil && !apierrors.IsNotFound(err) {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("cannot label pod %q: %w", p.Name, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// orphanDelete deletes rc, only that very object, leaving its pods, and
// waits until it is gone, which includes the release of its pods.
func (r *rcRun) orphanDelete(ctx context.Context, rc *corev1.ReplicationController) error {
	rcs := r.Client.CoreV1().ReplicationControllers(r.Namespace)
	if err := fence(ctx, r.Namespace); err != nil {
		return err
	}
	err := rcs.Delete(ctx, rc.Name, metav1.DeleteOptions{
		Preconditions:     metav1.NewUIDPreconditions(string(rc.UID)),
		PropagationPolicy: ptr.To(metav1.DeletePropagationOrphan),
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("cannot delete ReplicationController %q: %w", rc.Name, err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, r.o.timeout(), true, func(ctx context.Context) (bool, error) {
		cur, err := rcs.Get(ctx, rc.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, nil
		}
		return cur.UID != rc.UID, nil
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("%w for %s: ReplicationController %q is still being deleted; is the garbage collector in kube-controller-manager running?", ErrNoProgress, r.o.timeout(), rc.Name)
	}
	return err
}

// update applies mutate to the current version of rc and writes it,
// retrying on conflicts; it refuses to touch another object of that name.
func (r *rcRun) update(ctx context.Context, rc *corev1.ReplicationController, mutate func(*corev1.ReplicationController)) (*corev1.ReplicationController, error) {
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
		if err := fence(ctx, r.Namespace); err != nil {
			return err
		}
		var err error
		out, err = rcs.Update(ctx, cur, metav1.UpdateOptions{FieldManager: FieldManager})
		return err
	})
	var lost *LockLostError
	if errors.As(err, &lost) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("cannot update ReplicationController %q: %w", rc.Name, err)
	}
	return out, nil
}

// UpdateInProgress tells whether rc is in the middle of an update: its own,
// or a second controller's left by an earlier release.
func UpdateInProgress(rc *corev1.ReplicationController) bool {
	_, ok := rc.Annotations[AnnotationUpdate]
	return ok || rc.Annotations[legacyNextController] != "" || rc.Annotations[legacyOriginalName] != ""
}

// RenamingTo is, for the second controller of an earlier release's update
// that had already removed the first, the name it was to take; else "".
func RenamingTo(rc *corev1.ReplicationController) string {
	return rc.Annotations[legacyOriginalName]
}
