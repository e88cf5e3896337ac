package render

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/printers"
)

// gcPercent is the garbage collector's target while apps render. Kustomize
// allocates heavily and briefly: with Go's default of 100 and a heap that
// starts small, collection takes a quarter of the CPU time; at 400 it
// takes a fraction of that, for some more memory (about a third more at
// 200 apps).
const gcPercent = 400

// TuneGC raises the garbage collector's target for rendering, unless the
// user set GOGC; the returned func restores it.
func TuneGC() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	old := debug.SetGCPercent(gcPercent)
	return func() { debug.SetGCPercent(old) }
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
	p := &printers.YAMLPrinter{}
	for _, obj := range objs {
		if err := p.PrintObj(obj, w); err != nil {
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
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, r := range rendered {
		g.Go(func() error {
			var b bytes.Buffer
			err := Write(&b, "yaml", r.Objects)
			docs[i] = b.Bytes()
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
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

// WriteDir writes one file per app, APP.FORMAT, into dir, and calls wrote
// with the path of each. Files are written inside dir only, never through
// a symbolic link: a link planted there cannot redirect the output
// elsewhere. A file in the way that is not regular is an error matching
// ErrInput.
func WriteDir(dir, format string, rendered []AppObjects, wrote func(path string)) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create --output-dir: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("cannot open --output-dir: %w", err)
	}
	defer root.Close()
	for _, r := range rendered {
		name := r.App + "." + format
		path := filepath.Join(dir, name)
		if fi, err := root.Lstat(name); err == nil && !fi.Mode().IsRegular() {
			return inputError{fmt.Errorf("%s is not a regular file (%s): generate writes only regular files in --output-dir; remove it", path, fileKind(fi.Mode()))}
		}
		f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return fmt.Errorf("cannot write %s: %w", path, err)
		}
		err = Write(f, format, r.Objects)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		wrote(path)
	}
	return nil
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
