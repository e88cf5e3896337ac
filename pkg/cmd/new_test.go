package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func TestNew(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, ".envops.yaml")
	if err := os.WriteFile(cfgPath, []byte("environments:\n  dev: {context: d}\n  prod: {context: p}\nlabels:\n  required: [name, app, tier, role]\n  optional: [language]\n  allowed: {tier: [frontend, backend]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, int) {
		streams, _, out, errOut := genericiooptions.NewTestIOStreams()
		code := Execute(append(append([]string{"new"}, args...), "--config", cfgPath), streams)
		return out.String(), errOut.String(), code
	}

	out, stderr, code := run("web", "--tier", "frontend", "--role", "server", "--image", "nginx:1.27", "--replicas", "prod=3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, f := range []string{"base/kustomization.yaml", "base/replicationcontroller.yaml", "overlays/dev/kustomization.yaml", "overlays/prod/kustomization.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, "apps", "web", f)); err != nil {
			t.Errorf("%s was not created: %v", f, err)
		}
		if !strings.Contains(out, filepath.Join("web", f)) {
			t.Errorf("output does not list %s:\n%s", f, out)
		}
	}
	prod, _ := os.ReadFile(filepath.Join(dir, "apps/web/overlays/prod/kustomization.yaml"))
	if !strings.Contains(string(prod), "count: 3") {
		t.Errorf("prod overlay lacks the replicas:\n%s", prod)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"existing app is not overwritten", []string{"web", "--tier", "frontend", "--role", "server", "--image", "nginx"}, ExitError, "already exists"},
		{"tier is required", []string{"api", "--role", "server", "--image", "nginx"}, ExitUsage, "--tier is required"},
		{"tier must be allowed", []string{"api", "--tier", "middle", "--role", "server", "--image", "nginx"}, ExitUsage, `--tier "middle" is not allowed`},
		{"invalid image", []string{"api", "--tier", "backend", "--role", "server", "--image", "Nginx"}, ExitUsage, `invalid image reference "Nginx"`},
		{"replicas for an unknown environment", []string{"api", "--tier", "backend", "--role", "server", "--image", "nginx", "--replicas", "qa=2"}, ExitUsage, `replicas given for "qa"`},
		{"unsupported kind", []string{"api", "--tier", "backend", "--role", "server", "--image", "nginx", "--kind", "Pod"}, ExitUsage, `unsupported kind "Pod"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := run(tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want exit %d and one line containing %q", code, stderr, tc.code, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "apps", "api")); err == nil {
		t.Error("a refused scaffold created apps/api")
	}
}
