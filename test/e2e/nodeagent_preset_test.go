package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	podutils "k8s.io/kubectl/pkg/util/podutils"
)

// apiKey is the Datadog API key of these tests: it must appear in nothing
// the plugin prints or writes.
const apiKey = "e2e-api-key-5f0c6d1e9b2a4c3d8e7f"

// presetNamespace is a fresh namespace of a cluster that declares the
// environment (through init-env), holds the API key Secret, and has the
// agent's ServiceAccount and role from "rbac --preset datadog --apply".
func presetNamespace(t *testing.T, kubeContext, env string) (kubernetes.Interface, string, []result) {
	t.Helper()
	cs := clientset(t, kubeContext)
	ns := newNamespace(t, kubeContext)
	var outputs []result
	run := func(args ...string) {
		t.Helper()
		r := runKubectl(t, "", "", append(args, "--context", kubeContext, "-n", ns)...)
		mustSucceed(t, r, strings.Join(args, " "))
		outputs = append(outputs, r)
	}
	run("envops", "init-env", env)
	run("create", "secret", "generic", "datadog", "--from-literal", "api-key="+apiKey)
	run("envops", "rbac", "--for", "node-agent", "--preset", "datadog", "--apply")
	t.Cleanup(func() {
		_ = cs.RbacV1().ClusterRoleBindings().Delete(context.Background(), "envops-agent-datadog:"+ns, metav1.DeleteOptions{})
		_ = cs.RbacV1().ClusterRoleBindings().Delete(context.Background(), "envops-node-agent-cluster:"+ns+":envops", metav1.DeleteOptions{})
		waitAgentsGone(t, cs, ns)
	})
	return cs, ns, outputs
}

// waitAgentsGone deletes the Datadog agents of ns and waits for their pods
// to go, so that the next test finds the host ports free.
func waitAgentsGone(t *testing.T, cs kubernetes.Interface, ns string) {
	bg := context.Background()
	_ = cs.AppsV1().DaemonSets(ns).Delete(bg, "datadog", metav1.DeleteOptions{})
	_ = cs.CoreV1().ReplicationControllers(ns).Delete(bg, "datadog", metav1.DeleteOptions{})
	_ = cs.CoreV1().Pods(ns).DeleteCollection(bg, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "name=datadog-agent"})
	poll(t, 60*time.Second, func() bool {
		l, err := cs.CoreV1().Pods(ns).List(bg, metav1.ListOptions{LabelSelector: "name=datadog-agent"})
		return err == nil && len(l.Items) == 0
	})
}

// node-agent --preset datadog, as a DaemonSet on dev and as the
// ReplicationController fallback on prod: one Ready agent on every node,
// DogStatsD and APM on their host ports, the convention's labels as tags,
// DD_ENV from the environment Secret (which holds the cluster's
// environment), the API key only as a reference; the key appears in no
// output, annotation or Event; lint passes on what --dry-run -o yaml shows.
func TestNodeAgentDatadogPreset(t *testing.T) {
	for _, tc := range []struct {
		mode, kubeContext, env string
	}{
		{"daemonset", devContext, "dev"},
		{"replicationcontroller", prodContext, "prod"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			cs, ns, outputs := presetNamespace(t, tc.kubeContext, tc.env)
			agent := func(extra ...string) result {
				t.Helper()
				r := runKubectl(t, "", "", append([]string{"envops", "node-agent", "datadog", "--preset", "datadog", "--api-key-secret", "datadog",
					"--mode", tc.mode, "--timeout", "2m", "--context", tc.kubeContext, "-n", ns}, extra...)...)
				outputs = append(outputs, r)
				return r
			}

			// What --dry-run -o yaml shows passes lint, and is what is applied.
			dry := agent("--dry-run", "-o", "yaml")
			mustSucceed(t, dry, "dry run")
			lint := runKubectl(t, "", dry.Stdout, "envops", "lint", "-")
			outputs = append(outputs, lint)
			if lint.ExitCode != 0 {
				t.Errorf("lint on the rendered agent: %s", lint)
			}
			mustSucceed(t, agent(), "node-agent --preset datadog")

			nodes := schedulableNodes(t, cs)
			var pods []corev1.Pod
			ok := poll(t, 60*time.Second, func() bool {
				l, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "name=datadog-agent"})
				if err != nil {
					return false
				}
				pods = l.Items
				ready := 0
				for i := range pods {
					if podutils.IsPodReady(&pods[i]) && pods[i].DeletionTimestamp == nil {
						ready++
					}
				}
				return ready == len(nodes) && len(pods) == len(nodes)
			})
			if !ok {
				t.Fatalf("want one Ready agent on each of %d nodes, got %d pods", len(nodes), len(pods))
			}
			var on []string
			for _, p := range pods {
				on = append(on, p.Spec.NodeName)
			}
			sort.Strings(on)
			if strings.Join(on, ",") != strings.Join(nodes, ",") {
				t.Errorf("agents on nodes %v, want one on each of %v", on, nodes)
			}

			pod := pods[0]
			c := pod.Spec.Containers[0]
			env := map[string]corev1.EnvVar{}
			for _, e := range c.Env {
				env[e.Name] = e
			}
			var tags map[string]string
			if err := json.Unmarshal([]byte(env["DD_KUBERNETES_POD_LABELS_AS_TAGS"].Value), &tags); err != nil ||
				fmt.Sprint(tags) != fmt.Sprint(map[string]string{"app": "app", "language": "language", "name": "name", "role": "role", "tier": "tier"}) {
				t.Errorf("DD_KUBERNETES_POD_LABELS_AS_TAGS = %q", env["DD_KUBERNETES_POD_LABELS_AS_TAGS"].Value)
			}
			for _, name := range []string{"DD_DOGSTATSD_NON_LOCAL_TRAFFIC", "DD_APM_NON_LOCAL_TRAFFIC"} {
				if env[name].Value != "true" {
					t.Errorf("%s = %q", name, env[name].Value)
				}
			}
			ref := env["DD_ENV"].ValueFrom
			if env["DD_ENV"].Value != "" || ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != "environment" || ref.SecretKeyRef.Key != "environment" {
				t.Fatalf("DD_ENV = %+v, want a reference to the environment Secret's key", env["DD_ENV"])
			}
			secret, err := cs.CoreV1().Secrets(ns).Get(t.Context(), "environment", metav1.GetOptions{})
			if err != nil || string(secret.Data["environment"]) != tc.env {
				t.Errorf("the environment Secret DD_ENV reads holds %q, want %q (%v)", secret.Data["environment"], tc.env, err)
			}
			key := env["DD_API_KEY"].ValueFrom
			if env["DD_API_KEY"].Value != "" || key == nil || key.SecretKeyRef == nil || key.SecretKeyRef.Name != "datadog" || key.SecretKeyRef.Key != "api-key" {
				t.Errorf("DD_API_KEY = %+v, want a reference to datadog/api-key", env["DD_API_KEY"])
			}
			ports := map[string]string{}
			for _, p := range c.Ports {
				ports[p.Name] = fmt.Sprintf("%d/%d/%s", p.ContainerPort, p.HostPort, p.Protocol)
			}
			if ports["dogstatsd"] != "8125/8125/UDP" || ports["apm"] != "8126/8126/TCP" {
				t.Errorf("ports %v", ports)
			}
			if pod.Spec.ServiceAccountName != "datadog-agent" {
				t.Errorf("service account %q", pod.Spec.ServiceAccountName)
			}

			// The key is nowhere but in its Secret.
			for _, r := range outputs {
				if strings.Contains(r.Stdout+r.Stderr, apiKey) {
					t.Errorf("the API key appears in the output of a command:\n%s", r)
				}
			}
			var annotated []map[string]string
			if ds, err := cs.AppsV1().DaemonSets(ns).Get(t.Context(), "datadog", metav1.GetOptions{}); err == nil {
				annotated = append(annotated, ds.Annotations, ds.Spec.Template.Annotations)
			}
			if rc, err := cs.CoreV1().ReplicationControllers(ns).Get(t.Context(), "datadog", metav1.GetOptions{}); err == nil {
				annotated = append(annotated, rc.Annotations, rc.Spec.Template.Annotations)
			}
			if len(annotated) != 2 {
				t.Fatalf("want the agent as a %s", tc.mode)
			}
			for _, p := range pods {
				annotated = append(annotated, p.Annotations)
			}
			for _, a := range annotated {
				for k, v := range a {
					if strings.Contains(k+v, apiKey) {
						t.Errorf("annotation %s holds the API key", k)
					}
				}
			}
			events, err := cs.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range events.Items {
				b, _ := json.Marshal(e)
				if strings.Contains(string(b), apiKey) {
					t.Errorf("Event %s holds the API key", e.Name)
				}
			}
			st := runKubectl(t, "", "", "envops", "node-agent", "status", "datadog", "--context", tc.kubeContext, "-n", ns)
			if st.ExitCode != 0 || !strings.Contains(st.Stdout, fmt.Sprintf("%d of %d schedulable nodes have a Ready agent", len(nodes), len(nodes))) {
				t.Errorf("node-agent status: %s", st)
			}
		})
	}
}

// Without its ServiceAccount or API key Secret, the agent is refused
// before anything is applied, each missing piece named with the command
// that creates it.
func TestNodeAgentDatadogPresetNamesWhatIsMissing(t *testing.T) {
	cs, ns := agentNamespace(t)
	r := runKubectl(t, "", "", "envops", "node-agent", "datadog", "--preset", "datadog", "--api-key-secret", "dd-keys/key", "--context", devContext, "-n", ns)
	if r.ExitCode != 1 {
		t.Fatalf("exit %d, want 1: %s", r.ExitCode, r)
	}
	for _, want := range []string{
		`ServiceAccount "datadog-agent"`, "kubectl envops rbac --for node-agent --preset datadog -n " + ns + " --apply",
		`API key Secret "dd-keys" does not exist`, "kubectl create secret generic dd-keys --from-literal key=YOUR_API_KEY -n " + ns,
	} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q: %s", want, r.Stderr)
		}
	}
	if ds, err := cs.AppsV1().DaemonSets(ns).List(t.Context(), metav1.ListOptions{}); err != nil || len(ds.Items) != 0 {
		t.Errorf("something was applied: %v %v", ds, err)
	}
}
