package lint

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/envops/kubectl-envops/pkg/config"
)

// TestInputValuesAreEscapedInReports lints an object whose name, labels
// and container name carry newlines, ESC and a bidirectional override: no
// report may let them start a line (GitHub Actions runs "::warning ..."
// lines as commands) or reach the terminal raw, and JUnit and JSON stay valid.
func TestInputValuesAreEscapedInReports(t *testing.T) {
	l, err := New(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	l.RecordObjects(true)
	var rep Report
	if err := l.LintFiles(context.Background(), []string{"testdata/hostile/control-chars.yaml"}, nil, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) == 0 {
		t.Fatal("no findings: the fixture should break the convention")
	}
	for _, format := range Formats() {
		for _, color := range []bool{false, true} {
			var out bytes.Buffer
			if err := Write(&out, &rep, WriteOptions{Format: format, Color: color}); err != nil {
				t.Fatal(err)
			}
			s := out.String()
			for _, line := range strings.Split(s, "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "::warning file=x") || strings.HasPrefix(strings.TrimSpace(line), "::error::pwned") {
					t.Errorf("%s: an input value starts a line of its own: %q", format, line)
				}
			}
			if strings.Contains(s, "\u202e") || strings.Contains(s, "\r") || strings.Contains(s, "[2J") && strings.Contains(s, "\x1b[2J") {
				t.Errorf("%s: control characters reach the output:\n%q", format, s)
			}
			switch format {
			case FormatText:
				if !strings.Contains(s, `ReplicationController/evil\n::warning file=x::INJECTED`) {
					t.Errorf("text output does not show the escaped name:\n%s", s)
				}
			case FormatJSON, FormatSARIF:
				if !json.Valid(out.Bytes()) {
					t.Errorf("%s output is not JSON", format)
				}
			case FormatJUnit:
				dec := xml.NewDecoder(&out)
				for {
					if _, err := dec.Token(); err == io.EOF {
						break
					} else if err != nil {
						t.Fatalf("junit output is not XML: %v", err)
					}
				}
			}
		}
	}
}

// TestExpandPathsReadsRegularFilesOnly puts a FIFO among the manifests of
// a directory: reading it would block until a writer comes, so the walk
// skips it and says so.
func TestExpandPathsReadsRegularFilesOnly(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(svc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a.yaml", filepath.Join(dir, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.yaml"), 0o644); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	sub := filepath.Join(dir, "k")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	// A FIFO named like a kustomization file is not a kustomization.
	if err := syscall.Mkfifo(filepath.Join(sub, "kustomization.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := ExpandPaths([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range in.Files {
		files = append(files, filepath.Base(f))
	}
	if strings.Join(files, " ") != "a.yaml link.yaml" || len(in.Kustomizations) != 0 {
		t.Errorf("files %v, kustomizations %v; want a.yaml and link.yaml only", files, in.Kustomizations)
	}
	if len(in.Skipped) != 2 || !strings.Contains(in.Skipped[0].Reason, "not a regular file") {
		t.Errorf("skipped %+v, want both FIFOs named", in.Skipped)
	}
}

// TestExpandPathsSpellingsOfOneDirectory: "k", "k/", "./k" and "." inside
// k name one kustomization, whose resources are never read as files.
func TestExpandPathsSpellingsOfOneDirectory(t *testing.T) {
	dir := t.TempDir()
	k := filepath.Join(dir, "k")
	for _, f := range []string{"kustomization.yaml", "rc.yaml", "patches/p.yaml"} {
		p := filepath.Join(k, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(svc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	for _, tc := range []struct{ wd, path, wantFiles string }{
		{dir, "k", "k/kustomization.yaml"},
		{dir, "k/", "k/kustomization.yaml"},
		{dir, "./k", "k/kustomization.yaml"},
		{dir, "./k//", "k/kustomization.yaml"},
		{k, ".", "kustomization.yaml"},
	} {
		t.Chdir(tc.wd)
		in, err := ExpandPaths([]string{tc.path})
		if err != nil {
			t.Fatal(err)
		}
		var files []string
		for _, f := range in.Files {
			files = append(files, filepath.ToSlash(f))
		}
		if strings.Join(files, " ") != tc.wantFiles || len(in.Kustomizations) != 1 {
			t.Errorf("%q: files %v, kustomizations %v; want %s alone", tc.path, files, in.Kustomizations, tc.wantFiles)
		}
	}
}

// TestRemappedSecretVolumeIsFlagged: a Secret volume whose items leave out
// the key mounts, yet /etc/secrets/environment does not exist in the pod.
func TestRemappedSecretVolumeIsFlagged(t *testing.T) {
	data, err := os.ReadFile("testdata/hostile/remapped-secret.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := lintString(t, config.Default(), string(data))
	want := `24 env-secret-mounted: volume "environment" projects only other as other of the environment Secret, so /etc/secrets/environment does not exist in the pod`
	if strings.Join(got, "\n") != want {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
}

// TestOverlappingSelectorsAreFlagged: controllers in one namespace whose
// selectors select each other's pods are flagged once, on the later one;
// another namespace, and another copy of the same object, are not.
func TestOverlappingSelectorsAreFlagged(t *testing.T) {
	l, err := New(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := l.LintFiles(context.Background(), []string{"testdata/hostile/twin-selectors.yaml"}, nil, &rep); err != nil {
		t.Fatal(err)
	}
	l.Finish(&rep)
	var got []string
	for _, f := range rep.Findings {
		got = append(got, fmt.Sprintf("%d %s %s: %s", f.Location.Line, f.Rule, f.Object, f.Message))
	}
	want := []string{
		"18 selector-overlap ReplicationController/twin-canary: the pods of this controller are also selected by ReplicationController/twin (testdata/hostile/twin-selectors.yaml:4), whose selector is name=twin-server: both controllers would manage the same pods",
		"32 selector-overlap Deployment/twin-all: the selector (app in (twin)) also selects the pods of ReplicationController/twin (testdata/hostile/twin-selectors.yaml:4): both controllers would manage the same pods",
		"62 selector-overlap ReplicationController/twin: the pods of this controller are also selected by ReplicationController/twin-canary (testdata/hostile/twin-selectors.yaml:18), whose selector is name=twin-server: both controllers would manage the same pods",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Disabled, or opted out of, the rule reports nothing.
	off, _ := New(config.Default(), RuleSelectorOverlap)
	var quiet Report
	if err := off.LintFiles(context.Background(), []string{"testdata/hostile/twin-selectors.yaml"}, nil, &quiet); err != nil {
		t.Fatal(err)
	}
	off.Finish(&quiet)
	if len(quiet.Findings) != 0 {
		t.Errorf("disabled rule reported %v", quiet.Findings)
	}
}

// endless is an input that never ends: /dev/zero, or "yes x".
type endless []byte

func (e endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = e[i%len(e)]
	}
	return len(p) - len(p)%len(e), nil
}

// An input without end ends lint with one finding, the document too
// large, after reading MaxDocumentBytes of it.
func TestAnEndlessInputEnds(t *testing.T) {
	for name, in := range map[string]io.Reader{
		"/dev/zero": endless{0},
		"yes x":     endless("x\n"),
		"one line":  endless("x"),
	} {
		t.Run(name, func(t *testing.T) {
			l, err := New(config.Default())
			if err != nil {
				t.Fatal(err)
			}
			var rep Report
			done := make(chan error, 1)
			go func() { done <- l.LintFiles(context.Background(), []string{"-"}, in, &rep) }()
			select {
			case err = <-done:
			case <-time.After(time.Minute):
				t.Fatal("lint still reads an endless input after a minute")
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Findings) != 1 || rep.Findings[0].Rule != RuleInvalidDocument || !strings.Contains(rep.Findings[0].Message, "larger than 32 MiB") {
				t.Errorf("findings %+v, want one: the document is too large", rep.Findings)
			}
		})
	}
}
