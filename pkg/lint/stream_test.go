package lint

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/envops/kubectl-envops/pkg/config"
)

// jsonSvc is a Service with a number label value: one finding on the line
// of its "labels" key.
func jsonSvc(name string) string {
	return `{"apiVersion": "v1", "kind": "Service",
 "metadata": {"name": "` + name + `", "labels": {"bad": 1}}}`
}

func TestJSONListsAreStreamed(t *testing.T) {
	bad := "label-syntax: label bad on the object has a number value, not a string"
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "kubectl's order: items before kind",
			src:  "{\n\"apiVersion\": \"v1\",\n\"items\": [\n" + jsonSvc("a") + ",\n" + jsonSvc("b") + "\n],\n\"kind\": \"List\",\n\"metadata\": {}\n}\n",
			want: []string{"5 " + bad, "7 " + bad},
		},
		{
			name: "kind before items",
			src:  `{"kind": "ServiceList", "apiVersion": "v1", "items": [` + "\n" + jsonSvc("a") + "]}\n" + jsonSvc("after"),
			want: []string{"3 " + bad, "5 " + bad},
		},
		{
			name: "an object that only looks like a List is checked itself, not its items",
			src:  `{"apiVersion": "v1", "items": [` + jsonSvc("a") + `], "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"n": 2}}}`,
			want: []string{"1 label-syntax: label n on the object has a number value, not a string"},
		},
		{
			name: "an item that is not an object",
			src:  "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n" + jsonSvc("a") + ",\n\"text\"]}",
			want: []string{"3 " + bad, "4 invalid-document: List item is not an object"},
		},
		{
			name: "broken JSON inside a List: the items before it are reported, then the error",
			src:  "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n" + jsonSvc("a") + ",\n{\"kind\": }]}",
			want: []string{"3 " + bad, "4 invalid-document: cannot parse JSON: invalid character '}' looking for beginning of value"},
		},
		{
			name: "a List nested as an item is an object, as when read whole",
			src:  `{"kind": "List", "apiVersion": "v1", "items": [{"kind": "List", "apiVersion": "v1", "items": [` + jsonSvc("a") + `]}]}`,
			want: []string{},
		},
		{
			name: "a top-level array is not an object",
			src:  "[{\"x\": 1}]\n" + jsonSvc("a"),
			want: []string{"1 invalid-document: document is a list, not a Kubernetes object", "3 " + bad},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lintString(t, config.Default(), tt.src)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestJSONListLargerThanADocument: "kubectl get -o json" on a large
// cluster is one List; past MaxDocumentBytes it is still read, item by
// item, while one object that large is refused.
func TestJSONListLargerThanADocument(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`{"apiVersion": "v1", "items": [`)
	blob := strings.Repeat("x", 1<<20)
	n := MaxDocumentBytes>>20 + 8
	for i := range n {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c%d", "labels": {"n": %d}}, "data": {"blob": "%s"}}`, i, i, blob)
	}
	b.WriteString("], \"kind\": \"List\", \"metadata\": {}}\n")
	if b.Len() <= MaxDocumentBytes {
		t.Fatalf("the List is %d bytes, not larger than a document", b.Len())
	}
	l, err := New(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := l.LintFiles(context.Background(), []string{"-"}, &b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Objects != n || len(rep.Findings) != n || len(rep.InvalidDocuments()) != 0 {
		t.Fatalf("%d objects, %d findings, %d invalid; want %d objects with one finding each", rep.Objects, len(rep.Findings), len(rep.InvalidDocuments()), n)
	}
	for i, f := range rep.Findings {
		if f.Location.Line != i+1 || f.Object.Name != fmt.Sprintf("c%d", i) {
			t.Fatalf("finding %d: %s at line %d", i, f.Object, f.Location.Line)
		}
	}

	// One object past the bound is refused in one finding, without reading on.
	var big bytes.Buffer
	fmt.Fprintf(&big, `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"blob": "%s"}}`, strings.Repeat("x", MaxDocumentBytes+1))
	got := lintString(t, config.Default(), big.String())
	if len(got) != 1 || !strings.Contains(got[0], "invalid-document: document is larger than 32 MiB") {
		t.Errorf("findings %q, want one: document is larger than 32 MiB", got)
	}
}
