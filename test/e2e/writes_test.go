package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/render"
)

// corpusEnvironments are the environments of corpusProject, in order.
var corpusEnvironments = []string{"dev", "staging", "prod"}

// corpusProject writes a project of n apps, each with an overlay per
// environment, made by the scaffolder that "kubectl envops new" uses, and
// returns its directory; each app's image has tag, and its objects carry
// an annotation of padding bytes.
func corpusProject(t *testing.T, n int, tag string, padding int) string {
	t.Helper()
	dir := t.TempDir()
	cfgYAML := "environments:\n"
	for _, env := range corpusEnvironments {
		cfgYAML += fmt.Sprintf("  %s: {context: %s}\n", env, devContext)
	}
	cfgPath := filepath.Join(dir, config.FileName)
	if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		name := fmt.Sprintf("app-%04d", i)
		if _, err := render.Scaffold(t.Context(), filesys.MakeFsOnDisk(), cfg, render.NewApp{
			Name: name, Tier: "frontend", Role: "server", Image: "registry.example.com/" + name + ":" + tag,
			Kind: render.KindReplicationController, Environments: corpusEnvironments,
		}); err != nil {
			t.Fatal(err)
		}
		if padding > 0 {
			f, err := os.OpenFile(filepath.Join(cfg.AppsDir(), name, "base", "kustomization.yaml"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = fmt.Fprintf(f, "commonAnnotations:\n  padding: %s\n", strings.Repeat("x", padding))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// files reads every file under dir, by path relative to dir.
func files(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// oldOrNew fails t unless dir holds exactly the files of old, each either
// as in old or as in fresh, and returns how many are new.
func oldOrNew(t *testing.T, dir string, old, fresh map[string]string) int {
	t.Helper()
	got := files(t, dir)
	n := 0
	for name, content := range got {
		switch {
		case content == fresh[name]:
			n++
		case content != old[name]:
			t.Errorf("%s is neither as it was nor complete (%d bytes)", name, len(content))
		}
	}
	if len(got) != len(old) {
		t.Errorf("%d files in %s, want %d: a temporary file was left or one is missing", len(got), dir, len(old))
	}
	return n
}

// TestGenerateStopsCleanlyOnASignal interrupts the built plugin with SIGINT
// and SIGTERM while it replaces the files of an earlier run, and checks that
// it says so in one line with the shell's exit code, and that every file is
// either as it was or complete.
func TestGenerateStopsCleanlyOnASignal(t *testing.T) {
	dir := corpusProject(t, 200, "1.0", 0)
	ref := filepath.Join(t.TempDir(), "ref")
	if r := runKubectl(t, dir, "", "envops", "generate", "--all", "--all-environments", "--output-dir", ref); r.ExitCode != 0 {
		t.Fatalf("generate:\n%s", r)
	}
	fresh := files(t, ref)
	old := map[string]string{}
	for name := range fresh {
		old[name] = "# an earlier run's " + name + "\n"
	}
	first := filepath.Join("dev", "app-0000.yaml")

	for _, tc := range []struct {
		sig  syscall.Signal
		name string
		code int
	}{{syscall.SIGINT, "SIGINT", 130}, {syscall.SIGTERM, "SIGTERM", 143}} {
		t.Run(tc.name, func(t *testing.T) {
			// A run may finish before the signal lands; the test needs
			// one that did not.
			for attempt := 1; ; attempt++ {
				out := filepath.Join(t.TempDir(), "out")
				for name, content := range old {
					writeFileAll(t, filepath.Join(out, name), content)
				}
				before, err := os.Stat(filepath.Join(out, first))
				if err != nil {
					t.Fatal(err)
				}
				cmd := exec.Command(filepath.Join(pathDir, "kubectl"), "envops", "generate", "--all", "--all-environments", "--output-dir", out)
				cmd.Dir, cmd.Env = dir, commandEnv()
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				// kubectl execs the plugin in its own process: the
				// signal goes to the plugin once the first file is
				// replaced.
				deadline := time.Now().Add(2 * time.Minute)
				for time.Now().Before(deadline) {
					if fi, err := os.Stat(filepath.Join(out, first)); err == nil && !os.SameFile(fi, before) {
						break
					}
					time.Sleep(200 * time.Microsecond)
				}
				_ = cmd.Process.Signal(tc.sig)
				err = cmd.Wait()
				var ee *exec.ExitError
				code := 0
				if errors.As(err, &ee) {
					code = ee.ExitCode()
				}
				n := oldOrNew(t, out, old, fresh)
				if code == 0 && n == len(fresh) && attempt < 5 {
					continue
				}
				want := "error: interrupted (" + tc.name + "); wrote "
				if code != tc.code || strings.Count(stderr.String(), "\n") != 1 || !strings.HasPrefix(stderr.String(), want) {
					t.Fatalf("exit %d, stderr %q; want exit %d and one line starting %q", code, stderr.String(), tc.code, want)
				}
				if !strings.Contains(stderr.String(), fmt.Sprintf("wrote %d of %d files", n, len(fresh))) {
					t.Errorf("stderr %q; want it to say %d of %d files were written", stderr.String(), n, len(fresh))
				}
				if reported := strings.Count(stdout.String(), "wrote "); reported != n {
					t.Errorf("%d files reported written, %d are new", reported, n)
				}
				t.Logf("attempt %d: stopped after %d of %d files", attempt, n, len(fresh))
				return
			}
		})
	}
}

// writeFileAll writes a file, creating its directory.
func writeFileAll(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// onSmallDisk runs script with sh in a mount namespace of its own where
// $DISK is a new tmpfs of size bytes, as root of a user namespace of its
// own, so no privilege is needed; env is added to the script's
// environment, $PLUGIN is the plugin and $OUT a
// directory outside the tmpfs, where the script copies what the test
// checks. The tmpfs goes away with the script.
func onSmallDisk(t *testing.T, size int, script string, env ...string) (out string, r result) {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare (util-linux) is needed to mount a small tmpfs without privilege")
	}
	if probe := exec.Command(unshare, "-r", "-m", "sh", "-c", "mount -t tmpfs -o size=4k none \"$0\"", t.TempDir()); probe.Run() != nil {
		t.Skip("this kernel does not let a user namespace mount a tmpfs")
	}
	disk, out := t.TempDir(), t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "-r", "-m", "sh", "-c",
		fmt.Sprintf("mount -t tmpfs -o size=%d none \"$DISK\" || exit 99\ncd \"$DISK\"\n%s", size, script))
	cmd.Env = append(commandEnv(), "DISK="+disk, "OUT="+out, "PLUGIN="+filepath.Join(pathDir, "kubectl-envops"))
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out, result{Stdout: stdout.String(), Stderr: stderr.String(), ExitCode: code}
}

// fillDisk is shell that fills the disk, then frees kb KiB of it.
func fillDisk(kb int) string {
	return fmt.Sprintf("dd if=/dev/zero of=filler bs=4k 2>/dev/null; truncate -s -%dK filler\n", kb)
}

// TestGenerateOnAFullDisk fills a real disk while generate replaces the
// files of an earlier run: every file is as it was or complete, none is
// empty, no temporary file is left, and the error says so in one line.
func TestGenerateOnAFullDisk(t *testing.T) {
	oldProject, newProject := corpusProject(t, 50, "1.0", 0), corpusProject(t, 50, "2.0", 6000)
	ref := filepath.Join(t.TempDir(), "ref")
	if r := runKubectl(t, newProject, "", "envops", "generate", "--all", "--all-environments", "--output-dir", ref); r.ExitCode != 0 {
		t.Fatalf("generate:\n%s", r)
	}
	fresh := files(t, ref)
	script := "cp -a \"$OLD_PROJECT\" old && cp -a \"$NEW_PROJECT\" new || exit 98\n" +
		"(cd old && \"$PLUGIN\" generate --all --all-environments --output-dir ../rendered) >/dev/null || exit 98\n" +
		"cp -a rendered \"$OUT/before\"\n" + fillDisk(40) +
		"cd new && \"$PLUGIN\" generate --all --all-environments --output-dir ../rendered >/dev/null\n" +
		"code=$?\ncp -a ../rendered \"$OUT/after\"\nexit $code\n"
	// Room for two projects and one run's files, 4 KiB a page; the new
	// files take two pages each, the old ones one.
	out, r := onSmallDisk(t, 8<<20, script, "OLD_PROJECT="+oldProject, "NEW_PROJECT="+newProject)
	if r.ExitCode != 1 {
		t.Fatalf("want exit 1 for a full disk:\n%s", r)
	}
	want := "no space left on device; wrote "
	if strings.Count(r.Stderr, "\n") != 1 || !strings.Contains(r.Stderr, want) || !strings.Contains(r.Stderr, "every other file in ../rendered is as it was") {
		t.Errorf("stderr %q; want one line containing %q and that every other file is as it was", r.Stderr, want)
	}
	old := files(t, filepath.Join(out, "before"))
	n := oldOrNew(t, filepath.Join(out, "after"), old, fresh)
	if n == len(fresh) {
		t.Errorf("every file was written: the disk was not full")
	}
	for name, content := range files(t, filepath.Join(out, "after")) {
		if content == "" {
			t.Errorf("%s is empty", name)
		}
	}
}

// TestNewOnAFullDisk fills a real disk while new writes an app: nothing of
// the app is left, and once there is room the same new works.
func TestNewOnAFullDisk(t *testing.T) {
	script := "printf 'environments:\\n  dev: {context: d}\\n  prod: {context: p}\\n' > .envops.yaml\nmkdir apps\n" + fillDisk(8) +
		"\"$PLUGIN\" new web --tier frontend --role server --image nginx:1.27 >/dev/null\ncode=$?\n" +
		"cp -a apps \"$OUT/after-full\"\nrm filler\n" +
		"\"$PLUGIN\" new web --tier frontend --role server --image nginx:1.27 >/dev/null || exit 97\n" +
		"cp -a apps \"$OUT/after-room\"\nexit $code\n"
	out, r := onSmallDisk(t, 1<<20, script)
	if r.ExitCode != 1 || strings.Count(r.Stderr, "\n") != 1 || !strings.Contains(r.Stderr, "no space left on device") || !strings.Contains(r.Stderr, `app "web" was not created, and nothing is left of it`) {
		t.Fatalf("want exit 1 and one line saying the disk is full and nothing is left:\n%s", r)
	}
	if left, err := os.ReadDir(filepath.Join(out, "after-full")); err != nil || len(left) > 0 {
		t.Errorf("left in apps/ after the full disk: %v %v", left, err)
	}
	if got := files(t, filepath.Join(out, "after-room")); len(got) != 4 {
		t.Errorf("the next new wrote %d files, want 4: %v", len(got), got)
	}
}
