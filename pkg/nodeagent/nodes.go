package nodeagent

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
)

// Exclusion is a node the agent's pods cannot be scheduled on, and why.
type Exclusion struct {
	Node   string `json:"node"`
	Reason string `json:"reason"`
}

// NodeSet splits nodes into those an agent pod can be scheduled on and the rest.
type NodeSet struct {
	// Schedulable are the nodes that should each run one agent, sorted.
	Schedulable []string `json:"schedulable"`
	// Excluded are the other nodes, sorted by name.
	Excluded []Exclusion `json:"excluded,omitempty"`
}

// Count is the number of schedulable nodes: the replicas the
// ReplicationController fallback needs.
func (n NodeSet) Count() int32 { return int32(len(n.Schedulable)) }

// ClassifyNodes decides, as the scheduler would for a pod of tmpl, which
// nodes can take one: cordoned nodes, nodes with a NoSchedule or NoExecute
// taint the pod does not tolerate (the node lifecycle controller taints
// NotReady nodes so), and nodes outside the pod's node selector or required
// affinity are excluded. Host ports are not considered: they are exactly
// what the agent's own pods compete for.
func ClassifyNodes(nodes []*corev1.Node, tmpl *corev1.PodTemplateSpec) NodeSet {
	var set NodeSet
	var tolerations []corev1.Toleration
	pod := &corev1.Pod{}
	if tmpl != nil {
		tolerations = tmpl.Spec.Tolerations
		pod.Spec = tmpl.Spec
	}
	affinity := nodeaffinity.GetRequiredNodeAffinity(pod)
	for _, n := range nodes {
		if reason := exclusion(n, tolerations, affinity); reason != "" {
			set.Excluded = append(set.Excluded, Exclusion{Node: n.Name, Reason: reason})
			continue
		}
		set.Schedulable = append(set.Schedulable, n.Name)
	}
	slices.Sort(set.Schedulable)
	slices.SortFunc(set.Excluded, func(a, b Exclusion) int { return strings.Compare(a.Node, b.Node) })
	return set
}

func exclusion(n *corev1.Node, tolerations []corev1.Toleration, affinity nodeaffinity.RequiredNodeAffinity) string {
	if n.DeletionTimestamp != nil {
		return "being deleted"
	}
	if n.Spec.Unschedulable {
		// The scheduler expresses cordoning as this taint, which a pod
		// may tolerate.
		t := corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}
		if !corev1helpers.TolerationsTolerateTaint(klog.Background(), tolerations, &t, false) {
			return "cordoned"
		}
	}
	if t, untolerated := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), n.Spec.Taints, tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
	}, false); untolerated {
		return fmt.Sprintf("taint %s", t.ToString())
	}
	if ok, err := affinity.Match(n); err != nil || !ok {
		return "outside the agent's node selector"
	}
	return ""
}
