package render

import (
	"bytes"
	"fmt"
	"math"
	"runtime/debug"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestWriteYAMLStreamIsOnePrinter checks that apps encoded apart are
// written exactly as one printer writes all their objects, whichever apps
// render no objects.
func TestWriteYAMLStreamIsOnePrinter(t *testing.T) {
	obj := func(name string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": name}}}
	}
	app := func(name string, n int) AppObjects {
		a := AppObjects{App: name}
		for i := range n {
			a.Objects = append(a.Objects, obj(fmt.Sprintf("%s-%d", name, i)))
		}
		return a
	}
	for _, apps := range [][]AppObjects{
		{app("a", 2), app("b", 0), app("c", 1)},
		{app("a", 0), app("b", 3)},
		{app("a", 1), app("b", 0)},
		{app("a", 0)},
		nil,
	} {
		var want, got bytes.Buffer
		var all []*unstructured.Unstructured
		for _, a := range apps {
			all = append(all, a.Objects...)
		}
		if err := Write(&want, "yaml", all); err != nil {
			t.Fatal(err)
		}
		if err := WriteYAMLStream(&got, apps); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("got:\n%s\nwant:\n%s", got.String(), want.String())
		}
	}
}

// TestTuneGC checks that rendering raises the collector's target and
// caps memory, leaves what the user set alone, and restores both.
func TestTuneGC(t *testing.T) {
	prevPercent := debug.SetGCPercent(100)
	prevLimit := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetGCPercent(prevPercent)
	defer debug.SetMemoryLimit(prevLimit)

	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	restore := TuneGC()
	if p, l := debug.SetGCPercent(gcPercent), debug.SetMemoryLimit(-1); p != gcPercent || l != memoryLimit {
		t.Errorf("while rendering: GOGC %d, limit %d; want %d and %d", p, l, gcPercent, memoryLimit)
	}
	restore()
	if p, l := debug.SetGCPercent(100), debug.SetMemoryLimit(-1); p != 100 || l != math.MaxInt64 {
		t.Errorf("after rendering: GOGC %d, limit %d; want both restored", p, l)
	}

	t.Setenv("GOGC", "50")
	t.Setenv("GOMEMLIMIT", "100MiB")
	TuneGC()()
	if p, l := debug.SetGCPercent(100), debug.SetMemoryLimit(-1); p != 100 || l != math.MaxInt64 {
		t.Errorf("with GOGC and GOMEMLIMIT set: GOGC %d, limit %d; want them left alone", p, l)
	}
}
