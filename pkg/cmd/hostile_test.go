package cmd

import (
	"bytes"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// run runs a command line through Execute, as the plugin does.
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	code = Execute(args, streams)
	return out.String(), errOut.String(), code
}

func TestAliasBombInAnAppIsRefused(t *testing.T) {
	bomb, err := os.ReadFile("../render/testdata/hostile/billion-laughs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := writeGenerateProject(t)
	dir := filepath.Dir(cfgPath)
	writeFile(t, filepath.Join(dir, "apps/web/base/kustomization.yaml"), "resources:\n- rc.yaml\n- lol.yaml\n", 0o644)
	writeFile(t, filepath.Join(dir, "apps/web/base/lol.yaml"), string(bomb), 0o644)
	for _, args := range [][]string{
		{"generate", "web", "--env", "dev"},
		{"generate", "--all", "--env", "dev"},
		{"lint", "--app", "web", "--env", "dev"},
		{"lint", "-k", filepath.Join(dir, "apps/web/overlays/dev")},
		{"lint", filepath.Join(dir, "apps/web/overlays/dev")},
	} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			out, stderr, code := run(t, append(args, "--config", cfgPath)...)
			if code != ExitUsage {
				t.Errorf("exit code %d, want %d", code, ExitUsage)
			}
			want := "lol.yaml: document 1 at line 1: too large: its aliases expand it by"
			if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, want) {
				t.Errorf("stderr = %q, want one line containing %q", stderr, want)
			}
			// A directory's report goes on with its other inputs, so the
			// refused kustomization is one finding in it; elsewhere nothing
			// is printed.
			if dirInput := args[0] == "lint" && !strings.HasPrefix(args[1], "-"); dirInput != strings.Contains(out, "lol.yaml: document 1 at line 1: too large") {
				t.Errorf("stdout = %q", out)
			}
		})
	}
}

func TestRemoteResourcesCanBeTurnedOff(t *testing.T) {
	cfgPath := writeGenerateProject(t)
	dir := filepath.Dir(cfgPath)
	writeFile(t, filepath.Join(dir, "apps/web/base/kustomization.yaml"), "resources:\n- rc.yaml\n- https://example.invalid/extra.yaml\n", 0o644)
	want := `refers to the remote resource "https://example.invalid/extra.yaml", and remote resources are turned off`
	for _, tc := range []struct {
		name   string
		config string
		args   []string
	}{
		{"flag", "", []string{"generate", "web", "--env", "dev", "--remote-resources=false"}},
		{"project file", "kustomize: {remoteResources: false}\n", []string{"generate", "web", "--env", "dev"}},
		{"lint -k", "kustomize: {remoteResources: false}\n", []string{"lint", "-k", filepath.Join(dir, "apps/web/overlays/dev")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, cfgPath, "environments:\n  dev: {context: dev-cluster}\n"+tc.config, 0o644)
			_, stderr, code := run(t, append(tc.args, "--config", cfgPath)...)
			if code != ExitUsage || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and one line containing %q", code, stderr, want)
			}
		})
	}
}

func TestKustomizeLogLinesDoNotReachStderr(t *testing.T) {
	var logged bytes.Buffer
	log.SetOutput(&logged)
	defer log.SetOutput(os.Stderr)
	cfgPath := writeGenerateProject(t)
	dir := filepath.Dir(cfgPath)
	// kustomize logs vars that nothing refers to.
	writeFile(t, filepath.Join(dir, "apps/web/base/kustomization.yaml"), "resources:\n- rc.yaml\nvars:\n- name: UNUSED\n  objref: {kind: ReplicationController, name: web, apiVersion: v1}\n", 0o644)
	_, stderr, code := run(t, "generate", "web", "--env", "dev", "--config", cfgPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if logged.Len() > 0 || stderr != "" {
		t.Errorf("kustomize's log reached the user: log %q, stderr %q", logged.String(), stderr)
	}
}

func TestRBACRefusesAnInvalidNamespace(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
	out, stderr, code := run(t, "rbac", "-n", "Bad NS")
	want := `error: invalid namespace "Bad NS": a namespace name is at most 63 lowercase letters`
	if code != ExitUsage || out != "" || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, want) {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 2, nothing printed and one line starting %q", code, out, stderr, want)
	}
}

// TestUnloadableKubeconfigIsInput checks that every command that reads
// the kubeconfig answers one that cannot be loaded as bad input: exit 2,
// one line naming the file.
func TestUnloadableKubeconfigIsInput(t *testing.T) {
	cfgPath := writeGenerateProject(t)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	writeFile(t, kubeconfig, "clusters: [\n", 0o600)
	for _, args := range [][]string{
		{"status", "web"},
		{"promote", "web", "--image", "nginx:1.28", "--yes"},
		{"env"},
		{"lint", "--live"},
	} {
		t.Run(args[0], func(t *testing.T) {
			out, stderr, code := run(t, append(args, "--kubeconfig", kubeconfig, "--config", cfgPath)...)
			if code != ExitUsage || out != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "cannot load kubeconfig") || !strings.Contains(stderr, kubeconfig) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and one line saying the kubeconfig %s cannot be loaded", code, out, stderr, kubeconfig)
			}
		})
	}
}
