package nodeagent

import (
	"cmp"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/envops/kubectl-envops/pkg/kube"
)

// unschedulable returns the scheduler's message when it could not place p.
func unschedulable(p *corev1.Pod) (string, bool) {
	if p.Spec.NodeName != "" {
		return "", false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return c.Message, true
		}
	}
	return "", false
}

// intendedNode is the node a pod runs on or, for a DaemonSet pod not yet
// scheduled, the node its required affinity pins it to.
func intendedNode(p *corev1.Pod) string {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName
	}
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range term.MatchFields {
			if f.Key == metav1.ObjectNameField && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// podsByNode groups the active pods by the node they run on or are meant for.
func podsByNode(pods []*corev1.Pod) map[string][]*corev1.Pod {
	out := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if !kube.IsPodActive(p) {
			continue
		}
		if n := intendedNode(p); n != "" {
			out[n] = append(out[n], p)
		}
	}
	// Ready pods first, so a node's best pod speaks for it.
	rank := func(p *corev1.Pod) int {
		if podutils.IsPodReady(p) {
			return 0
		}
		return 1
	}
	for _, list := range out {
		slices.SortStableFunc(list, func(a, b *corev1.Pod) int { return cmp.Compare(rank(a), rank(b)) })
	}
	return out
}

// uncovered returns the schedulable nodes without an active agent pod.
func uncovered(set NodeSet, pods []*corev1.Pod) []string {
	byNode := podsByNode(pods)
	var out []string
	for _, n := range set.Schedulable {
		if len(byNode[n]) == 0 {
			out = append(out, n)
		}
	}
	return out
}
