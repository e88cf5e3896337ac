package rollout

import (
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/kubectl/pkg/util/podutils"
	"k8s.io/utils/ptr"

	"github.com/envops/kubectl-envops/pkg/kube"
)

// observed is what the updater sees of one controller at one moment.
type observed struct {
	rc *corev1.ReplicationController
	// pods are the pods the controller owns, terminating ones included.
	pods []*corev1.Pod
	// deleted are pods this run asked to delete that the cache may still
	// show alive; they count as gone.
	deleted map[types.UID]bool
	now     time.Time
}

// target is what an update heads for.
type target struct {
	// hash is the template hash of the new pods.
	hash    string
	desired int32
	f       fenceposts
	// minReady is how long a pod must be Ready to count as available.
	minReady int32
	// pauseAfter, when above zero, stops once that many new pods are
	// available, leaving the rest of the old pods in place.
	pauseAfter int32
}

// stepKind is what the updater does next.
type stepKind int

const (
	// stepWait: nothing to do until the cluster changes.
	stepWait stepKind = iota
	// stepScale: set the controller's replicas.
	stepScale
	// stepDelete: delete these old pods; the replication manager replaces them.
	stepDelete
	// stepPause: the canary is in place; record the pause and stop.
	stepPause
	// stepDone: every pod runs the new template and the status says so.
	stepDone
)

// step is the planner's answer.
type step struct {
	kind     stepKind
	replicas int32
	pods     []*corev1.Pod
}

// counts summarises the pods of an observation against a target.
type counts struct {
	// newActive and oldActive count pods the replication manager counts as
	// replicas (not terminating, not finished), by template.
	newActive, oldActive int32
	// newAvailable and oldAvailable count the available ones among them.
	newAvailable, oldAvailable int32
}

func (c counts) available() int32 { return c.newAvailable + c.oldAvailable }

// isNew tells whether a pod runs the target template.
func isNew(p *corev1.Pod, hash string) bool { return p.Labels[TemplateHashLabel] == hash }

// alive tells whether a pod still counts as one of the controller's replicas.
func (o *observed) alive(p *corev1.Pod) bool {
	return kube.IsPodActive(p) && !o.deleted[p.UID]
}

func (o *observed) available(p *corev1.Pod, minReady int32) bool {
	return o.alive(p) && podutils.IsPodAvailable(p, minReady, metav1.NewTime(o.now))
}

func (o *observed) count(t target) counts {
	var c counts
	for _, p := range o.pods {
		if !o.alive(p) {
			continue
		}
		avail := o.available(p, t.minReady)
		if isNew(p, t.hash) {
			c.newActive++
			if avail {
				c.newAvailable++
			}
		} else {
			c.oldActive++
			if avail {
				c.oldAvailable++
			}
		}
	}
	return c
}

// plan decides the next step of an update from one observation, and from
// nothing else: the updater keeps no memory between steps beyond the pods it
// has just deleted, so a run that starts from any state (a resume after a
// crash included) makes the same decisions.
//
// While old pods remain, the controller runs desired+surge replicas and old
// pods are deleted, the unavailable ones first (they cost no availability),
// then as many available ones as keep the available pods at or above
// desired-maxUnavailable; the replication manager replaces each with a new
// pod. With no old pod left, replicas return to desired, and the update is
// done once the controller's status has observed that and reports every
// replica ready.
func plan(o *observed, t target) step {
	c := o.count(t)
	replicas := ptr.Deref(o.rc.Spec.Replicas, 1)
	keepOld := int32(0)
	if t.pauseAfter > 0 {
		keepOld = max(0, t.desired-t.pauseAfter)
	}
	if c.oldActive > keepOld {
		if want := t.desired + t.f.surge; replicas != want {
			return step{kind: stepScale, replicas: want}
		}
		floor := max(0, t.desired-t.f.unavailable)
		budget := c.available() - floor
		victims := o.oldVictims(t, budget, c.oldActive-keepOld)
		if len(victims) > 0 {
			return step{kind: stepDelete, pods: victims}
		}
		return step{kind: stepWait}
	}
	if replicas != t.desired {
		return step{kind: stepScale, replicas: t.desired}
	}
	if !o.settled(t.desired) {
		return step{kind: stepWait}
	}
	if c.oldActive > 0 {
		if c.newAvailable >= min(t.pauseAfter, t.desired) {
			return step{kind: stepPause}
		}
		return step{kind: stepWait}
	}
	if c.newAvailable == t.desired && c.newActive == t.desired {
		return step{kind: stepDone}
	}
	return step{kind: stepWait}
}

// settled tells whether the controller's status reflects its current spec
// and every replica it wants is ready: what "kubectl get rc" shows.
func (o *observed) settled(desired int32) bool {
	s := o.rc.Status
	return s.ObservedGeneration >= o.rc.Generation && s.Replicas == desired &&
		s.ReadyReplicas == desired && s.AvailableReplicas == desired
}

// oldVictims picks at most limit old pods to delete: every unavailable one,
// then up to budget available ones, the least established first.
func (o *observed) oldVictims(t target, budget, limit int32) []*corev1.Pod {
	var unavailable, available []*corev1.Pod
	for _, p := range o.pods {
		if !o.alive(p) || isNew(p, t.hash) {
			continue
		}
		if o.available(p, t.minReady) {
			available = append(available, p)
		} else {
			unavailable = append(unavailable, p)
		}
	}
	sort.Slice(unavailable, func(i, j int) bool { return unavailable[i].Name < unavailable[j].Name })
	// Among available pods, the youngest go first, as the replication
	// manager itself would choose.
	sort.Slice(available, func(i, j int) bool {
		ti, tj := available[i].CreationTimestamp, available[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return tj.Before(&ti)
		}
		return available[i].Name < available[j].Name
	})
	out := unavailable
	if budget > 0 {
		out = append(out, available[:min(int(budget), len(available))]...)
	}
	if int32(len(out)) > limit {
		out = out[:limit]
	}
	return out
}
