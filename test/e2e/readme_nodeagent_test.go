package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/tools/clientcmd"
)

// readmeSection returns the code blocks of one language in the README's
// section whose heading starts with heading, each block as its lines.
func readmeSection(t *testing.T, heading, lang string) [][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var blocks [][]string
	in, inBlock := false, false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "#"):
			if !inBlock {
				in = strings.HasPrefix(line, heading)
			}
		case in && !inBlock && line == "```"+lang:
			inBlock = true
			blocks = append(blocks, nil)
		case inBlock && line == "```":
			inBlock = false
		case in && inBlock:
			blocks[len(blocks)-1] = append(blocks[len(blocks)-1], line)
		}
	}
	if len(blocks) == 0 {
		t.Fatalf("no %s block under %q in README.md", lang, heading)
	}
	return blocks
}

// readmeKubeconfig is a kubeconfig whose contexts dev-cluster and
// prod-cluster, the README's, reach the local dev and prod clusters;
// dev-cluster is current, in namespace ns.
func readmeKubeconfig(t *testing.T, ns string) string {
	t.Helper()
	raw, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for from, to := range map[string]string{devContext: "dev-cluster", prodContext: "prod-cluster"} {
		c := raw.Contexts[from].DeepCopy()
		c.Namespace = ns
		raw.Contexts[to] = c
	}
	raw.CurrentContext = "dev-cluster"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*raw, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// shell runs a README line with bash, as a user pastes it, with the
// kubeconfig kc in dir. With untilSeen, it is interrupted (Ctrl-C) once
// its output shows that text, as the README says to stop it.
func shell(t *testing.T, kc, dir, line, untilSeen string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", line)
	cmd.Dir = dir
	for _, e := range commandEnv() {
		if strings.HasPrefix(e, "KUBECONFIG=") {
			e = "KUBECONFIG=" + kc
		}
		cmd.Env = append(cmd.Env, e)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if untilSeen != "" {
		waitFor(t, 60*time.Second, fmt.Sprintf("%q in the output of %s", untilSeen, line), func() bool { return strings.Contains(out.String(), untilSeen) })
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	}
	err := cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	r := result{Stdout: out.String(), ExitCode: code}
	t.Logf("$ %s\n%s", line, r)
	return r
}

// The README's node-agent examples run as written, in order, with the
// README's project file and contexts: only the namespace "monitoring" is
// replaced by a fresh one, so that runs do not meet. The README's own
// init-env example declares the current namespace first.
func TestReadmeNodeAgentExamples(t *testing.T) {
	ns := newNamespace(t, devContext)
	mon := "monitoring-" + rand.String(6)
	cs := clientset(t, devContext)
	t.Cleanup(func() {
		bg := context.Background()
		_ = cs.CoreV1().Namespaces().Delete(bg, mon, metav1.DeleteOptions{})
		_ = cs.RbacV1().ClusterRoleBindings().Delete(bg, "envops-agent-datadog:"+mon, metav1.DeleteOptions{})
		_ = cs.RbacV1().ClusterRoleBindings().Delete(bg, "envops-node-agent-cluster:"+mon+":envops", metav1.DeleteOptions{})
		// The agents' host ports are free again once their pods are gone.
		poll(t, 60*time.Second, func() bool {
			l, err := cs.CoreV1().Pods(mon).List(bg, metav1.ListOptions{})
			return err == nil && len(l.Items) == 0
		})
	})
	kc := readmeKubeconfig(t, ns)
	dir := t.TempDir()
	project := readmeSection(t, "### The project file", "yaml")[0]
	if err := os.WriteFile(filepath.Join(dir, ".envops.yaml"), []byte(strings.Join(project, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var initEnv string
	for _, l := range readmeSection(t, "### `init-env` and `env`", "sh")[0] {
		if strings.HasPrefix(l, "kubectl envops --context dev-cluster init-env dev ") {
			initEnv = l
		}
	}
	if initEnv == "" {
		t.Fatal("the README's init-env section no longer declares dev in the current namespace")
	}
	if r := shell(t, kc, dir, initEnv, ""); r.ExitCode != 0 {
		t.Fatalf("%s: exit %d", initEnv, r.ExitCode)
	}
	word := regexp.MustCompile(`\bmonitoring\b`)
	ran := 0
	for _, block := range readmeSection(t, "### `node-agent`", "sh") {
		for _, line := range block {
			if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			line = word.ReplaceAllString(line, mon)
			until := ""
			if strings.Contains(line, "--watch") {
				until = "watching nodes"
			}
			r := shell(t, kc, dir, line, until)
			if r.ExitCode != 0 {
				t.Fatalf("the README's example exits %d: %s", r.ExitCode, line)
			}
			ran++
		}
	}
	if ran < 8 {
		t.Errorf("ran %d node-agent examples; the section should hold the agent and the Datadog preset examples", ran)
	}
	// What they did: each agent with its labels, one per node.
	ds, err := cs.AppsV1().DaemonSets(mon).Get(t.Context(), "node-exporter", metav1.GetOptions{})
	if err != nil || ds.Labels["tier"] != "monitoring" {
		t.Errorf("node-exporter: %v %v", ds.Labels, err)
	}
	fb, err := cs.AppsV1().DaemonSets(mon).Get(t.Context(), "fluent-bit", metav1.GetOptions{})
	if err != nil || fb.Labels["role"] != "collector" {
		t.Errorf("fluent-bit: %v %v", fb.Labels, err)
	}
	rc, err := cs.CoreV1().ReplicationControllers(ns).Get(t.Context(), "statsd", metav1.GetOptions{})
	if err != nil || int(*rc.Spec.Replicas) != len(schedulableNodes(t, cs)) {
		t.Errorf("statsd: %v", err)
	}
	if _, err := cs.AppsV1().DaemonSets(mon).Get(t.Context(), "datadog", metav1.GetOptions{}); err != nil {
		t.Errorf("datadog: %v", err)
	}
}
