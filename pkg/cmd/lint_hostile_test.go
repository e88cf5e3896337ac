package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// copyTestdata copies testdata/NAME into a new project directory with an
// empty .envops.yaml, and returns the project.
func copyTestdata(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", name))); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".envops.yaml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestLintDirectorySpellings: tab completion adds a trailing slash, and
// "./k" or "." inside k are the same directory; each gives the report of
// "lint k", where the kustomization is rendered and its resources are not
// read again as files.
func TestLintDirectorySpellings(t *testing.T) {
	project := lintProject(t, map[string]string{
		"kust/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [rc.yaml]\n",
		"kust/rc.yaml":            unlabelledRC,
		// runLint reads the project file of the directory it runs in.
		"kust/.envops.yaml": "labels:\n  recommended: {app: app.kubernetes.io/name}\n",
	})
	want, code, err := runLint(t, project, "", "kust")
	if code != ExitError || !strings.Contains(want, "2 objects checked in 1 file: 2 errors, 2 warnings") {
		t.Fatalf("lint kust: exit %d (%v):\n%s", code, err, want)
	}
	for _, tc := range []struct{ dir, arg string }{
		{project, "kust/"}, {project, "./kust"}, {project, "./kust/"}, {filepath.Join(project, "kust"), "."},
	} {
		got, gotCode, _ := runLint(t, tc.dir, "", tc.arg)
		// Inside kust, files are named relative to it.
		got = strings.ReplaceAll(got, "\nkustomization.yaml\n", "\nkust/kustomization.yaml\n")
		if !strings.HasPrefix(got, "kust/") && strings.HasPrefix(got, "kustomization.yaml") {
			got = "kust/" + got
		}
		if gotCode != code || got != want {
			t.Errorf("lint %s (in %s): exit %d\n%s\nwant exit %d\n%s", tc.arg, filepath.Base(tc.dir), gotCode, got, code, want)
		}
	}
}

// TestLintDirectoryWithComponentAndBrokenKustomization: a kustomize
// Component is skipped (it cannot be built alone), a kustomization that
// does not build is one error line, and the findings of every other input
// are still reported.
func TestLintDirectoryWithComponentAndBrokenKustomization(t *testing.T) {
	project := copyTestdata(t, "components")
	out, code, err := runLint(t, project, "", ".")
	if code != ExitUsage {
		t.Fatalf("exit %d (%v), want %d:\n%s", code, err, ExitUsage, out)
	}
	for _, want := range []string{
		"plain/rc.yaml\n", "ReplicationController/cart: the controller is missing required labels name, role",
		"broken/kustomization.yaml\n", "cannot build the kustomization",
		"skipped components/ldap/kustomization.yaml: a kustomize Component is built only by the kustomizations that use it",
		"7 objects checked in 5 files (1 skipped): 3 errors",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if err == nil || !strings.Contains(err.Error(), "broken/kustomization.yaml: cannot build the kustomization") || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q, want one line naming the broken kustomization", err)
	}
	// -k on a Component says what it is.
	_, code, err = runLint(t, project, "", "-k", "components/ldap")
	if code != ExitUsage || !strings.Contains(err.Error(), "is a kustomize Component") {
		t.Errorf("lint -k on a Component: exit %d, %v", code, err)
	}
}

// TestLintEmptyInput: an explicit input that holds no objects usually
// means the command before the pipe failed; it exits 2 in one line unless
// --allow-empty.
func TestLintEmptyInput(t *testing.T) {
	project := lintProject(t, map[string]string{
		"empty.yaml":     "",
		"separator.yaml": "---\n",
		"comments.yaml":  "# nothing\n---\n...\n",
		"clean.yaml":     cleanRC,
	})
	for _, tc := range []struct {
		name, stdin string
		args        []string
		wantCode    int
		wantErr     string
	}{
		{name: "empty standard input", args: []string{"-"}, wantCode: ExitUsage, wantErr: "standard input holds no objects"},
		{name: "a lone separator on standard input", stdin: "---\n", args: []string{"-"}, wantCode: ExitUsage, wantErr: "standard input holds no objects"},
		{name: "an empty file", args: []string{"empty.yaml"}, wantCode: ExitUsage, wantErr: "empty.yaml holds no objects"},
		{name: "a file of separators and comments", args: []string{"comments.yaml", "clean.yaml"}, wantCode: ExitUsage, wantErr: "comments.yaml holds no objects"},
		{name: "a lone separator in a file", args: []string{"separator.yaml"}, wantCode: ExitUsage, wantErr: "--allow-empty"},
		{name: "--allow-empty accepts it", args: []string{"-", "--allow-empty"}},
		{name: "a file with objects", args: []string{"clean.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code, err := runLint(t, project, tc.stdin, tc.args...)
			if code != tc.wantCode {
				t.Fatalf("exit %d (%v), want %d:\n%s", code, err, tc.wantCode, out)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestLintDirectoryWithFIFO: a FIFO among the manifests would block the
// run forever; it is skipped and the summary says so.
func TestLintDirectoryWithFIFO(t *testing.T) {
	project := lintProject(t, map[string]string{"deploy/clean.yaml": cleanRC})
	if err := syscall.Mkfifo(filepath.Join(project, "deploy", "pipe.yaml"), 0o644); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	out, code, err := runLint(t, project, "", "deploy")
	if code != ExitOK {
		t.Fatalf("exit %d (%v):\n%s", code, err, out)
	}
	for _, want := range []string{"skipped deploy/pipe.yaml: not a regular file", "1 object checked in 1 file (1 skipped): no findings"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
