package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletionThroughKubectl is "kubectl envops <TAB>" as a shell does it:
// kubectl's completion entry point (__complete) finds kubectl_complete-envops
// on PATH, which "kubectl envops completion install" put beside the plugin.
func TestCompletionThroughKubectl(t *testing.T) {
	project := t.TempDir()
	for path, content := range map[string]string{
		".envops.yaml":                             "environments:\n  dev: {context: " + devContext + "}\n  prod: {context: " + prodContext + ", confirm: true}\n",
		"apps/web/base/kustomization.yaml":         "resources: []\n",
		"apps/web/overlays/dev/kustomization.yaml": "resources: [../../base]\n",
		"apps/api/base/kustomization.yaml":         "resources: []\n",
		"apps/README.md":                           "not an app\n",
	} {
		p := filepath.Join(project, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	prodOnly := newNamespace(t, prodContext)

	// Without the completion executable kubectl knows the plugin's name only.
	if r := runKubectl(t, project, "", "__complete", "envops", ""); strings.Contains(r.Stdout, "version\t") {
		t.Fatalf("kubectl completes the plugin's commands before completion was installed:\n%s", r)
	}
	installed := filepath.Join(pathDir, "kubectl_complete-envops")
	t.Cleanup(func() { _ = os.Remove(installed) })
	r := runKubectl(t, project, "", "envops", "completion", "install")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "wrote "+installed) {
		t.Fatalf("kubectl envops completion install should write %s:\n%s", installed, r)
	}

	tests := []struct {
		name    string
		args    []string
		want    []string
		notWant []string
	}{
		{
			name: "commands",
			args: []string{""},
			want: []string{"completion\t", "generate\t", "init-env\t", "version\t"},
		},
		{
			name:    "apps from the apps directory",
			args:    []string{"generate", ""},
			want:    []string{"api", "web"},
			notWant: []string{"README.md"},
		},
		{
			name: "environments from .envops.yaml",
			args: []string{"generate", "web", "--env", ""},
			want: []string{"dev", "prod"},
		},
		{
			name: "contexts from the kubeconfig",
			args: []string{"--context", ""},
			want: []string{devContext + "\t", prodContext + "\t"},
		},
		{
			name: "namespaces of the prod cluster",
			args: []string{"--context", prodContext, "generate", "-n", ""},
			want: []string{prodOnly, "kube-system"},
		},
		{
			name:    "namespaces of the dev cluster",
			args:    []string{"--context", devContext, "generate", "-n", ""},
			want:    []string{"kube-system"},
			notWant: []string{prodOnly},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runKubectl(t, project, "", append([]string{"__complete", "envops"}, tt.args...)...)
			if r.ExitCode != 0 {
				t.Fatalf("kubectl __complete failed:\n%s", r)
			}
			lines := strings.Split(r.Stdout, "\n")
			has := func(w string) bool {
				for _, l := range lines {
					if l == w || (strings.HasSuffix(w, "\t") && strings.HasPrefix(l, w)) || strings.HasPrefix(l, w+"\t") {
						return true
					}
				}
				return false
			}
			for _, w := range tt.want {
				if !has(w) {
					t.Errorf("completion of %q lacks %q:\n%s", tt.args, strings.TrimSuffix(w, "\t"), r)
				}
			}
			for _, w := range tt.notWant {
				if has(w) {
					t.Errorf("completion of %q offers %q:\n%s", tt.args, w, r)
				}
			}
		})
	}
}
