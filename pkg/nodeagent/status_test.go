package nodeagent

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// notReadyPod is an agent pod on node whose container cannot pull its image.
func notReadyPod(name, node string) *corev1.Pod {
	p := agentPod(name, node)
	p.Status = corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "datadog", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}},
	}}}
	return p
}

// daemonPod is a DaemonSet pod meant for node and not yet scheduled.
func daemonPod(name, node string) *corev1.Pod {
	p := agentPod(name, "")
	p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchFields: []corev1.NodeSelectorRequirement{{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
		}}},
	}}
	return p
}

func TestGetStatus(t *testing.T) {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "datadog", Namespace: ns},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"name": "datadog-agent"}},
			Template: *agentRC(1).Spec.Template,
		},
	}
	for _, tc := range []struct {
		name     string
		objects  []runtime.Object
		want     []NodeStatus
		unplaced []UnplacedPod
		ready    int
		total    int
	}{
		{
			name: "replication controller: covered, not ready, port taken, cordoned",
			objects: []runtime.Object{node("n1"), node("n2"), node("n3"), node("n4", cordoned), agentRC(3),
				agentPod("a1", "n1"), notReadyPod("a2", "n2"), agentPod("a3", ""), squatter("n3")},
			want: []NodeStatus{
				{Node: "n1", Pod: "a1", Ready: true, Schedulable: true},
				{Node: "n2", Pod: "a2", Schedulable: true, Reason: "ImagePullBackOff"},
				{Node: "n3", Schedulable: true, Reason: "host port 8125/UDP is taken by pod other/statsd"},
				{Node: "n4", Reason: "cordoned"},
			},
			unplaced: []UnplacedPod{{Pod: "a3", Message: "0/3 nodes are available: 3 node(s) didn't have free ports for the requested pod ports."}},
			ready:    1, total: 3,
		},
		{
			name: "an agent still running on a cordoned node is shown but not counted",
			objects: []runtime.Object{node("n1"), node("n2", cordoned), agentRC(1),
				agentPod("a1", "n1"), agentPod("a2", "n2")},
			want: []NodeStatus{
				{Node: "n1", Pod: "a1", Ready: true, Schedulable: true},
				{Node: "n2", Pod: "a2", Ready: true, Reason: "cordoned (not counted)"},
			},
			ready: 1, total: 1,
		},
		{
			name: "daemon set: cordoned nodes count, a pod meant for a node speaks for it",
			objects: []runtime.Object{node("n1"), node("n2", cordoned), node("n3"), ds,
				agentPod("d1", "n1"), agentPod("d2", "n2"), daemonPod("d3", "n3")},
			want: []NodeStatus{
				{Node: "n1", Pod: "d1", Ready: true, Schedulable: true},
				{Node: "n2", Pod: "d2", Ready: true, Schedulable: true},
				{Node: "n3", Pod: "d3", Schedulable: true, Reason: "Pending: 0/3 nodes are available: 3 node(s) didn't have free ports for the requested pod ports."},
			},
			ready: 2, total: 3,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := GetStatus(t.Context(), fake.NewClientset(tc.objects...), ns, "datadog")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(st.Nodes, tc.want) {
				t.Errorf("nodes:\n%+v\nwant:\n%+v", st.Nodes, tc.want)
			}
			if !reflect.DeepEqual(st.Unplaced, tc.unplaced) {
				t.Errorf("unplaced = %+v, want %+v", st.Unplaced, tc.unplaced)
			}
			if ready, total := st.Covered(); ready != tc.ready || total != tc.total {
				t.Errorf("covered %d of %d, want %d of %d", ready, total, tc.ready, tc.total)
			}
		})
	}
}
