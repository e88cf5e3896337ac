package nodeagent

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/envops/kubectl-envops/pkg/rollout"
)

const ns = "monitoring"

// agentRC is the agent's controller as the updater leaves it.
func agentRC(replicas int32) *corev1.ReplicationController {
	labels := map[string]string{"name": "datadog-agent", "app": "datadog", rollout.TemplateHashLabel: "abc"}
	return &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "datadog", Namespace: ns, UID: "rc-uid"},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr.To(replicas),
			Selector: map[string]string{"name": "datadog-agent"},
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "datadog", Image: "datadog/agent:7",
					Ports: []corev1.ContainerPort{{ContainerPort: 8125, HostPort: 8125, Protocol: corev1.ProtocolUDP}},
				}}},
			},
		},
	}
}

// agentPod is a Ready agent pod on node ("" for one the scheduler rejected
// for want of the host port).
func agentPod(name, node string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"name": "datadog-agent", "app": "datadog", rollout.TemplateHashLabel: "abc"}},
		Spec:       corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		}},
	}
	if node == "" {
		p.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
			Message: "0/3 nodes are available: 3 node(s) didn't have free ports for the requested pod ports.",
		}}}
	}
	return p
}

// squatter is another namespace's pod holding UDP 8125 on node.
func squatter(node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "statsd", Namespace: "other"},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{
			Name: "statsd", Ports: []corev1.ContainerPort{{ContainerPort: 8125, HostPort: 8125, Protocol: corev1.ProtocolUDP}},
		}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

func TestSync(t *testing.T) {
	for _, tc := range []struct {
		name          string
		objects       []runtime.Object
		dryRun        rollout.DryRun
		wantFrom      int32
		wantTo        int32
		wantLive      int32 // replicas on the server afterwards
		wantExcluded  []Exclusion
		wantConflicts []string // PortConflict.Describe of each
		wantMarked    []string // pods given the lowest deletion cost
	}{
		{
			name:     "new nodes raise the replicas",
			objects:  []runtime.Object{node("n1"), node("n2"), node("n3"), node("n4"), node("n5"), agentRC(3)},
			wantFrom: 3, wantTo: 5, wantLive: 5,
		},
		{
			name: "a cordoned node lowers them, and its agent is the one to go",
			objects: []runtime.Object{node("n1"), node("n2", cordoned), node("n3"), agentRC(3),
				agentPod("a1", "n1"), agentPod("a2", "n2"), agentPod("a3", "n3")},
			wantFrom: 3, wantTo: 2, wantLive: 2,
			wantExcluded: []Exclusion{{Node: "n2", Reason: "cordoned"}},
			wantMarked:   []string{"a2"},
		},
		{
			name: "an agent already in step is left alone",
			objects: []runtime.Object{node("n1"), node("n2"), agentRC(2),
				agentPod("a1", "n1"), agentPod("a2", "n2")},
			wantFrom: 2, wantTo: 2, wantLive: 2,
		},
		{
			name:     "a client dry run changes nothing",
			objects:  []runtime.Object{node("n1"), node("n2"), node("n3"), node("n4"), agentRC(3)},
			dryRun:   rollout.DryRunClient,
			wantFrom: 3, wantTo: 4, wantLive: 3,
		},
		{
			name: "a pod waiting for a host port is reported with the pod holding it",
			objects: []runtime.Object{node("n1"), node("n2"), node("n3"), agentRC(3),
				agentPod("a1", "n1"), agentPod("a2", "n2"), agentPod("a3", ""), squatter("n3")},
			wantFrom: 3, wantTo: 3, wantLive: 3,
			wantConflicts: []string{"pod a3 is Pending: host port 8125/UDP is taken on node n3 by pod other/statsd; free the port there or pick another --host-port"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(tc.objects...)
			s := &Syncer{Client: client, Namespace: ns, Name: "datadog", DryRun: tc.dryRun, Settle: 50 * time.Millisecond}
			res, err := s.Sync(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if res.From != tc.wantFrom || res.To != tc.wantTo {
				t.Errorf("replicas %d -> %d, want %d -> %d", res.From, res.To, tc.wantFrom, tc.wantTo)
			}
			live, err := client.CoreV1().ReplicationControllers(ns).Get(t.Context(), "datadog", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if *live.Spec.Replicas != tc.wantLive {
				t.Errorf("live replicas = %d, want %d", *live.Spec.Replicas, tc.wantLive)
			}
			if len(res.Nodes.Excluded) != len(tc.wantExcluded) || (len(tc.wantExcluded) > 0 && res.Nodes.Excluded[0] != tc.wantExcluded[0]) {
				t.Errorf("excluded = %+v, want %+v", res.Nodes.Excluded, tc.wantExcluded)
			}
			var got []string
			for _, c := range res.Conflicts {
				got = append(got, c.Describe())
			}
			if strings.Join(got, "\n") != strings.Join(tc.wantConflicts, "\n") {
				t.Errorf("conflicts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.wantConflicts, "\n"))
			}
			pods, err := client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var marked []string
			for _, p := range pods.Items {
				if p.Annotations[corev1.PodDeletionCost] != "" {
					marked = append(marked, p.Name)
				}
			}
			if strings.Join(marked, ",") != strings.Join(tc.wantMarked, ",") {
				t.Errorf("pods marked for removal = %v, want %v", marked, tc.wantMarked)
			}
		})
	}
}

func TestSyncRefuses(t *testing.T) {
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "datadog", Namespace: ns}}
	updating := agentRC(3)
	updating.Annotations = map[string]string{rollout.AnnotationUpdate: `{"desired":3}`}
	for _, tc := range []struct {
		name    string
		objects []runtime.Object
		wantErr error
		wantMsg string
	}{
		{"a missing agent", []runtime.Object{node("n1")}, ErrNotFound, `no DaemonSet or ReplicationController "datadog" in namespace "monitoring"`},
		{"a DaemonSet", []runtime.Object{node("n1"), ds}, ErrDaemonSet, "daemonset.apps/datadog runs one pod on every node by itself"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Syncer{Client: fake.NewClientset(tc.objects...), Namespace: ns, Name: "datadog"}
			_, err := s.Sync(t.Context())
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("error = %v, want %v saying %q", err, tc.wantErr, tc.wantMsg)
			}
		})
	}
	t.Run("an update in progress keeps its replicas", func(t *testing.T) {
		client := fake.NewClientset(node("n1"), updating)
		res, err := (&Syncer{Client: client, Namespace: ns, Name: "datadog", Settle: time.Millisecond}).Sync(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		live, _ := client.CoreV1().ReplicationControllers(ns).Get(t.Context(), "datadog", metav1.GetOptions{})
		if res.Updating != "datadog" || res.Scaled() || *live.Spec.Replicas != 3 {
			t.Errorf("updating %q, %d -> %d, live %d; want the update left alone", res.Updating, res.From, res.To, *live.Spec.Replicas)
		}
	})
}

func TestWatchFollowsNodes(t *testing.T) {
	client := fake.NewClientset(node("n1"), node("n2"), agentRC(2))
	// The fake API does not replay what happens between a list and its
	// watch, so nodes are changed only once the node watch is open.
	watching := make(chan struct{})
	var once sync.Once
	client.PrependWatchReactor("nodes", func(k8stesting.Action) (bool, watch.Interface, error) {
		once.Do(func() { close(watching) })
		return false, nil, nil
	})
	ctx, cancel := context.WithCancel(t.Context())
	results := make(chan *SyncResult, 10)
	done := make(chan error, 1)
	go func() {
		done <- (&Syncer{Client: client, Namespace: ns, Name: "datadog"}).Watch(ctx, func(r *SyncResult) { results <- r })
	}()
	next := func() *SyncResult {
		select {
		case r := <-results:
			return r
		case err := <-done:
			t.Fatalf("watch ended early: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("no result from the watch")
		}
		return nil
	}
	if r := next(); r.Scaled() || r.To != 2 {
		t.Fatalf("first result %d -> %d, want 2 unchanged", r.From, r.To)
	}
	<-watching
	if _, err := client.CoreV1().Nodes().Create(t.Context(), node("n3"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if r := next(); r.From != 2 || r.To != 3 {
		t.Fatalf("after adding n3: %d -> %d, want 2 -> 3", r.From, r.To)
	}
	n1 := node("n1", cordoned)
	if _, err := client.CoreV1().Nodes().Update(t.Context(), n1, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if r := next(); r.From != 3 || r.To != 2 {
		t.Fatalf("after cordoning n1: %d -> %d, want 3 -> 2", r.From, r.To)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("watch ended with %v, want a clean end on cancel", err)
	}
	live, _ := client.CoreV1().ReplicationControllers(ns).Get(t.Context(), "datadog", metav1.GetOptions{})
	if *live.Spec.Replicas != 2 {
		t.Errorf("live replicas = %d, want 2", *live.Spec.Replicas)
	}
}
