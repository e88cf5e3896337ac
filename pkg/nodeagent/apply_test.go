package nodeagent

import (
	"context"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/envops/kubectl-envops/pkg/rollout"
)

func envSecret() *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "environment", Namespace: ns},
		Data:       map[string][]byte{"environment": []byte("dev")},
	}
}

func TestApplyChoosesTheController(t *testing.T) {
	daemonsets := []*metav1.APIResourceList{{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{{Name: "daemonsets", Kind: "DaemonSet"}}}}
	existingDS := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "datadog", Namespace: ns},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"name": "datadog-agent"}}}}
	for _, tc := range []struct {
		name      string
		objects   []runtime.Object
		resources []*metav1.APIResourceList
		mode      Mode
		wantMode  Mode
		wantWhy   string
		wantKind  string
		wantNodes int32
		wantErr   string
	}{
		{
			name:    "auto picks a DaemonSet where the cluster serves them",
			objects: []runtime.Object{envSecret(), node("n1")}, resources: daemonsets, mode: ModeAuto,
			wantMode: ModeDaemonSet, wantWhy: "the cluster serves apps/v1 daemonsets", wantKind: "DaemonSet",
		},
		{
			name:    "auto falls back to a ReplicationController with one replica per schedulable node",
			objects: []runtime.Object{envSecret(), node("n1"), node("n2"), node("n3", cordoned)}, mode: ModeAuto,
			wantMode: ModeReplicationController, wantWhy: "the cluster does not serve apps/v1 daemonsets", wantKind: "ReplicationController", wantNodes: 2,
		},
		{
			name:    "auto keeps the kind an agent already runs as",
			objects: []runtime.Object{envSecret(), node("n1"), agentRC(1)}, resources: daemonsets, mode: ModeAuto,
			wantMode: ModeReplicationController, wantWhy: "it already runs as a ReplicationController", wantKind: "ReplicationController", wantNodes: 1,
		},
		{
			name:    "the fallback can be asked for on a cluster with DaemonSets",
			objects: []runtime.Object{envSecret(), node("n1")}, resources: daemonsets, mode: ModeReplicationController,
			wantMode: ModeReplicationController, wantWhy: "as asked by --mode", wantKind: "ReplicationController", wantNodes: 1,
		},
		{
			name:    "a DaemonSet beside the running fallback is refused",
			objects: []runtime.Object{envSecret(), node("n1"), agentRC(1)}, resources: daemonsets, mode: ModeDaemonSet,
			wantErr: `agent "datadog" already runs as replicationcontroller/datadog in namespace "monitoring", and a daemonset beside it would compete for host port 8125`,
		},
		{
			name:    "the fallback beside a running DaemonSet is refused",
			objects: []runtime.Object{envSecret(), node("n1"), existingDS}, resources: daemonsets, mode: ModeReplicationController,
			wantErr: `agent "datadog" already runs as daemonset.apps/datadog`,
		},
		{
			name:    "a namespace without the environment Secret is refused",
			objects: []runtime.Object{node("n1")}, resources: daemonsets, mode: ModeAuto,
			wantErr: `namespace "monitoring" has no Secret "environment": run "kubectl envops init-env ENV -n monitoring" first`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(tc.objects...)
			client.Discovery().(*fakediscovery.FakeDiscovery).Resources = tc.resources
			ap := &Installer{Client: client, Discovery: client.Discovery()}
			res, err := ap.Install(t.Context(), spec(), InstallOptions{Mode: tc.mode, DryRun: rollout.DryRunClient})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Mode != tc.wantMode || res.Why != tc.wantWhy || !res.DryRun {
				t.Errorf("mode %s (%s), dry run %v; want %s (%s), dry run", res.Mode, res.Why, res.DryRun, tc.wantMode, tc.wantWhy)
			}
			if kind := res.Object.GetObjectKind().GroupVersionKind().Kind; kind != tc.wantKind {
				t.Errorf("object kind %q, want %q", kind, tc.wantKind)
			}
			if rc, ok := res.Object.(*corev1.ReplicationController); ok && *rc.Spec.Replicas != tc.wantNodes {
				t.Errorf("replicas = %d, want %d", *rc.Spec.Replicas, tc.wantNodes)
			}
			if res.Environment != "dev" {
				t.Errorf("environment = %q, want dev", res.Environment)
			}
			for _, a := range client.Actions() {
				if v := a.GetVerb(); v != "get" && v != "list" {
					t.Errorf("a client dry run sent %s %s", v, a.GetResource().Resource)
				}
			}
		})
	}
}

// agentDS is the agent's DaemonSet, meant for one node, with available
// pods on ready of them.
func agentDS(ready int32) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "datadog", Namespace: ns, Generation: 1},
		Spec: appsv1.DaemonSetSpec{
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"name": "datadog-agent"}},
			Template:       *agentRC(1).Spec.Template,
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
		},
		Status: appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 1, UpdatedNumberScheduled: 1, NumberAvailable: ready},
	}
}

func TestInstallDaemonSetFailureNamesTheNodesWithoutAnAgent(t *testing.T) {
	daemonsets := []*metav1.APIResourceList{{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{{Name: "daemonsets", Kind: "DaemonSet"}}}}
	client := fake.NewClientset(envSecret(), node("n1"), agentDS(0), notReadyPod("a1", "n1"))
	client.Discovery().(*fakediscovery.FakeDiscovery).Resources = daemonsets
	timedOut := errors.New("timed out after 1m0s waiting for the pods of daemonset.apps/datadog: 0 of 1 nodes have an available pod of its latest template")
	ap := &Installer{Client: client, Discovery: client.Discovery(),
		Deploy: func(context.Context, string, *unstructured.Unstructured, rollout.Options) (rollout.Result, error) {
			return rollout.Result{}, &rollout.FailedError{Kind: KindDaemonSet, Name: "datadog", Err: timedOut}
		}}
	_, err := ap.Install(t.Context(), spec(), InstallOptions{Mode: ModeDaemonSet})
	var failed *rollout.FailedError
	if !errors.As(err, &failed) {
		t.Fatalf("error = %v, want the deploy's failure kept", err)
	}
	if want := "; no Ready agent on n1 (ImagePullBackOff)"; !strings.HasSuffix(err.Error(), want) {
		t.Errorf("error = %v, want it to end with %q", err, want)
	}
}

func TestInstallWithoutDeployIsOnlyADryRun(t *testing.T) {
	client := fake.NewClientset(envSecret(), node("n1"))
	_, err := (&Installer{Client: client, Discovery: client.Discovery()}).Install(t.Context(), spec(), InstallOptions{Mode: ModeReplicationController})
	if err == nil || !strings.Contains(err.Error(), "needs Installer.Deploy") {
		t.Fatalf("error = %v, want a real install without Deploy refused", err)
	}
	if n := len(client.Actions()); n != 0 {
		t.Errorf("the refused install sent %d requests", n)
	}
}
