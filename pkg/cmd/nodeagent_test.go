package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"sigs.k8s.io/yaml"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/nodeagent"
	"github.com/envops/kubectl-envops/pkg/rollout"
)

// nodeAgentGlobals returns Globals on a kubeconfig whose server is never
// contacted, with namespace "monitoring" and the default project settings.
func nodeAgentGlobals(t *testing.T, streams genericiooptions.IOStreams) *Globals {
	t.Helper()
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: monitoring}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, ".envops.yaml")
	if err := os.WriteFile(cfgPath, []byte("secret: {name: env}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &kubeconfig
	return &Globals{ConfigFlags: flags, Factory: cmdutil.NewFactory(flags), Streams: streams, ConfigPath: cfgPath}
}

func TestNodeAgentFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want func(*NodeAgentOptions) string // returns what is wrong, or ""
	}{
		{"apply with every flag", []string{"datadog", "--image", "datadog/agent:7", "--host-port", "8125", "--protocol", "udp",
			"--env-from-secret", "--mode", "replicationcontroller", "-o", "yaml", "--dry-run=server", "--timeout", "2m"},
			func(o *NodeAgentOptions) string {
				if o.Name != "datadog" || o.Image != "datadog/agent:7" || o.HostPort != 8125 || o.protocol != corev1.ProtocolUDP ||
					!o.EnvFromSecret || o.mode != nodeagent.ModeReplicationController || o.Output != "yaml" ||
					o.dryRun != rollout.DryRunServer || o.Timeout != 2*time.Minute || o.Sync {
					return "flags not parsed as given"
				}
				return ""
			}},
		{"defaults: auto mode, TCP, no dry run", []string{"datadog", "--image", "datadog/agent:7", "--host-port", "8125"},
			func(o *NodeAgentOptions) string {
				if o.mode != nodeagent.ModeAuto || o.protocol != corev1.ProtocolTCP || o.dryRun != rollout.DryRunNone || o.Timeout != rollout.DefaultTimeout {
					return "defaults differ"
				}
				return ""
			}},
		{"bare --dry-run means client", []string{"datadog", "--image", "datadog/agent:7", "--host-port", "8125", "--dry-run"},
			func(o *NodeAgentOptions) string {
				if o.dryRun != rollout.DryRunClient {
					return "dry run is not client"
				}
				return ""
			}},
		{"--watch implies --sync", []string{"datadog", "--watch"},
			func(o *NodeAgentOptions) string {
				if !o.Sync || !o.Watch || o.Image != "" {
					return "watch without sync"
				}
				return ""
			}},
		{"a preset brings its image and takes the API key's Secret", []string{"datadog", "--preset", "datadog", "--api-key-secret", "dd-keys/key"},
			func(o *NodeAgentOptions) string {
				if o.preset == nil || o.preset.Name != "datadog" || o.Image != nodeagent.Datadog.Image || o.apiKeySecret != (nodeagent.SecretKeyRef{Name: "dd-keys", Key: "key"}) {
					return "preset not resolved"
				}
				return ""
			}},
		{"a preset's image can be replaced; the key defaults", []string{"datadog", "--preset", "datadog", "--api-key-secret", "dd", "--image", "datadog/agent:7.60.0", "--mode", "replicationcontroller"},
			func(o *NodeAgentOptions) string {
				if o.Image != "datadog/agent:7.60.0" || o.apiKeySecret.Key != "api-key" || o.mode != nodeagent.ModeReplicationController {
					return "preset flags not parsed"
				}
				return ""
			}},
		{"namespace and project file are resolved", []string{"datadog", "--sync"},
			func(o *NodeAgentOptions) string {
				if o.Namespace != "monitoring" || o.Config.Secret.Name != "env" || o.Client == nil || o.Discovery == nil {
					return "namespace, config or clients not resolved"
				}
				return ""
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			streams, _, _, _ := genericiooptions.NewTestIOStreams()
			var got *NodeAgentOptions
			cmd := NewCmdNodeAgent(nodeAgentGlobals(t, streams), func(o *NodeAgentOptions) error {
				got = o
				return nil
			})
			cmd.SetArgs(tc.args)
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			if got == nil {
				t.Fatal("the command did not run")
			}
			if msg := tc.want(got); msg != "" {
				t.Errorf("%s: %+v", msg, *got)
			}
		})
	}
}

func TestNodeAgentBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"host port out of range", []string{"node-agent", "dd", "--image", "dd:7", "--host-port", "70000"}, "invalid host port 70000: use a port from 1 to 65535"},
		{"host port zero", []string{"node-agent", "dd", "--image", "dd:7", "--host-port", "0"}, "invalid host port 0"},
		{"host port missing", []string{"node-agent", "dd", "--image", "dd:7"}, "--host-port is required with --image"},
		{"nothing to do", []string{"node-agent", "dd"}, `nothing to do for agent "dd"`},
		{"agent flags without an image", []string{"node-agent", "dd", "--sync", "--host-port", "8125"}, "--host-port shapes the agent that --image applies"},
		{"sync with a DaemonSet", []string{"node-agent", "dd", "--sync", "--mode", "daemonset"}, "--mode daemonset asks for a DaemonSet"},
		{"watch with a dry run", []string{"node-agent", "dd", "--watch", "--dry-run=client"}, "--watch keeps changing the replicas as nodes change: it cannot be combined with --dry-run or --output"},
		{"watch with output", []string{"node-agent", "dd", "--image", "dd:7", "--host-port", "1", "--watch", "-o", "yaml"}, "cannot be combined with --dry-run or --output"},
		{"unknown mode", []string{"node-agent", "dd", "--image", "dd:7", "--host-port", "1", "--mode", "deployment"}, `unknown mode "deployment"`},
		{"unknown protocol", []string{"node-agent", "dd", "--image", "dd:7", "--host-port", "1", "--protocol", "sctp"}, `unknown protocol "sctp"`},
		{"invalid image", []string{"node-agent", "dd", "--image", "DD:7", "--host-port", "1"}, `invalid image reference "DD:7"`},
		{"invalid name", []string{"node-agent", "Datadog", "--sync"}, `invalid agent name "Datadog"`},
		{"invalid dry run", []string{"node-agent", "dd", "--sync", "--dry-run=maybe"}, `invalid --dry-run value "maybe"`},
		{"unknown output", []string{"node-agent", "dd", "--image", "dd:7", "--host-port", "1", "-o", "wide"}, `unknown output format "wide"`},
		{"two names", []string{"node-agent", "a", "b", "--sync"}, "node-agent takes exactly one agent name"},
		{"status without a name", []string{"node-agent", "status"}, "node-agent status takes exactly one agent name"},
		{"status with an unknown output", []string{"node-agent", "status", "dd", "-o", "table"}, `unknown output format "table"`},
		{"unknown preset", []string{"node-agent", "dd", "--preset", "newrelic", "--api-key-secret", "x"}, `--preset: unknown preset "newrelic": use datadog`},
		{"preset without its API key", []string{"node-agent", "dd", "--preset", "datadog"}, "--preset datadog needs the agent's API key: pass --api-key-secret NAME[/KEY]"},
		{"preset with a host port", []string{"node-agent", "dd", "--preset", "datadog", "--api-key-secret", "x", "--host-port", "9000"}, "--preset datadog claims its own host ports (8125/UDP, 8126/TCP): drop --host-port"},
		{"API key Secret without a preset", []string{"node-agent", "dd", "--image", "dd:7", "--host-port", "1", "--api-key-secret", "x"}, "--api-key-secret names the API key of a preset agent: pass --preset too"},
		{"bad API key Secret name", []string{"node-agent", "dd", "--preset", "datadog", "--api-key-secret", "Datadog"}, `invalid --api-key-secret "Datadog"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			streams, _, out, errOut := genericiooptions.NewTestIOStreams()
			// No kubeconfig: a command line that got as far as the cluster
			// would fail differently.
			code := Execute(append(tc.args, "--kubeconfig", filepath.Join(t.TempDir(), "none")), streams)
			stderr := errOut.String()
			if code != ExitUsage || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "error: ") {
				t.Errorf("exit %d, stderr %q; want exit %d and one line containing %q", code, stderr, ExitUsage, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q, want nothing", out.String())
			}
		})
	}
}

// TestNodeAgentDryRunFallback renders the fallback on a fake cluster with
// nodes n1, n2 and a cordoned n3, and no apps/v1 daemonsets.
func TestNodeAgentDryRunFallback(t *testing.T) {
	client := fake.NewClientset(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n3"}, Spec: corev1.NodeSpec{Unschedulable: true}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "environment", Namespace: "monitoring"}, Data: map[string][]byte{"environment": []byte("dev")}},
	)
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	o := &NodeAgentOptions{
		Name: "datadog", Image: "datadog/agent:7", HostPort: 8125, Output: "yaml",
		mode: nodeagent.ModeAuto, protocol: corev1.ProtocolUDP, dryRun: rollout.DryRunClient,
		Namespace: "monitoring", Config: config.Default(), Client: client, Discovery: client.Discovery(),
		IOStreams: streams,
	}
	client.Discovery().(*fakediscovery.FakeDiscovery).Resources = nil
	if err := o.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	var rc corev1.ReplicationController
	if err := yaml.UnmarshalStrict(out.Bytes(), &rc); err != nil {
		t.Fatalf("stdout is not one ReplicationController: %v\n%s", err, out)
	}
	if rc.Name != "datadog" || *rc.Spec.Replicas != 2 || rc.Spec.Template.Spec.Containers[0].Ports[0].HostPort != 8125 {
		t.Errorf("rendered %s with %d replicas and ports %+v; want datadog, 2 replicas, host port 8125", rc.Name, *rc.Spec.Replicas, rc.Spec.Template.Spec.Containers[0].Ports)
	}
	for _, want := range []string{
		`replicationcontroller/datadog created in namespace "monitoring" with 2 replicas, one per schedulable node (replicationcontroller: the cluster does not serve apps/v1 daemonsets) (dry run)`,
		"not counted: node n3 (cordoned)",
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if rcs, _ := client.CoreV1().ReplicationControllers("monitoring").List(t.Context(), metav1.ListOptions{}); len(rcs.Items) != 0 {
		t.Errorf("a dry run created %d ReplicationControllers", len(rcs.Items))
	}
}

func TestNodeAgentStatusOutput(t *testing.T) {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "datadog", Namespace: "monitoring"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"name": "datadog-agent"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"name": "datadog-agent"}}},
		},
	}
	pod := func(name, node string, ready corev1.ConditionStatus) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "monitoring", Labels: map[string]string{"name": "datadog-agent"}},
			Spec:       corev1.PodSpec{NodeName: node},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: ready}}},
		}
	}
	client := fake.NewClientset(ds,
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}},
		pod("datadog-a", "n1", corev1.ConditionTrue), pod("datadog-b", "n2", corev1.ConditionFalse))
	var out bytes.Buffer
	o := &NodeAgentStatusOptions{Name: "datadog", Namespace: "monitoring", Client: client,
		IOStreams: genericiooptions.IOStreams{Out: &out, ErrOut: &out}}
	if err := o.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := `NODE   READY   AGENT POD   NOTE
n1     true    datadog-a   
n2     false   datadog-b   not Ready
daemonset.apps/datadog in namespace "monitoring": 1 of 2 schedulable nodes have a Ready agent; missing on n2
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

// node-agent -o jsonpath= prints the applied controller alone on stdout;
// node-agent status -o go-template= sees the status data.
func TestNodeAgentTemplates(t *testing.T) {
	client := fake.NewClientset(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "environment", Namespace: "monitoring"}, Data: map[string][]byte{"environment": []byte("dev")}},
	)
	client.Discovery().(*fakediscovery.FakeDiscovery).Resources = nil
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	o := &NodeAgentOptions{
		Name: "datadog", Image: "datadog/agent:7", HostPort: 8125, Output: `jsonpath={.kind} {.spec.replicas} {.metadata.managedFields}`,
		mode: nodeagent.ModeAuto, protocol: corev1.ProtocolUDP, dryRun: rollout.DryRunClient, Timeout: time.Minute,
		Namespace: "monitoring", Config: config.Default(), Client: client, Discovery: client.Discovery(), IOStreams: streams,
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := o.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if out.String() != "ReplicationController 2 " {
		t.Errorf("stdout %q, want the controller's kind and replicas only", out.String())
	}
	if !strings.Contains(errOut.String(), "replicationcontroller/datadog created") {
		t.Errorf("the summary is not on stderr:\n%s", errOut)
	}

	rc := agentRC(t, 2)
	streams, _, out, _ = genericiooptions.NewTestIOStreams()
	st := &NodeAgentStatusOptions{Name: "datadog", Output: `go-template={{.kind}}{{range .nodes}} {{.node}}={{.ready}}{{end}}`,
		Namespace: "monitoring", Client: fake.NewClientset(rc, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}), IOStreams: streams}
	if err := st.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := st.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if out.String() != "ReplicationController n1=false" {
		t.Errorf("status printed %q", out.String())
	}
}

// The API key itself given to --api-key-secret is refused, and appears in
// nothing the command prints.
func TestNodeAgentRefusesAnAPIKeyInPlaceOfItsSecret(t *testing.T) {
	const key = "0123456789abcdef0123456789abcdef"
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	code := Execute([]string{"node-agent", "dd", "--preset", "datadog", "--api-key-secret", key, "--kubeconfig", filepath.Join(t.TempDir(), "none")}, streams)
	if code != ExitUsage || !strings.Contains(errOut.String(), "not the key itself") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	if strings.Contains(out.String()+errOut.String(), key) {
		t.Errorf("the key was printed: %q %q", out, errOut)
	}
}

// What --preset datadog applies holds only references to the API key's
// Secret: its value, read by the check, is in no output and no annotation.
func TestNodeAgentPresetPrintsNoKey(t *testing.T) {
	const value = "s3cr3t-api-key-value"
	client := fake.NewClientset(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "env", Namespace: "monitoring"}, Data: map[string][]byte{"environment": []byte("dev")}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "datadog-agent", Namespace: "monitoring"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "datadog", Namespace: "monitoring"}, Data: map[string][]byte{"api-key": []byte(value)}},
	)
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	cfg := config.Default()
	cfg.Secret.Name = "env"
	o := &NodeAgentOptions{Name: "datadog", Image: nodeagent.Datadog.Image, mode: nodeagent.ModeDaemonSet, dryRun: rollout.DryRunServer, Output: "yaml",
		preset: &nodeagent.Datadog, apiKeySecret: nodeagent.SecretKeyRef{Name: "datadog", Key: "api-key"},
		Namespace: "monitoring", Config: cfg, Client: client, Discovery: client.Discovery(), Timeout: time.Second, Cause: "node-agent datadog --preset datadog", IOStreams: streams}
	if err := o.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String()+errOut.String(), value) {
		t.Fatalf("the API key reached the output:\n%s%s", out, errOut)
	}
	var ds appsv1.DaemonSet
	if err := yaml.Unmarshal(out.Bytes(), &ds); err != nil {
		t.Fatal(err)
	}
	for k, v := range ds.Annotations {
		if strings.Contains(v, value) {
			t.Errorf("annotation %s holds the key", k)
		}
	}
	var ref *corev1.SecretKeySelector
	for _, e := range ds.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "DD_API_KEY" && e.ValueFrom != nil {
			ref = e.ValueFrom.SecretKeyRef
		}
	}
	if ref == nil || ref.Name != "datadog" || ref.Key != "api-key" {
		t.Errorf("DD_API_KEY is not a reference to datadog/api-key: %+v", ds.Spec.Template.Spec.Containers[0].Env)
	}
}
