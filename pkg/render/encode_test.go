package render

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

// printed is what kubectl's YAML printer writes for objs.
func printed(t testing.TB, objs []*unstructured.Unstructured) string {
	t.Helper()
	var b bytes.Buffer
	p := &printers.YAMLPrinter{}
	for _, o := range objs {
		if err := p.PrintObj(o, &b); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// written is what Write writes for objs.
func written(t testing.TB, objs []*unstructured.Unstructured) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, "yaml", objs); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestWriteIsThePrinter checks that Write writes, byte for byte, what
// kubectl's YAML printer writes, for the values the JSON round trip
// changes and for every object the tests render.
func TestWriteIsThePrinter(t *testing.T) {
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata":   map[string]any{"name": "edge", "labels": map[string]any(nil), "finalizers": []any(nil)},
		"data": map[string]any{
			"floats":  []any{3.0, 1.5, 1e21, 1e20, 1e-7, 0.000001, math.Copysign(0, -1), 1e6, 123456789.0, 2.5e-8, math.MaxFloat64, 0.1},
			"ints":    []any{int64(0), int64(-1), int64(math.MaxInt64), int64(math.MinInt64), 7, int32(8)},
			"invalid": "a\xffb\xc3(c\xed\xa0\x80",
			"strings": []any{"true", "1.0", "", "null", "~", "- a", "a: b", "line\nbreak\n", "é\u2028\u2029", "<>&", "0x1F", "1e3", "yes", " lead", "trail ", "#", "'", "\"", "\t"},
			"nested":  []any{map[string]any{"k": []any{}, "m": map[string]any{}}, []any{nil, true, false}},
			"keys":    map[string]any{"a10": 1, "a9": 2, "1": 3, "true": 4, "": 5, "a: b": 6, "B": 7, "b": 8},
		},
	}}
	objs := []*unstructured.Unstructured{obj, obj}
	if got, want := written(t, objs), printed(t, objs); got != want {
		t.Errorf("Write differs from the printer:\n%s\nwant:\n%s", got, want)
	}

	// Every YAML file the render tests read, as objects.
	var files []string
	_ = filepath.WalkDir("testdata", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".yaml") && !strings.Contains(p, "hostile") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 5 {
		t.Fatalf("found %d YAML files under testdata", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		nodes, err := kio.FromBytes(data)
		if err != nil {
			continue
		}
		objs, err := toUnstructured(nodes)
		if err != nil || len(objs) == 0 || objs[0].GetKind() == "" {
			continue
		}
		if got, want := written(t, objs), printed(t, objs); got != want {
			t.Errorf("%s: Write differs from the printer:\n%s\nwant:\n%s", f, got, want)
		}
	}
}

// FuzzWriteIsThePrinter checks Write against kubectl's YAML printer on
// arbitrary YAML documents.
//
//	go test ./pkg/render -run '^$' -fuzz FuzzWriteIsThePrinter -fuzztime 1m
func FuzzWriteIsThePrinter(f *testing.F) {
	for _, s := range []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: 1.0, y: 1e21, z: -0.0, w: .inf}\n",
		"apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: ~}\nspec: {containers: [{name: c, image: i, args: ['1', yes, 0x1F, 2026-03-01]}]}\n",
		"apiVersion: v1\nkind: List\nitems: [{kind: A, apiVersion: v1}, null, [], {}]\n",
		"kind: K\napiVersion: v\n\"a: b\": !!binary aGVsbG8=\nn: 123456789012345678901234567890\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		if len(doc) > 1<<14 {
			return
		}
		n, err := yaml.Parse(doc)
		// Kustomize hands over objects only.
		if err != nil || n.YNode().Kind != yaml.MappingNode {
			return
		}
		objs, err := toUnstructured([]*yaml.RNode{n})
		if err != nil || objs[0].GroupVersionKind().Empty() {
			return
		}
		var want bytes.Buffer
		if err := (&printers.YAMLPrinter{}).PrintObj(objs[0], &want); err != nil {
			return
		}
		got := written(t, objs)
		// go.yaml.in/yaml/v2 orders keys that hold digits ("1A7", "90X",
		// "101") by a comparison that is not a total order, so the printer
		// itself writes them in an order that changes from run to run:
		// there, the same data is all there is to compare.
		if !anyKeyHasDigit(objs[0].Object) {
			if got != want.String() {
				t.Errorf("Write differs from the printer for %q:\n%s\nwant:\n%s", doc, got, want.String())
			}
			return
		}
		var g, w any
		if err := sigsyaml.Unmarshal(want.Bytes(), &w); err != nil {
			return
		}
		if err := sigsyaml.Unmarshal([]byte(got), &g); err != nil {
			t.Fatalf("Write wrote YAML that does not parse: %v\n%s", err, got)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("Write differs from the printer for %q:\n%s\nwant:\n%s", doc, got, want.String())
		}
	})
}

// anyKeyHasDigit tells whether a key of v, at any depth, holds a digit.
func anyKeyHasDigit(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if strings.ContainsAny(k, "0123456789") || anyKeyHasDigit(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if anyKeyHasDigit(e) {
				return true
			}
		}
	}
	return false
}
