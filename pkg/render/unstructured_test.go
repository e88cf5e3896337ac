package render

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// TestToUnstructuredAsMarshalJSON checks that toUnstructured reads nodes
// exactly as RNode.MarshalJSON followed by a JSON decode does, for the
// scalars YAML spells in several ways and for nodes the transforms build.
func TestToUnstructuredAsMarshalJSON(t *testing.T) {
	doc := `apiVersion: v1
kind: ConfigMap
metadata:
  name: tricky
  annotations: {quoted: "123", plain-int: 123, float: 1.50, exp: 1e3, big: 9223372036854775807, neg: -0,
    bool: true, yes: yes, off: off, nul: null, tilde: ~, empty: "", date: 2026-03-01, time: 2026-03-01T10:00:00Z,
    tagged: !!str 42, hex: 0x1F, octal: 0o17, dot: "."}
data:
  literal: |
    line one
      indented
  folded: >
    folded
    text
  anchor: &a shared
  alias: *a
  list: [1, "2", three, {k: v}, [], {}]
  nested: {a: {b: {c: [null, true, 1.0]}}}
  "key with: colon": x
  unicode: "é\u00e9\t"
`
	n, err := yaml.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	// Nodes as the transforms build them.
	if err := n.PipeE(yaml.SetField("built-string", yaml.NewStringRNode("007"))); err != nil {
		t.Fatal(err)
	}
	if err := n.PipeE(yaml.SetField("built-scalar", yaml.NewScalarRNode("12"))); err != nil {
		t.Fatal(err)
	}
	if err := n.PipeE(yaml.SetField("built-list", yaml.NewListRNode("a", "true"))); err != nil {
		t.Fatal(err)
	}

	got, err := toUnstructured([]*yaml.RNode{n})
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := &unstructured.Unstructured{}
	if err := want.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got[0].Object, want.Object) {
		t.Errorf("got  %#v\nwant %#v", got[0].Object, want.Object)
	}
}
