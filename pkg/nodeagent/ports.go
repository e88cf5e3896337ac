package nodeagent

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/envops/kubectl-envops/pkg/kube"
)

// freePortsReason is the part of the scheduler's message that says a node's
// host port is in use (the NodePorts filter: "node(s) didn't have free ports
// for the requested pod ports").
const freePortsReason = "free ports"

// PortConflict is an agent pod the scheduler cannot place because the
// agent's host port is taken, on the nodes still without an agent, by pods
// that are not the agent's.
type PortConflict struct {
	Pod      string          `json:"pod"`
	Port     int32           `json:"port"`
	Protocol corev1.Protocol `json:"protocol"`
	// Holders are the nodes without an agent and what holds the port there.
	Holders []PortHolder `json:"holders,omitempty"`
	// Message is the scheduler's own explanation.
	Message string `json:"message"`
}

// PortHolder is a pod holding a host port on a node.
type PortHolder struct {
	Node string `json:"node"`
	// Pod is "namespace/name", or "" when the pods of the node could not be read.
	Pod string `json:"pod,omitempty"`
}

// Describe says in one line which node's port is taken by what.
func (c PortConflict) Describe() string {
	port := fmt.Sprintf("host port %d/%s", c.Port, c.Protocol)
	if len(c.Holders) == 0 {
		return fmt.Sprintf("pod %s is Pending: %s is taken on the nodes without an agent (%s)", c.Pod, port, c.Message)
	}
	parts := make([]string, 0, len(c.Holders))
	for _, h := range c.Holders {
		if h.Pod == "" {
			parts = append(parts, "node "+h.Node)
			continue
		}
		parts = append(parts, fmt.Sprintf("node %s by pod %s", h.Node, h.Pod))
	}
	return fmt.Sprintf("pod %s is Pending: %s is taken on %s; free the port there or pick another --host-port", c.Pod, port, strings.Join(parts, ", "))
}

// hostPortOf returns the first host port a pod template claims and its protocol.
func hostPortOf(tmpl *corev1.PodTemplateSpec) (int32, corev1.Protocol) {
	if tmpl == nil {
		return 0, ""
	}
	for _, c := range tmpl.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				proto := p.Protocol
				if proto == "" {
					proto = corev1.ProtocolTCP
				}
				return p.HostPort, proto
			}
		}
	}
	return 0, ""
}

// waitingForPort tells whether p is Pending because of a taken host port.
func waitingForPort(p *corev1.Pod) (string, bool) {
	if !kube.IsPodActive(p) {
		return "", false
	}
	msg, ok := unschedulable(p)
	return msg, ok && strings.Contains(msg, freePortsReason)
}

// portHolders finds, on each node, a pod outside the agent that claims the
// host port. known is false when the cluster does not let us read the pods
// of the nodes; the caller then cannot tell who holds the port.
func portHolders(ctx context.Context, client kubernetes.Interface, nodes []string, port int32, proto corev1.Protocol, agent labels.Selector, agentNamespace string) (holders map[string]string, known bool, err error) {
	holders = map[string]string{}
	for _, node := range nodes {
		list, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(),
		})
		if apierrors.IsForbidden(err) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("cannot list the pods of node %s: %w", node, err)
		}
		for i := range list.Items {
			p := &list.Items[i]
			if p.Spec.NodeName != node || !kube.IsPodActive(p) || (p.Namespace == agentNamespace && agent.Matches(labels.Set(p.Labels))) {
				continue
			}
			if claims(p, port, proto) {
				holders[node] = p.Namespace + "/" + p.Name
				break
			}
		}
	}
	return holders, true, nil
}

// claims tells whether a pod claims a host port with a protocol.
func claims(p *corev1.Pod, port int32, proto corev1.Protocol) bool {
	for _, list := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for _, c := range list {
			for _, cp := range c.Ports {
				pp := cp.Protocol
				if pp == "" {
					pp = corev1.ProtocolTCP
				}
				if cp.HostPort == port && pp == proto {
					return true
				}
			}
		}
	}
	return false
}

// conflicts lists the agent pods waiting for a host port, with the nodes
// (and, when readable, the pods) holding it.
func conflicts(ctx context.Context, client kubernetes.Interface, a *agent, set NodeSet, pods []*corev1.Pod) ([]PortConflict, error) {
	var waiting []*corev1.Pod
	for _, p := range pods {
		if _, ok := waitingForPort(p); ok {
			waiting = append(waiting, p)
		}
	}
	if len(waiting) == 0 {
		return nil, nil
	}
	port, proto := hostPortOf(a.Template)
	free := uncovered(set, pods)
	holders, known, err := portHolders(ctx, client, free, port, proto, a.Selector, a.Namespace)
	if err != nil {
		return nil, err
	}
	var held []PortHolder
	for _, n := range free {
		if !known {
			held = append(held, PortHolder{Node: n})
		} else if h := holders[n]; h != "" {
			held = append(held, PortHolder{Node: n, Pod: h})
		}
	}
	slices.SortFunc(waiting, func(a, b *corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	out := make([]PortConflict, 0, len(waiting))
	for _, p := range waiting {
		msg, _ := waitingForPort(p)
		out = append(out, PortConflict{Pod: p.Name, Port: port, Protocol: proto, Holders: held, Message: msg})
	}
	return out, nil
}
