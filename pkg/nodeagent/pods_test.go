package nodeagent

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodsByNodePutsReadyPodsFirst(t *testing.T) {
	leaving := agentPod("a5", "n1")
	leaving.DeletionTimestamp = &metav1.Time{}
	pods := []*corev1.Pod{notReadyPod("a1", "n1"), agentPod("a2", "n1"), notReadyPod("a3", "n1"), agentPod("a4", "n1"), leaving, daemonPod("b1", "n2")}
	byNode := podsByNode(pods)
	names := func(node string) []string {
		var out []string
		for _, p := range byNode[node] {
			out = append(out, p.Name)
		}
		return out
	}
	// Ready pods first, each group in the order it came; a terminating pod
	// is not counted.
	if got, want := names("n1"), []string{"a2", "a4", "a1", "a3"}; !slices.Equal(got, want) {
		t.Errorf("pods of n1 = %v, want %v", got, want)
	}
	if got, want := names("n2"), []string{"b1"}; !slices.Equal(got, want) {
		t.Errorf("pods of n2 = %v, want %v (a DaemonSet pod counts for the node it is pinned to)", got, want)
	}
}
