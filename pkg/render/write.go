package render

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/printers"
)

// Kustomize allocates heavily and briefly, and little of it lives: with
// Go's default GOGC of 100 and a heap that starts small, collection takes
// a quarter of the CPU time of rendering. gcPercent makes collections
// rarer: at 800 it takes about 7% less CPU than at 400 on 600 overlays,
// for a peak of about 180 MB instead of 135. memoryLimit caps what that
// costs on very large projects: nearer the limit, the collector runs more
// often again.
const (
	gcPercent   = 800
	memoryLimit = 1 << 30
)

// TuneGC sets the garbage collector for rendering, unless the user set
// GOGC (or GOMEMLIMIT, for the limit); the returned func restores it.
func TuneGC() (restore func()) {
	var undo []func()
	if os.Getenv("GOGC") == "" {
		old := debug.SetGCPercent(gcPercent)
		undo = append(undo, func() { debug.SetGCPercent(old) })
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		old := debug.SetMemoryLimit(memoryLimit)
		undo = append(undo, func() { debug.SetMemoryLimit(old) })
	}
	return func() {
		for _, f := range undo {
			f()
		}
	}
}

// SplitImage splits an image flag of the form APP=IMAGE; an image
// reference never holds '='.
func SplitImage(v string) (app, image string) {
	if a, img, ok := strings.Cut(v, "="); ok {
		return a, img
	}
	return "", v
}

// Write writes objects as one YAML stream (format "yaml"), or as one JSON
// List that "kubectl apply -f" accepts (format "json").
func Write(w io.Writer, format string, objs []*unstructured.Unstructured) error {
	if format == "json" {
		return (&printers.JSONPrinter{}).PrintObj(List(objs), w)
	}
	for i, obj := range objs {
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		b, ok := encodeYAML(obj)
		if !ok {
			// A fresh printer, which writes no separator of its own.
			if err := (&printers.YAMLPrinter{}).PrintObj(obj, w); err != nil {
				return err
			}
			continue
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// List is objs as one v1 List.
func List(objs []*unstructured.Unstructured) *unstructured.UnstructuredList {
	list := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "v1", "kind": "List"}}
	for _, obj := range objs {
		list.Items = append(list.Items, *obj)
	}
	return list
}

// WriteYAMLStream writes the objects of every app as one YAML stream,
// exactly as one Write call would. Encoding is a good part of the work, so
// apps are encoded concurrently, then written in order.
func WriteYAMLStream(w io.Writer, rendered []AppObjects) error {
	docs := make([][]byte, len(rendered))
	errs := make([]error, len(rendered))
	parallel(len(rendered), func(i int) { docs[i], errs[i] = rendered[i].encoding("yaml") })
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	first := true
	for _, doc := range docs {
		if len(doc) == 0 {
			continue
		}
		// The separator a single printer puts between objects.
		if !first {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		if _, err := w.Write(doc); err != nil {
			return err
		}
		first = false
	}
	return nil
}

// WriteDir writes one file per app into dir, and calls wrote with the path
// of each: dir/APP.FORMAT for one environment, dir/ENV/APP.FORMAT for
// several. Files are written inside dir only, never through a link: a
// symbolic link, or a file with other names (a hard link), planted there
// cannot redirect the output elsewhere. Every path is checked before
// anything is written: a file in the way that is not regular or has other
// names, or an environment's directory that is not a directory, is an
// error matching ErrInput.
//
// Each file is written to a temporary file beside it and renamed into
// place, so every file is, at any moment, either as it was or complete: a
// full disk or an interrupt (ctx ending) leaves no empty or partial file.
// A file holding a Secret is readable by its owner only (0600), even when
// the file it replaces was not. Apps are encoded and written concurrently,
// and reported in order: every file written, then the first that could
// not be, or that ctx ended.
func WriteDir(ctx context.Context, dir, format string, rendered []EnvObjects, wrote func(path string)) error {
	return writeDir(ctx, dir, format, rendered, wrote, nil)
}

func writeDir(ctx context.Context, dir, format string, rendered []EnvObjects, wrote func(path string), through writeThrough) error {
	type file struct {
		name string
		app  AppObjects
		data []byte
		err  error
		done bool
	}
	var files []file
	for _, env := range rendered {
		for _, app := range env.Apps {
			name := app.App + "." + format
			if len(rendered) > 1 {
				name = filepath.Join(env.Env, name)
			}
			files = append(files, file{name: name, app: app})
		}
	}
	parallel(len(files), func(i int) { files[i].data, files[i].err = files[i].app.encoding(format) })
	for _, f := range files {
		if f.err != nil {
			return f.err
		}
	}
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("%w: no file was written in %s", err, dir)
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create --output-dir: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("cannot open --output-dir: %w", err)
	}
	defer root.Close()
	// Environments have directories of their own when there are several.
	var envDirs []string
	if len(rendered) > 1 {
		for _, env := range rendered {
			envDirs = append(envDirs, env.Env)
		}
	}
	for _, d := range envDirs {
		if fi, err := root.Lstat(d); err == nil && !fi.IsDir() {
			return inputError{fmt.Errorf("%s is not a directory (%s): generate writes each environment into a directory of that name in --output-dir; remove it", filepath.Join(dir, d), fileKind(fi.Mode()))}
		}
	}
	for _, f := range files {
		fi, err := root.Lstat(f.name)
		if err != nil {
			continue
		}
		if !fi.Mode().IsRegular() {
			return inputError{fmt.Errorf("%s is not a regular file (%s): generate writes only regular files in --output-dir; remove it", filepath.Join(dir, f.name), fileKind(fi.Mode()))}
		}
		if n := linkCount(fi); n > 1 {
			return inputError{fmt.Errorf("%s is a hard link (one of %d names of the same file): generate never writes through links; remove it", filepath.Join(dir, f.name), n)}
		}
	}
	for _, d := range envDirs {
		if err := root.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("cannot create %s: %w", filepath.Join(dir, d), err)
		}
	}

	// After the first failure, files not yet begun are left as they are.
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	parallel(len(files), func(i int) {
		f := &files[i]
		if ctx.Err() != nil {
			return
		}
		perm := fs.FileMode(0o644)
		if holdsSecret(f.app.Objects) {
			perm = 0o600
		}
		if f.err = replaceFile(root, f.name, f.data, perm, through); f.err != nil {
			stop(f.err)
			return
		}
		f.done = true
	})
	syncDir(root, ".")
	for _, d := range envDirs {
		syncDir(root, d)
	}

	var failed error
	written := 0
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if f.done {
			written++
			wrote(path)
		} else if f.err != nil && failed == nil {
			failed = fmt.Errorf("cannot write %s: %w", path, f.err)
		}
	}
	if failed == nil {
		if err := context.Cause(ctx); err != nil && written < len(files) {
			failed = err
		}
	}
	if failed != nil {
		return fmt.Errorf("%w; wrote %d of %d files, and every other file in %s is as it was", failed, written, len(files), dir)
	}
	return nil
}

// holdsSecret reports whether objs has a Secret, whose file others must
// not read.
func holdsSecret(objs []*unstructured.Unstructured) bool {
	for _, obj := range objs {
		if obj.GetKind() == "Secret" && obj.GroupVersionKind().Group == "" {
			return true
		}
	}
	return false
}

// parallel calls f for 0 ≤ i < n on one worker per CPU, and returns when
// every call has.
func parallel(n int, f func(i int)) {
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i := range n {
		g.Go(func() error {
			f(i)
			return nil
		})
	}
	_ = g.Wait()
}

// fileKind names what a non-regular file is.
func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}
