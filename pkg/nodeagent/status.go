package nodeagent

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/envops/kubectl-envops/pkg/kube"
)

// NodeStatus says whether one node runs a Ready agent.
type NodeStatus struct {
	Node string `json:"node"`
	// Pod is the node's agent pod, "" when it has none.
	Pod   string `json:"pod,omitempty"`
	Ready bool   `json:"ready"`
	// Schedulable is false for nodes the agent does not have to cover.
	Schedulable bool `json:"schedulable"`
	// Reason says why a node has no Ready agent, or why it is not counted.
	Reason string `json:"reason,omitempty"`
}

// Status is the coverage of the nodes by one agent.
type Status struct {
	Kind      string       `json:"kind"`
	Name      string       `json:"name"`
	Namespace string       `json:"namespace"`
	Nodes     []NodeStatus `json:"nodes"`
	// Unplaced are agent pods the scheduler has not placed on any node.
	Unplaced []UnplacedPod `json:"unplaced,omitempty"`
	// Updating names the controller of a rolling update in progress.
	Updating string `json:"updating,omitempty"`
}

// UnplacedPod is an agent pod waiting for a node.
type UnplacedPod struct {
	Pod     string `json:"pod"`
	Message string `json:"message,omitempty"`
}

// Covered counts the schedulable nodes with a Ready agent, and all
// schedulable nodes.
func (s *Status) Covered() (ready, schedulable int) {
	for _, n := range s.Nodes {
		if n.Schedulable {
			schedulable++
			if n.Ready {
				ready++
			}
		}
	}
	return ready, schedulable
}

// Missing lists the schedulable nodes without a Ready agent.
func (s *Status) Missing() []string {
	var out []string
	for _, n := range s.Nodes {
		if n.Schedulable && !n.Ready {
			out = append(out, n.Node)
		}
	}
	return out
}

// GetStatus reports, node by node, whether the named agent runs there and
// is Ready.
func GetStatus(ctx context.Context, client kubernetes.Interface, namespace, name string) (*Status, error) {
	a, err := find(ctx, client, namespace, name)
	if err != nil {
		return nil, err
	}
	nodeList, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("cannot list nodes: %w", err)
	}
	podList, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: a.Selector.String()})
	if err != nil {
		return nil, fmt.Errorf("cannot list the pods of %s in namespace %q: %w", a.Ref(), namespace, err)
	}
	nodes := make([]*corev1.Node, 0, len(nodeList.Items))
	for i := range nodeList.Items {
		nodes = append(nodes, &nodeList.Items[i])
	}
	pods := make([]*corev1.Pod, 0, len(podList.Items))
	for i := range podList.Items {
		pods = append(pods, &podList.Items[i])
	}
	set := ClassifyNodes(nodes, a.Template)
	port, proto := hostPortOf(a.Template)
	var holders map[string]string
	if port != 0 {
		if holders, _, err = portHolders(ctx, client, uncovered(set, pods), port, proto, a.Selector, namespace); err != nil {
			return nil, err
		}
	}
	st := buildStatus(a, set, pods, holders)
	return st, nil
}

// buildStatus joins the nodes with the agent pods on them.
func buildStatus(a *agent, set NodeSet, pods []*corev1.Pod, holders map[string]string) *Status {
	st := &Status{Kind: a.Kind, Name: a.Name, Namespace: a.Namespace, Updating: a.Updating}
	port, proto := hostPortOf(a.Template)
	byNode := podsByNode(pods)
	add := func(node string, schedulable bool, why string) {
		ns := NodeStatus{Node: node, Schedulable: schedulable, Reason: why}
		if list := byNode[node]; len(list) > 0 {
			p := list[0]
			ns.Pod, ns.Ready = p.Name, podutils.IsPodReady(p)
			if !ns.Ready {
				ns.Reason = notReady(p)
			} else if !schedulable {
				ns.Reason = why + " (not counted)"
			}
		} else if schedulable {
			ns.Reason = "no agent pod"
			if h := holders[node]; h != "" {
				ns.Reason = fmt.Sprintf("host port %d/%s is taken by pod %s", port, proto, h)
			}
		}
		st.Nodes = append(st.Nodes, ns)
	}
	for _, n := range set.Schedulable {
		add(n, true, "")
	}
	for _, e := range set.Excluded {
		add(e.Node, false, e.Reason)
	}
	slices.SortFunc(st.Nodes, func(a, b NodeStatus) int { return strings.Compare(a.Node, b.Node) })
	for _, p := range pods {
		if kube.IsPodActive(p) && intendedNode(p) == "" {
			msg, _ := unschedulable(p)
			st.Unplaced = append(st.Unplaced, UnplacedPod{Pod: p.Name, Message: msg})
		}
	}
	slices.SortFunc(st.Unplaced, func(a, b UnplacedPod) int { return strings.Compare(a.Pod, b.Pod) })
	return st
}

// notReady says briefly why a pod is not Ready.
func notReady(p *corev1.Pod) string {
	if msg, ok := unschedulable(p); ok {
		return "Pending: " + msg
	}
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, cs := range list {
			if w := cs.State.Waiting; w != nil && w.Reason != "" {
				return w.Reason
			}
		}
	}
	if p.Status.Phase == corev1.PodPending {
		return "Pending"
	}
	return "not Ready"
}
