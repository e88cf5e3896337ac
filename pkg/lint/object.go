package lint

import (
	"fmt"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Object is one Kubernetes object to check: its YAML tree and where it came from.
type Object struct {
	// Node is the object's mapping node.
	Node *yaml.Node
	// Source is the file or cluster the object came from.
	Source Source
	// FirstLine is the line, in the source file, of the first line of the
	// YAML document the node was parsed from; 0 when lines are unknown.
	FirstLine int

	// kustomization marks the content of a kustomization file, which may
	// leave out apiVersion and kind.
	kustomization bool
}

// FromUnstructured turns an object rendered or read from a cluster into an
// Object; such objects have no line numbers.
func FromUnstructured(u *unstructured.Unstructured, src Source) (*Object, error) {
	var n yaml.Node
	if err := n.Encode(u.Object); err != nil {
		return nil, fmt.Errorf("cannot convert %s %s to YAML: %w", u.GetKind(), u.GetName(), err)
	}
	return &Object{Node: &n, Source: src}, nil
}

// line maps a node's line within its document to a line in the source.
func (o *Object) line(n *yaml.Node) int {
	if n == nil || n.Line == 0 || o.FirstLine == 0 {
		return 0
	}
	return o.FirstLine + n.Line - 1
}

// Ref names the object.
func (o *Object) Ref() ObjectRef {
	ref := ObjectRef{
		APIVersion: o.str("apiVersion"),
		Kind:       o.str("kind"),
		Namespace:  o.str("metadata", "namespace"),
		Name:       o.str("metadata", "name"),
	}
	if ref.Kind == "" && o.kustomization {
		// kustomize lets kustomization files leave out apiVersion and kind.
		ref.Kind = "Kustomization"
	}
	return ref
}

// Line is the line the object starts on (0 when unknown).
func (o *Object) Line() int { return o.line(o.Node) }

func (o *Object) str(path ...string) string {
	_, v := lookup(o.Node, path...)
	s, _ := scalar(v)
	return s
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 8; i++ {
		n = n.Alias
	}
	return n
}

// lookup finds the key and value nodes at a path of mapping keys; both are
// nil when any step is missing or not a mapping.
func lookup(n *yaml.Node, path ...string) (key, value *yaml.Node) {
	value = resolve(n)
	for _, p := range path {
		if value == nil || value.Kind != yaml.MappingNode {
			return nil, nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(value.Content); i += 2 {
			if value.Content[i].Value == p {
				key, next = value.Content[i], resolve(value.Content[i+1])
				break
			}
		}
		if next == nil {
			return nil, nil
		}
		value = next
	}
	return key, value
}

// scalar returns a scalar node's text; ok is false for other kinds and nil.
func scalar(n *yaml.Node) (string, bool) {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return "", false
	}
	return n.Value, true
}

// isNull reports whether a node is missing or YAML null.
func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// labelEntry is one key of a labels (or matchLabels) mapping.
type labelEntry struct {
	Key, Value string
	KeyNode    *yaml.Node
	ValueNode  *yaml.Node
	// NotString is set when the value is not a YAML string (a number,
	// boolean, null, list or mapping), which the API server rejects.
	NotString bool
}

// labelSet is a labels mapping as written, in order, with its nodes.
type labelSet struct {
	// KeyNode is the "labels:" key; nil when the mapping is absent.
	KeyNode *yaml.Node
	Entries []labelEntry
	byKey   map[string]int
}

// readLabels reads the mapping at path under n; merge keys ("<<") are
// followed so anchored label sets read as written.
func readLabels(n *yaml.Node, path ...string) labelSet {
	k, v := lookup(n, path...)
	ls := labelSet{KeyNode: k}
	if v == nil || v.Kind != yaml.MappingNode {
		return ls
	}
	ls.byKey = make(map[string]int, len(v.Content)/2)
	ls.add(v, 0)
	return ls
}

func (ls *labelSet) add(m *yaml.Node, depth int) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn, vn := m.Content[i], resolve(m.Content[i+1])
		if kn.Tag == "!!merge" && depth < 4 {
			if vn != nil && vn.Kind == yaml.MappingNode {
				ls.add(vn, depth+1)
			}
			continue
		}
		e := labelEntry{Key: kn.Value, KeyNode: kn, ValueNode: vn}
		if vn != nil && vn.Kind == yaml.ScalarNode {
			e.Value = vn.Value
			e.NotString = vn.Tag != "!!str"
		} else {
			e.NotString = true
		}
		if _, dup := ls.byKey[e.Key]; dup {
			continue // the first wins; duplicates are reported as invalid documents
		}
		ls.byKey[e.Key] = len(ls.Entries)
		ls.Entries = append(ls.Entries, e)
	}
}

// Present reports whether the mapping exists at all.
func (ls labelSet) Present() bool { return ls.byKey != nil }

// Get returns the value of a label and whether it is set to a non-empty value.
func (ls labelSet) Get(key string) (string, bool) {
	i, ok := ls.byKey[key]
	if !ok {
		return "", false
	}
	e := ls.Entries[i]
	return e.Value, e.Value != "" && !isNull(e.ValueNode)
}

// entry returns the entry of a key.
func (ls labelSet) entry(key string) (labelEntry, bool) {
	i, ok := ls.byKey[key]
	if !ok {
		return labelEntry{}, false
	}
	return ls.Entries[i], true
}

// Map returns the labels as a plain map.
func (ls labelSet) Map() map[string]string {
	m := make(map[string]string, len(ls.Entries))
	for _, e := range ls.Entries {
		m[e.Key] = e.Value
	}
	return m
}

// String renders labels as "k=v, k=v" in key order, for messages.
func (ls labelSet) String() string {
	if len(ls.Entries) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(ls.Entries))
	for _, e := range ls.Entries {
		parts = append(parts, e.Key+"="+e.Value)
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
