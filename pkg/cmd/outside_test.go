package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewDoesNotWriteThroughSymlinks(t *testing.T) {
	for _, tc := range []struct {
		name string
		// link is created in the app's directory, pointing at target
		// (relative to a directory outside the project).
		link, target string
	}{
		{"dangling link to a file", "base/kustomization.yaml", "planted.yaml"},
		{"link to a directory", "base", "."},
		{"dangling link to a directory", "overlays", "gone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			outside := t.TempDir()
			cfgPath := filepath.Join(dir, ".envops.yaml")
			writeFile(t, cfgPath, "environments:\n  dev: {context: d}\n", 0o644)
			link := filepath.Join(dir, "apps/web", tc.link)
			if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(outside, tc.target), link); err != nil {
				t.Fatal(err)
			}
			_, stderr, code := run(t, "new", "web", "--tier", "frontend", "--role", "server", "--image", "nginx", "--config", cfgPath)
			if code == 0 || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want a failure on one line", code, stderr)
			}
			entries, _ := os.ReadDir(outside)
			if len(entries) > 0 {
				t.Errorf("new wrote outside the project: %v", entries)
			}
			_ = filepath.WalkDir(filepath.Join(dir, "apps"), func(p string, d os.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					t.Errorf("new left %s behind after failing", p)
				}
				return nil
			})
		})
	}
}

func TestGenerateOutputDirDoesNotWriteThroughSymlinks(t *testing.T) {
	cfgPath := writeGenerateProject(t)
	out := t.TempDir()
	outside := filepath.Join(t.TempDir(), "target.yaml")
	writeFile(t, outside, "precious\n", 0o644)
	if err := os.Symlink(outside, filepath.Join(out, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := run(t, "generate", "--all", "--env", "dev", "--output-dir", out, "--config", cfgPath)
	want := "web.yaml is not a regular file (a symbolic link)"
	if code != ExitUsage || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr %q; want exit 2 and one line containing %q", code, stderr, want)
	}
	if b, _ := os.ReadFile(outside); string(b) != "precious\n" {
		t.Errorf("the link's target was overwritten: %q", b)
	}
}

// TestGenerateEnvironmentDirDoesNotLeadOutside checks that an environment's
// directory planted in --output-dir as a link to elsewhere is refused
// before any file is written.
func TestGenerateEnvironmentDirDoesNotLeadOutside(t *testing.T) {
	cfgPath := writeGenerateProject(t)
	out := t.TempDir()
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(out, "prod")); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := run(t, "generate", "--all", "--all-environments", "--output-dir", out, "--config", cfgPath)
	want := "prod is not a directory (a symbolic link)"
	if code != ExitUsage || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr %q; want exit 2 and one line containing %q", code, stderr, want)
	}
	if entries, _ := os.ReadDir(outside); len(entries) > 0 {
		t.Errorf("generate wrote through the link: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(out, "dev")); !os.IsNotExist(err) {
		t.Errorf("generate wrote the dev directory before refusing: %v", err)
	}
}

// TestGenerateSecrets checks that an app's generated Secret is written for
// its owner only, and that a secretGenerator literal without "=" is refused
// without its text, or any other literal's, reaching the error line.
func TestGenerateSecrets(t *testing.T) {
	cfgPath := writeGenerateProject(t)
	overlay := filepath.Join(filepath.Dir(cfgPath), "apps/web/overlays/dev/kustomization.yaml")
	writeFile(t, overlay, "resources:\n- ../../base\nsecretGenerator:\n- name: db\n  literals:\n  - password=hunter2\n", 0o644)
	out := t.TempDir()
	if _, stderr, code := run(t, "generate", "web", "--env", "dev", "--output-dir", out, "--config", cfgPath); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if fi, err := os.Stat(filepath.Join(out, "web.yaml")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("web.yaml holds a Secret: want mode 0600, got %v (%v)", fi.Mode().Perm(), err)
	}

	writeFile(t, overlay, "resources:\n- ../../base\nsecretGenerator:\n- name: db\n  literals:\n  - user=admin\n  - hunter2\n", 0o644)
	for _, args := range [][]string{
		{"generate", "web", "--env", "dev"},
		{"lint", "-k", filepath.Dir(overlay)},
	} {
		_, stderr, code := run(t, append(args, "--config", cfgPath)...)
		want := `secretGenerator "db": literal 2 of 2 is not KEY=VALUE`
		if code != ExitUsage || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 and one line containing %q", args[0], code, stderr, want)
		}
		if strings.Contains(stderr, "hunter2") || strings.Contains(stderr, "admin") {
			t.Errorf("%s: the error line shows a secret: %q", args[0], stderr)
		}
	}
}

// TestNameTheAPIServerRefusesExitsTwo renders the overlay of
// ../render/testdata/hostile/long-name-prefix.yaml: generate and a dry-run
// deploy both refuse it as bad input, naming the object and the limit,
// before anything reaches a cluster.
func TestNameTheAPIServerRefusesExitsTwo(t *testing.T) {
	overlay, err := os.ReadFile("../render/testdata/hostile/long-name-prefix.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := writeGenerateProject(t)
	writeFile(t, filepath.Join(filepath.Dir(cfgPath), "apps/web/overlays/dev/kustomization.yaml"), string(overlay), 0o644)
	writeFile(t, cfgPath, "environments:\n  dev: {context: envops-dev}\n", 0o644)
	t.Setenv("KUBECONFIG", envTestKubeconfig(t))
	for _, args := range [][]string{
		{"generate", "web", "--env", "dev"},
		{"generate", "--all", "--env", "dev", "--output-dir", t.TempDir()},
		{"deploy", "web", "--env", "dev", "--dry-run"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			stdout, stderr, code := run(t, append(args, "--config", cfgPath)...)
			want := "the API server refuses this name (303 characters): must be no more than 253 characters"
			if code != ExitUsage || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, `ReplicationController "ppp`) || !strings.Contains(stderr, want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and one line naming the controller and containing %q", code, stdout, stderr, want)
			}
		})
	}
}
