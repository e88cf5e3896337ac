package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/envops/kubectl-envops/test/cluster"
)

// The agents of these tests select their pods by the convention's name
// label, "{app}-{role}".
const agentName = "monitor"

var agentSelector = "name=" + agentName + "-agent"

// agentNamespace is a fresh namespace on the dev cluster that declares
// environment dev, as the agent mounts the environment Secret.
func agentNamespace(t *testing.T) (kubernetes.Interface, string) {
	t.Helper()
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	_, err := cs.CoreV1().Secrets(ns).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "environment"},
		Data:       map[string][]byte{"environment": []byte("dev")},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cs, ns
}

// nodeAgent runs "kubectl envops node-agent ..." against the dev cluster.
func nodeAgent(t *testing.T, ns string, args ...string) result {
	t.Helper()
	return runKubectl(t, "", "", append(append([]string{"envops", "node-agent"}, args...), "-n", ns, "--context", devContext)...)
}

// activeAgents returns the agent pods that are neither terminating nor finished.
func activeAgents(t *testing.T, cs kubernetes.Interface, ns string) []corev1.Pod {
	t.Helper()
	list, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: agentSelector})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p)
		}
	}
	return out
}

// schedulableNodes lists the nodes that are not cordoned.
func schedulableNodes(t *testing.T, cs kubernetes.Interface) []string {
	t.Helper()
	list, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range list.Items {
		if !n.Spec.Unschedulable {
			out = append(out, n.Name)
		}
	}
	sort.Strings(out)
	return out
}

// describeAgents lists the agent pods for failure messages.
func describeAgents(t *testing.T, cs kubernetes.Interface, ns string) string {
	var b strings.Builder
	if rc, err := cs.CoreV1().ReplicationControllers(ns).Get(context.Background(), agentName, metav1.GetOptions{}); err == nil {
		fmt.Fprintf(&b, "replicationcontroller/%s replicas %d\n", agentName, *rc.Spec.Replicas)
	}
	fmt.Fprintf(&b, "schedulable nodes %v\n", schedulableNodes(t, cs))
	list, _ := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: agentSelector})
	for _, p := range list.Items {
		fmt.Fprintf(&b, "  %s node=%q phase=%s ready=%v deleting=%v\n", p.Name, p.Spec.NodeName, p.Status.Phase, podutils.IsPodReady(&p), p.DeletionTimestamp != nil)
	}
	return b.String()
}

// waitOnePerNode waits until the ReplicationController asks for want
// replicas and exactly want Ready agents run, each on a different
// schedulable node, which covers every schedulable node.
func waitOnePerNode(t *testing.T, cs kubernetes.Interface, ns string, want int) {
	t.Helper()
	var last string
	ok := func() bool {
		rc, err := cs.CoreV1().ReplicationControllers(ns).Get(context.Background(), agentName, metav1.GetOptions{})
		if err != nil || rc.Spec.Replicas == nil || int(*rc.Spec.Replicas) != want {
			last = "replicas differ"
			return false
		}
		nodes := schedulableNodes(t, cs)
		if len(nodes) != want {
			last = fmt.Sprintf("%d schedulable nodes", len(nodes))
			return false
		}
		pods := activeAgents(t, cs, ns)
		if len(pods) != want {
			last = fmt.Sprintf("%d active agents", len(pods))
			return false
		}
		seen := map[string]string{}
		for _, p := range pods {
			if other, dup := seen[p.Spec.NodeName]; dup {
				t.Fatalf("pods %s and %s both run on node %s", other, p.Name, p.Spec.NodeName)
			}
			seen[p.Spec.NodeName] = p.Name
			if !podutils.IsPodReady(&p) {
				last = p.Name + " is not Ready"
				return false
			}
		}
		for _, n := range nodes {
			if seen[n] == "" {
				last = "no agent on " + n
				return false
			}
		}
		return true
	}
	if !poll(t, 60*time.Second, ok) {
		t.Fatalf("want %d agents, one on each schedulable node (%s):\n%s", want, last, describeAgents(t, cs, ns))
	}
}

// mustSucceed fails the test unless the command exited 0.
func mustSucceed(t *testing.T, r result, what string) {
	t.Helper()
	if r.ExitCode != 0 {
		t.Fatalf("%s: %s", what, r)
	}
}

func TestNodeAgentReplicationControllerOnePerNode(t *testing.T) {
	cs, ns := agentNamespace(t)
	r := nodeAgent(t, ns, agentName, "--image", "nginx:1.27", "--host-port", "18101", "--mode", "replicationcontroller")
	mustSucceed(t, r, "create the fallback")
	if want := `replicationcontroller/monitor created in namespace "` + ns + `" with 3 replicas, one per schedulable node (replicationcontroller: as asked by --mode)`; !strings.Contains(r.Stdout, want) {
		t.Errorf("stdout lacks %q:\n%s", want, r)
	}
	if _, err := cs.AppsV1().DaemonSets(ns).Get(t.Context(), agentName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a DaemonSet exists beside the fallback (err %v)", err)
	}
	waitOnePerNode(t, cs, ns, 3)

	rc, err := cs.CoreV1().ReplicationControllers(ns).Get(t.Context(), agentName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"name": "monitor-agent", "app": "monitor", "tier": "monitoring", "role": "agent"} {
		if rc.Spec.Template.Labels[k] != v || rc.Labels[k] != v {
			t.Errorf("label %s: controller %q, pods %q; want %q", k, rc.Labels[k], rc.Spec.Template.Labels[k], v)
		}
	}
	pod := rc.Spec.Template.Spec
	if len(pod.Volumes) != 1 || pod.Volumes[0].Secret == nil || pod.Volumes[0].Secret.SecretName != "environment" ||
		len(pod.Containers[0].VolumeMounts) != 1 || pod.Containers[0].VolumeMounts[0].MountPath != "/etc/secrets" {
		t.Errorf("the environment Secret is not mounted at /etc/secrets: volumes %+v, mounts %+v", pod.Volumes, pod.Containers[0].VolumeMounts)
	}
	if p := pod.Containers[0].Ports; len(p) != 1 || p[0].HostPort != 18101 {
		t.Errorf("ports = %+v, want host port 18101", p)
	}
}

func TestNodeAgentSyncFollowsNodes(t *testing.T) {
	cs, ns := agentNamespace(t)
	mustSucceed(t, nodeAgent(t, ns, agentName, "--image", "nginx:1.27", "--host-port", "18102", "--mode", "replicationcontroller"), "create the fallback")
	waitOnePerNode(t, cs, ns, 3)

	r := nodeAgent(t, ns, agentName, "--sync")
	mustSucceed(t, r, "sync with nothing to change")
	if !strings.Contains(r.Stdout, "replicationcontroller/monitor has 3 replicas, one per schedulable node: nothing to change") {
		t.Errorf("unexpected output:\n%s", r)
	}

	addNode(t, devContext, "dev-node-sync-4")
	addNode(t, devContext, "dev-node-sync-5")
	r = nodeAgent(t, ns, agentName, "--sync")
	mustSucceed(t, r, "sync after adding two nodes")
	if !strings.Contains(r.Stdout, "replicationcontroller/monitor scaled from 3 to 5 replicas: 5 schedulable nodes") {
		t.Errorf("unexpected output:\n%s", r)
	}
	waitOnePerNode(t, cs, ns, 5)

	removeNode(t, devContext, "dev-node-sync-5")
	r = nodeAgent(t, ns, agentName, "--sync")
	mustSucceed(t, r, "sync after removing a node")
	if !strings.Contains(r.Stdout, "scaled from 5 to 4 replicas") {
		t.Errorf("unexpected output:\n%s", r)
	}
	waitOnePerNode(t, cs, ns, 4)

	cordon(t, cs, "dev-node-sync-4", true)
	r = nodeAgent(t, ns, agentName, "--sync")
	mustSucceed(t, r, "sync after cordoning a node")
	for _, want := range []string{"scaled from 4 to 3 replicas", "not counted: node dev-node-sync-4 (cordoned)"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r)
		}
	}
	waitOnePerNode(t, cs, ns, 3)
}

// cordon marks a node unschedulable, or schedulable again.
func cordon(t *testing.T, cs kubernetes.Interface, name string, on bool) {
	t.Helper()
	patch := fmt.Appendf(nil, `{"spec":{"unschedulable":%v}}`, on)
	if _, err := cs.CoreV1().Nodes().Patch(t.Context(), name, "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("cordon %s: %v", name, err)
	}
}

// lockedBuffer collects a background process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestNodeAgentWatchFollowsNodes(t *testing.T) {
	cs, ns := agentNamespace(t)
	mustSucceed(t, nodeAgent(t, ns, agentName, "--image", "nginx:1.27", "--host-port", "18103", "--mode", "replicationcontroller"), "create the fallback")
	waitOnePerNode(t, cs, ns, 3)

	// The watch runs through kubectl, as a user would start it.
	cmd := exec.Command(filepath.Join(pathDir, "kubectl"), "envops", "node-agent", agentName, "--sync", "--watch", "-n", ns, "--context", devContext)
	cmd.Dir = t.TempDir()
	cmd.Env = commandEnv()
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	waitFor(t, 30*time.Second, "the watch to start", func() bool {
		return strings.Contains(stdout.String(), "replicationcontroller/monitor has 3 replicas")
	})

	addNode(t, devContext, "dev-node-watch-4")
	addNode(t, devContext, "dev-node-watch-5")
	waitOnePerNode(t, cs, ns, 5)

	removeNode(t, devContext, "dev-node-watch-5")
	waitOnePerNode(t, cs, ns, 4)

	cordon(t, cs, "dev-node-watch-4", true)
	waitOnePerNode(t, cs, ns, 3)
	cordon(t, cs, "dev-node-watch-4", false)
	waitOnePerNode(t, cs, ns, 4)

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-exited:
		stopped = true
	case <-time.After(30 * time.Second):
		t.Fatalf("the watch did not stop on Ctrl-C:\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	if err != nil {
		t.Fatalf("the watch ended with %v after Ctrl-C, want exit 0:\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"scaled from 4 to 5 replicas", "scaled from 5 to 4 replicas", "scaled from 4 to 3 replicas", "not counted: node dev-node-watch-4 (cordoned)", "scaled from 3 to 4 replicas"} {
		if !strings.Contains(out, want) {
			t.Errorf("the watch did not report %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr.String(), "stopped watching nodes") {
		t.Errorf("stderr lacks the clean stop:\n%s", stderr.String())
	}
}

func TestNodeAgentReportsTakenHostPort(t *testing.T) {
	cs, ns := agentNamespace(t)
	// Something else holds the port on one node, placed there directly.
	squatter := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "statsd"},
		Spec: corev1.PodSpec{NodeName: "dev-node-2", Containers: []corev1.Container{{
			Name: "statsd", Image: "statsd:1",
			Ports: []corev1.ContainerPort{{ContainerPort: 18104, HostPort: 18104, Protocol: corev1.ProtocolUDP}},
		}}},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(t.Context(), squatter, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	taken := "host port 18104/UDP is taken"

	r := nodeAgent(t, ns, agentName, "--image", "nginx:1.27", "--host-port", "18104", "--protocol", "UDP", "--mode", "replicationcontroller")
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "node dev-node-2: "+taken+" by pod "+ns+"/statsd") {
		t.Errorf("want exit 1 naming the node and the pod that hold the port:\n%s", r)
	}
	waitFor(t, 30*time.Second, "two agents running and one Pending", func() bool {
		pods := activeAgents(t, cs, ns)
		running := 0
		for _, p := range pods {
			if p.Spec.NodeName != "" {
				running++
			}
		}
		return len(pods) == 3 && running == 2
	})

	r = nodeAgent(t, ns, agentName, "--sync")
	mustSucceed(t, r, "sync with a taken port")
	if !strings.Contains(r.Stderr, "is Pending: "+taken+" on node dev-node-2 by pod "+ns+"/statsd") {
		t.Errorf("sync does not report the Pending pod:\n%s", r)
	}

	r = nodeAgent(t, ns, "status", agentName)
	mustSucceed(t, r, "status")
	for _, want := range []string{
		taken + " by pod " + ns + "/statsd",
		"2 of 3 schedulable nodes have a Ready agent; missing on dev-node-2",
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r)
		}
	}
}

func TestNodeAgentAutoPicksDaemonSet(t *testing.T) {
	cs, ns := agentNamespace(t)
	r := nodeAgent(t, ns, agentName, "--image", "nginx:1.27", "--host-port", "18105", "--env-from-secret")
	mustSucceed(t, r, "apply in auto mode")
	if want := "daemonset.apps/monitor created in namespace \"" + ns + "\" (daemonset: the cluster serves apps/v1 daemonsets)"; !strings.Contains(r.Stdout, want) {
		t.Errorf("stdout lacks %q:\n%s", want, r)
	}
	ds, err := cs.AppsV1().DaemonSets(ns).Get(t.Context(), agentName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("no DaemonSet: %v", err)
	}
	if env := ds.Spec.Template.Spec.Containers[0].EnvFrom; len(env) != 1 || env[0].SecretRef == nil || env[0].SecretRef.Name != "environment" {
		t.Errorf("envFrom = %+v, want the environment Secret", env)
	}
	if rcs, _ := cs.CoreV1().ReplicationControllers(ns).List(t.Context(), metav1.ListOptions{}); len(rcs.Items) != 0 {
		t.Errorf("auto mode also created %d ReplicationControllers", len(rcs.Items))
	}

	r = nodeAgent(t, ns, "status", agentName, "-o", "json")
	mustSucceed(t, r, "status")
	var st struct {
		Kind  string `json:"kind"`
		Nodes []struct {
			Node  string `json:"node"`
			Pod   string `json:"pod"`
			Ready bool   `json:"ready"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, r)
	}
	nodes := schedulableNodes(t, cs)
	covered := map[string]bool{}
	for _, n := range st.Nodes {
		if n.Ready && n.Pod != "" {
			covered[n.Node] = true
		}
	}
	for _, n := range nodes {
		if !covered[n] {
			t.Errorf("status does not show node %s covered:\n%s", n, r.Stdout)
		}
	}
	if st.Kind != "DaemonSet" {
		t.Errorf("status kind %q, want DaemonSet", st.Kind)
	}

	r = nodeAgent(t, ns, "status", agentName)
	mustSucceed(t, r, "status")
	if want := fmt.Sprintf("%d of %d schedulable nodes have a Ready agent\n", len(nodes), len(nodes)); !strings.Contains(r.Stdout, want) {
		t.Errorf("status lacks %q:\n%s", want, r)
	}

	r = nodeAgent(t, ns, agentName, "--image", "nginx:1.27", "--host-port", "18105", "--env-from-secret")
	mustSucceed(t, r, "apply again")
	if !strings.Contains(r.Stdout, "daemonset.apps/monitor unchanged") {
		t.Errorf("a second apply was not reported unchanged:\n%s", r)
	}
}

// agentState is one agent pod as a watch sees it.
type agentState struct {
	node, image string
	ready       bool
	deleting    bool
}

func TestNodeAgentImageRollsOneNodeAtATime(t *testing.T) {
	cs, ns := agentNamespace(t)
	mustSucceed(t, nodeAgent(t, ns, agentName, "--image", "nginx:1.27", "--host-port", "18106", "--mode", "replicationcontroller"), "create the fallback")
	waitOnePerNode(t, cs, ns, 3)

	// Record every change to the agent pods during the update.
	list, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: agentSelector})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cs.CoreV1().Pods(ns).Watch(t.Context(), metav1.ListOptions{LabelSelector: agentSelector, ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	pods := map[string]agentState{}
	for _, p := range list.Items {
		pods[p.Name] = agentState{node: p.Spec.NodeName, image: p.Spec.Containers[0].Image, ready: podutils.IsPodReady(&p), deleting: p.DeletionTimestamp != nil}
	}
	var problems []string
	minReady := 3
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			if ev.Type == watch.Deleted {
				delete(pods, p.Name)
			} else {
				pods[p.Name] = agentState{node: p.Spec.NodeName, image: p.Spec.Containers[0].Image, ready: podutils.IsPodReady(p), deleting: p.DeletionTimestamp != nil}
			}
			onNode := map[string][]string{}
			ready := 0
			for name, s := range pods {
				if s.node != "" {
					onNode[s.node] = append(onNode[s.node], name)
				}
				if s.ready && !s.deleting {
					ready++
				}
			}
			for node, names := range onNode {
				if len(names) > 1 {
					sort.Strings(names)
					problems = append(problems, fmt.Sprintf("node %s held %v at once", node, names))
				}
			}
			minReady = min(minReady, ready)
		}
	}()

	r := nodeAgent(t, ns, agentName, "--image", "nginx:1.28", "--host-port", "18106")
	mustSucceed(t, r, "roll to a new image")
	waitOnePerNode(t, cs, ns, 3)
	w.Stop()
	<-done

	if !strings.Contains(r.Stdout, "max surge 0, max unavailable 1") {
		t.Errorf("the update did not say it rolls without surge:\n%s", r)
	}
	for _, p := range problems {
		t.Error(p)
	}
	if minReady < 2 {
		t.Errorf("Ready agents fell to %d of 3 during the update, want at most one node without a Ready agent at a time", minReady)
	}
	for _, p := range activeAgents(t, cs, ns) {
		if img := p.Spec.Containers[0].Image; img != "nginx:1.28" {
			t.Errorf("pod %s still runs %s", p.Name, img)
		}
	}
}

func TestNodeAgentRefusesBadInput(t *testing.T) {
	cs, ns := agentNamespace(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"host port out of range", []string{agentName, "--image", "nginx:1.27", "--host-port", "70000"}, "invalid host port 70000: use a port from 1 to 65535"},
		{"watch with a dry run", []string{agentName, "--image", "nginx:1.27", "--host-port", "18107", "--watch", "--dry-run=server"}, "it cannot be combined with --dry-run or --output"},
		{"sync with a DaemonSet", []string{agentName, "--image", "nginx:1.27", "--host-port", "18107", "--mode", "daemonset", "--sync"}, "drop one of them"},
		{"image without a host port", []string{agentName, "--image", "nginx:1.27"}, "--host-port is required with --image"},
		{"invalid image", []string{agentName, "--image", "Nginx:1.27", "--host-port", "18107"}, `invalid image reference "Nginx:1.27"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := nodeAgent(t, ns, tc.args...)
			if r.ExitCode != 2 || strings.Count(r.Stderr, "\n") != 1 || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("want exit 2 and one line containing %q:\n%s", tc.want, r)
			}
		})
	}
	if rcs, _ := cs.CoreV1().ReplicationControllers(ns).List(t.Context(), metav1.ListOptions{}); len(rcs.Items) != 0 {
		t.Errorf("refused commands created %d ReplicationControllers", len(rcs.Items))
	}
	if dss, _ := cs.AppsV1().DaemonSets(ns).List(t.Context(), metav1.ListOptions{}); len(dss.Items) != 0 {
		t.Errorf("refused commands created %d DaemonSets", len(dss.Items))
	}

	// A valid command line on a namespace that declares no environment.
	bare := newNamespace(t, devContext)
	r := nodeAgent(t, bare, agentName, "--image", "nginx:1.27", "--host-port", "18107")
	if r.ExitCode != 1 || strings.Count(r.Stderr, "\n") != 1 || !strings.Contains(r.Stderr, "kubectl envops init-env ENV -n "+bare) {
		t.Errorf("want exit 1 and one line pointing at init-env:\n%s", r)
	}
	if dss, _ := cs.AppsV1().DaemonSets(bare).List(t.Context(), metav1.ListOptions{}); len(dss.Items) != 0 {
		t.Errorf("the agent was applied to a namespace without the environment Secret")
	}
}

// An agent whose image cannot be pulled: the DaemonSet cannot be rolled
// back, so it is left in place (exit 3), and the error names every node
// without a Ready agent and why; the progress lines are plain lines.
func TestNodeAgentDaemonSetFailureNamesTheNodes(t *testing.T) {
	cs, ns := agentNamespace(t)
	r := nodeAgent(t, ns, agentName, "--image", "registry.example/"+cluster.ImagePullBackOffWord+":1", "--host-port", "18108", "--mode", "daemonset", "--timeout", "10s")
	if r.ExitCode != 3 {
		t.Fatalf("want exit 3 (the agent left in place):\n%s", r)
	}
	for _, n := range schedulableNodes(t, cs) {
		if want := n + " (ImagePullBackOff)"; !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr does not name %s:\n%s", want, r)
		}
	}
	if !strings.Contains(r.Stdout, "started: applied DaemonSet monitor") {
		t.Errorf("no progress line for the DaemonSet:\n%s", r)
	}
	if strings.Contains(r.Stdout, `\n`) {
		t.Errorf("a progress line ends in an escaped newline:\n%s", r)
	}
}
