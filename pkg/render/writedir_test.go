package render

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// corpus is n apps of one environment, each a ConfigMap whose data holds
// image and enough bytes to make the file size bytes or so.
func corpus(env string, n, size int, image string) []EnvObjects {
	e := EnvObjects{Env: env}
	for i := range n {
		name := fmt.Sprintf("app-%03d", i)
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": name},
			"data":     map[string]any{"image": image, "padding": strings.Repeat("x", size)},
		}}
		e.Apps = append(e.Apps, AppObjects{App: name, Objects: []*unstructured.Unstructured{obj}})
	}
	return []EnvObjects{e}
}

// contents reads every file of dir by name.
func contents(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

// checkOldOrNew fails t unless every file in dir is exactly as in before or
// as in after, and no other file (a temporary one) is there; it returns how
// many are new.
func checkOldOrNew(t *testing.T, dir string, before, after map[string]string) (fresh int) {
	t.Helper()
	for name, got := range contents(t, dir) {
		switch {
		case got == after[name]:
			fresh++
		case got == before[name] && before[name] != "":
		default:
			t.Errorf("%s is neither as it was nor complete (%d bytes)", name, len(got))
		}
	}
	return fresh
}

// writtenDir renders a corpus into a new directory and returns the directory
// and its files.
func writtenDir(t *testing.T, rendered []EnvObjects) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	if err := WriteDir(t.Context(), dir, "yaml", rendered, func(string) {}); err != nil {
		t.Fatal(err)
	}
	return dir, contents(t, dir)
}

// failingWriter writes at most n bytes, then fails as a full disk does.
type failingWriter struct {
	w io.Writer
	n int
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		n, _ := f.w.Write(p[:f.n])
		f.n = 0
		return n, syscall.ENOSPC
	}
	f.n -= len(p)
	return f.w.Write(p)
}

func TestWriteDirOnAFullDiskLeavesEveryFileAsItWasOrComplete(t *testing.T) {
	before := corpus("dev", 40, 2000, "web:1")
	after := corpus("dev", 40, 2000, "web:2")
	dir, old := writtenDir(t, before)
	_, fresh := writtenDir(t, after)

	// The disk fills up in the middle of the 11th file.
	var files atomic.Int32
	through := func(name string, w io.Writer) io.Writer {
		if files.Add(1) >= 11 {
			return &failingWriter{w: w, n: 700}
		}
		return w
	}
	var reported []string
	err := writeDir(t.Context(), dir, "yaml", after, func(p string) { reported = append(reported, p) }, through)
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "every other file in "+dir+" is as it was") {
		t.Fatalf("err = %v; want no space left, saying the other files are as they were", err)
	}
	n := checkOldOrNew(t, dir, old, fresh)
	if n != len(reported) || n == 0 || n == len(fresh) {
		t.Errorf("%d files are new, %d reported written; want the same number, some but not all", n, len(reported))
	}
}

func TestWriteDirInterruptedLeavesEveryFileAsItWasOrComplete(t *testing.T) {
	before := corpus("dev", 40, 2000, "web:1")
	after := corpus("dev", 40, 2000, "web:2")
	dir, old := writtenDir(t, before)
	_, fresh := writtenDir(t, after)

	interrupt := errors.New("interrupted (SIGINT)")
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	var files atomic.Int32
	through := func(name string, w io.Writer) io.Writer {
		// The signal arrives while the 5th file is being written.
		if files.Add(1) == 5 {
			cancel(interrupt)
		}
		return w
	}
	var reported int
	err := writeDir(ctx, dir, "yaml", after, func(string) { reported++ }, through)
	if !errors.Is(err, interrupt) || !strings.Contains(err.Error(), fmt.Sprintf("wrote %d of 40 files", reported)) {
		t.Fatalf("err = %v; want the interruption and how many files were written", err)
	}
	if n := checkOldOrNew(t, dir, old, fresh); n != reported || n == len(fresh) {
		t.Errorf("%d files are new, %d reported written; want the same number, not all", n, reported)
	}
}

func TestWriteDirInterruptedBeforeWritingWritesNothing(t *testing.T) {
	ctx, cancel := context.WithCancelCause(t.Context())
	cancel(errors.New("interrupted (SIGTERM)"))
	dir := filepath.Join(t.TempDir(), "out")
	err := WriteDir(ctx, dir, "yaml", corpus("dev", 3, 10, "web:1"), func(p string) { t.Errorf("reported %s written", p) })
	if err == nil || !strings.Contains(err.Error(), "interrupted (SIGTERM): no file was written") {
		t.Errorf("err = %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the output directory was created: %v", err)
	}
}

// TestWriteDirReplacesFilesWithoutWritingThroughThem checks that a re-run
// gives each file a new inode: whoever holds the old file (a reader, a
// hard link made meanwhile) keeps it whole.
func TestWriteDirReplacesFilesWithoutWritingThroughThem(t *testing.T) {
	dir, old := writtenDir(t, corpus("dev", 1, 10, "web:1"))
	held, err := os.Open(filepath.Join(dir, "app-000.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := WriteDir(t.Context(), dir, "yaml", corpus("dev", 1, 10, "web:2"), func(string) {}); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(held)
	if string(b) != old["app-000.yaml"] {
		t.Errorf("the file open before the re-run changed under its reader: %q", b)
	}
}

func TestWriteDirRefusesHardLinks(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "precious")
	if err := os.WriteFile(outside, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(outside, filepath.Join(dir, "app-001.yaml")); err != nil {
		t.Fatal(err)
	}
	err := WriteDir(t.Context(), dir, "yaml", corpus("dev", 3, 10, "web:1"), func(p string) { t.Errorf("reported %s written", p) })
	want := filepath.Join(dir, "app-001.yaml") + " is a hard link (one of 2 names of the same file)"
	if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v; want an input error containing %q", err, want)
	}
	if b, _ := os.ReadFile(outside); string(b) != "precious\n" {
		t.Errorf("the file outside was changed: %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files were written before refusing: %v", entries)
	}
}
