package nodeagent

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type nodeOpt func(*corev1.Node)

func cordoned(n *corev1.Node) { n.Spec.Unschedulable = true }

func tainted(key string, effect corev1.TaintEffect) nodeOpt {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Effect: effect})
	}
}

func labelled(k, v string) nodeOpt {
	return func(n *corev1.Node) { n.Labels[k] = v }
}

func node(name string, opts ...nodeOpt) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	for _, o := range opts {
		o(n)
	}
	return n
}

func TestClassifyNodes(t *testing.T) {
	plain := &corev1.PodTemplateSpec{}
	for _, tc := range []struct {
		name     string
		nodes    []*corev1.Node
		tmpl     *corev1.PodTemplateSpec
		want     []string
		excluded []Exclusion
	}{
		{
			name:  "every ready, uncordoned node counts",
			nodes: []*corev1.Node{node("n3"), node("n1"), node("n2")},
			tmpl:  plain,
			want:  []string{"n1", "n2", "n3"},
		},
		{
			name:     "a cordoned node is not counted",
			nodes:    []*corev1.Node{node("n1"), node("n2", cordoned)},
			tmpl:     plain,
			want:     []string{"n1"},
			excluded: []Exclusion{{Node: "n2", Reason: "cordoned"}},
		},
		{
			name: "NoSchedule and NoExecute taints exclude, PreferNoSchedule does not",
			nodes: []*corev1.Node{
				node("n1", tainted("node.kubernetes.io/not-ready", corev1.TaintEffectNoSchedule)),
				node("n2", tainted("dedicated", corev1.TaintEffectNoExecute)),
				node("n3", tainted("soft", corev1.TaintEffectPreferNoSchedule)),
			},
			tmpl: plain,
			want: []string{"n3"},
			excluded: []Exclusion{
				{Node: "n1", Reason: "taint node.kubernetes.io/not-ready:NoSchedule"},
				{Node: "n2", Reason: "taint dedicated:NoExecute"},
			},
		},
		{
			name:  "a taint the agent tolerates does not exclude",
			nodes: []*corev1.Node{node("n1", tainted("dedicated", corev1.TaintEffectNoSchedule)), node("n2", cordoned)},
			tmpl: &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Tolerations: []corev1.Toleration{
				{Key: "dedicated", Operator: corev1.TolerationOpExists},
			}}},
			want:     []string{"n1"},
			excluded: []Exclusion{{Node: "n2", Reason: "cordoned"}},
		},
		{
			name:  "the DaemonSet controller's tolerations let its pods onto cordoned nodes",
			nodes: []*corev1.Node{node("n1", cordoned), node("n2", tainted("dedicated", corev1.TaintEffectNoSchedule))},
			tmpl: func() *corev1.PodTemplateSpec {
				t := &corev1.PodTemplateSpec{}
				t.Spec.Tolerations = daemonTolerations(t)
				return t
			}(),
			want:     []string{"n1"},
			excluded: []Exclusion{{Node: "n2", Reason: "taint dedicated:NoSchedule"}},
		},
		{
			name:  "nodes outside the node selector are not counted",
			nodes: []*corev1.Node{node("n1", labelled("pool", "infra")), node("n2")},
			tmpl:  &corev1.PodTemplateSpec{Spec: corev1.PodSpec{NodeSelector: map[string]string{"pool": "infra"}}},
			want:  []string{"n1"},
			excluded: []Exclusion{
				{Node: "n2", Reason: "outside the agent's node selector"},
			},
		},
		{
			name: "a node being deleted is not counted",
			nodes: []*corev1.Node{node("n1"), func() *corev1.Node {
				n := node("n2")
				n.DeletionTimestamp = &metav1.Time{}
				return n
			}()},
			tmpl:     plain,
			want:     []string{"n1"},
			excluded: []Exclusion{{Node: "n2", Reason: "being deleted"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ClassifyNodes(tc.nodes, tc.tmpl)
			if !reflect.DeepEqual(got.Schedulable, tc.want) {
				t.Errorf("schedulable = %v, want %v", got.Schedulable, tc.want)
			}
			if !reflect.DeepEqual(got.Excluded, tc.excluded) {
				t.Errorf("excluded = %+v, want %+v", got.Excluded, tc.excluded)
			}
			if got.Count() != int32(len(tc.want)) {
				t.Errorf("count = %d, want %d", got.Count(), len(tc.want))
			}
		})
	}
}
