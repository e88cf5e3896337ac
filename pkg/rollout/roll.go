package rollout

import (
	"context"
	"fmt"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/kubectl/pkg/util/podutils"
)

// rollSpec is one scaling run: the target grows to desired while the source
// (if any) shrinks to zero.
type rollSpec struct {
	target   *corev1.ReplicationController
	source   *corev1.ReplicationController
	desired  int32
	f        fenceposts
	minReady int32
	// quiet waits without progress events, for a wait that changes no pods.
	quiet bool
}

// roll scales target up and source down step by step, waking on every
// change the informers see, until target has desired available pods and
// source none. It fails when a target pod cannot start or when nothing
// improves for the timeout.
func (r *rcRun) roll(ctx context.Context, s rollSpec) error {
	timeout := r.o.timeout()
	progressAt := time.Now()
	var lastWrite time.Time
	written := map[types.UID]int64{}
	bestReady, leastOld := int32(-1), int32(math.MaxInt32)
	var shown Event
	for {
		if err := r.w.failed(); err != nil {
			return fmt.Errorf("lost the watch on namespace %q: %w", r.Namespace, err)
		}
		now := time.Now()
		tgt, ok, err := r.cached(ctx, s.target)
		if err != nil {
			return err
		}
		var src *corev1.ReplicationController
		if ok && s.source != nil {
			src, ok, err = r.cached(ctx, s.source)
			if err != nil {
				return err
			}
		}
		if !ok {
			// Created or changed by this run, and not yet in the cache.
			if err := r.w.wait(ctx, now.Add(timeout)); err != nil {
				return err
			}
			continue
		}
		tPods, sPods := r.podsOf(tgt), r.podsOf(src)
		t, so := sideOf(tgt, tPods, s.minReady, now), sideOf(src, sPods, s.minReady, now)

		leaving := anyLeaving(tPods) || anyLeaving(sPods)
		for _, p := range tPods {
			if f := podFailure(p, leaving); f != nil {
				return f
			}
		}
		if err := replicaFailure(tgt); err != nil {
			return err
		}

		ev := Event{Type: EventProgress, Controller: tgt.Name, Desired: s.desired, Updated: activeCount(tPods), Ready: t.Available, Old: activeCount(sPods)}
		if !s.quiet && (ev.Updated != shown.Updated || ev.Ready != shown.Ready || ev.Old != shown.Old || ev.Desired != shown.Desired) {
			ev.Message = fmt.Sprintf("%d/%d ready, %d updated, %d old", ev.Ready, ev.Desired, ev.Updated, ev.Old)
			r.emit(ev)
			shown = ev
		}
		if t.Available > bestReady || so.Pods < leastOld {
			bestReady, leastOld = max(bestReady, t.Available), min(leastOld, so.Pods)
			progressAt = now
		}
		if finished(s.desired, t, so) {
			return nil
		}
		deadline := progressAt.Add(timeout)
		if !now.Before(deadline) {
			return fmt.Errorf("%w for %s: %d of %d pods of %s available%s", ErrNoProgress, timeout, t.Available, s.desired, tgt.Name, notReadyDetail(tPods))
		}
		wake := deadline
		if settled(tgt, tPods, written) && settled(src, sPods, written) {
			nt, ns := nextStep(s.desired, s.f, t, so)
			if nt != t.Replicas || ns != so.Replicas {
				if at := lastWrite.Add(r.o.UpdatePeriod); now.Before(at) {
					wake = earliest(wake, at)
				} else {
					if nt != t.Replicas {
						if written[tgt.UID], err = r.scale(ctx, tgt, nt); err != nil {
							return err
						}
					}
					if ns != so.Replicas {
						if written[src.UID], err = r.scale(ctx, src, ns); err != nil {
							return err
						}
					}
					lastWrite, progressAt = now, now
					continue
				}
			}
		}
		if at := nextAvailable(tPods, s.minReady, now); !at.IsZero() {
			wake = earliest(wake, at)
		}
		if at := nextAvailable(sPods, s.minReady, now); !at.IsZero() {
			wake = earliest(wake, at)
		}
		if err := r.w.wait(ctx, wake); err != nil {
			return err
		}
	}
}

// cached returns rc as the informer sees it. ok is false while the cache
// lags behind the API for an object this run created.
func (r *rcRun) cached(ctx context.Context, rc *corev1.ReplicationController) (*corev1.ReplicationController, bool, error) {
	c, err := r.rcs.Get(rc.Name)
	if err == nil && c.UID == rc.UID {
		return c, true, nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, false, err
	}
	live, err := r.get(ctx, rc.Name)
	if err != nil {
		return nil, false, err
	}
	if live == nil || live.UID != rc.UID {
		return nil, false, fmt.Errorf("ReplicationController %q was deleted during the update by someone else; run deploy again", rc.Name)
	}
	return nil, false, nil
}

// scale sets rc's replicas and returns the generation the change has.
func (r *rcRun) scale(ctx context.Context, rc *corev1.ReplicationController, replicas int32) (int64, error) {
	// The uid makes the patch fail rather than touch a re-created namesake.
	patch := fmt.Appendf(nil, `{"metadata":{"uid":%q},"spec":{"replicas":%d}}`, rc.UID, replicas)
	out, err := r.Client.CoreV1().ReplicationControllers(r.Namespace).Patch(ctx, rc.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager})
	if err != nil {
		return 0, fmt.Errorf("cannot scale ReplicationController %q to %d: %w", rc.Name, replicas, err)
	}
	dir := "up"
	if replicas < replicasOf(rc) {
		dir = "down"
	}
	r.step(rc.Name, "scaled %s %s to %d", rc.Name, dir, replicas)
	return out.Generation, nil
}

// podsOf returns the cached pods rc controls.
func (r *rcRun) podsOf(rc *corev1.ReplicationController) []*corev1.Pod {
	if rc == nil {
		return nil
	}
	all, err := r.pods.List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*corev1.Pod
	for _, p := range all {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == rc.UID {
			out = append(out, p)
		}
	}
	return out
}

// active tells whether the replication manager counts a pod as one of its replicas.
func active(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

func activeCount(pods []*corev1.Pod) int32 {
	var n int32
	for _, p := range pods {
		if active(p) {
			n++
		}
	}
	return n
}

func anyLeaving(pods []*corev1.Pod) bool {
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			return true
		}
	}
	return false
}

func sideOf(rc *corev1.ReplicationController, pods []*corev1.Pod, minReady int32, now time.Time) side {
	if rc == nil {
		return side{}
	}
	s := side{Replicas: replicasOf(rc), Pods: int32(len(pods))}
	for _, p := range pods {
		if active(p) && podutils.IsPodAvailable(p, minReady, metav1.NewTime(now)) {
			s.Available++
		}
	}
	return s
}

// settled tells whether the cache shows rc after this run's last change to
// it and the replication manager has caught up: it has as many pods as
// replicas.
func settled(rc *corev1.ReplicationController, pods []*corev1.Pod, written map[types.UID]int64) bool {
	if rc == nil {
		return true
	}
	return rc.Generation >= written[rc.UID] &&
		rc.Status.ObservedGeneration >= rc.Generation &&
		activeCount(pods) == replicasOf(rc)
}

// nextAvailable is the earliest time a Ready pod becomes available, or zero.
func nextAvailable(pods []*corev1.Pod, minReady int32, now time.Time) time.Time {
	var at time.Time
	if minReady == 0 {
		return at
	}
	for _, p := range pods {
		if !active(p) || !podutils.IsPodReady(p) || podutils.IsPodAvailable(p, minReady, metav1.NewTime(now)) {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				t := c.LastTransitionTime.Add(time.Duration(minReady)*time.Second + 10*time.Millisecond)
				at = earliest(at, t)
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

// notReadyDetail names one pod that is not Ready and why, for the timeout message.
func notReadyDetail(pods []*corev1.Pod) string {
	for _, p := range pods {
		if !active(p) || podutils.IsPodReady(p) {
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
