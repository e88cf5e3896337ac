package lint

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/envops/kubectl-envops/pkg/config"
)

// FuzzLint feeds arbitrary bytes through the document reader, every rule
// and every reporter: nothing may panic, and every document that cannot be
// read must be reported with its line.
//
//	go test ./pkg/lint -run '^$' -fuzz FuzzLint -fuzztime 1m
func FuzzLint(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.yaml")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		goodRC(),
		svc + "---\n" + svc,
		"apiVersion: v1\nkind: List\nitems:\n- " + svc,
		`{"apiVersion": "v1", "kind": "Service", "metadata": {"labels": {"a": 1}}} {"kind": "Pod"}`,
		"kind: Pod\nkind: Pod\n",
		"a: &a [*a]\n",
		"--- {\n",
		"\x00\xff",
		"kind: Kustomization\ncommonLabels: {a: b}\n",
	} {
		f.Add([]byte(s))
	}
	cfg := config.Default()
	cfg.Labels.Allowed = map[string][]string{"tier": {"frontend", "backend"}}
	cfg.Labels.Recommended = map[string]string{"app": "app.kubernetes.io/name"}
	l, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	l.RecordObjects(true)
	f.Fuzz(func(t *testing.T, data []byte) {
		var rep Report
		if err := l.LintFiles(context.Background(), []string{"-"}, bytes.NewReader(data), &rep); err != nil {
			t.Fatalf("reading from memory failed: %v", err)
		}
		for _, f := range rep.Findings {
			if ruleByID(f.Rule) == nil || f.Message == "" || f.Severity == 0 {
				t.Fatalf("malformed finding %+v", f)
			}
			if f.Rule == RuleInvalidDocument && f.Location.Line < 1 {
				t.Fatalf("invalid document without a line: %+v", f)
			}
		}
		for _, format := range Formats() {
			var out bytes.Buffer
			if err := Write(&out, &rep, WriteOptions{Format: format}); err != nil {
				t.Fatalf("%s: %v", format, err)
			}
			switch format {
			case FormatJSON, FormatSARIF:
				if !json.Valid(out.Bytes()) {
					t.Fatalf("%s output is not JSON:\n%s", format, out.String())
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
	})
}

// FuzzListStream feeds arbitrary JSON through the List streamer: nothing
// may panic, every unreadable document is reported with its line, and
// when the whole input is one document that reads cleanly, streaming it
// finds exactly what reading it whole finds.
//
//	go test ./pkg/lint -run '^$' -fuzz FuzzListStream -fuzztime 1m
func FuzzListStream(f *testing.F) {
	for _, s := range []string{
		`{"apiVersion": "v1", "items": [` + jsonSvc("a") + `, ` + jsonSvc("b") + `], "kind": "List", "metadata": {}}`,
		`{"kind": "ServiceList", "apiVersion": "v1", "items": [` + jsonSvc("a") + `]}`,
		`{"apiVersion": "v1", "items": [` + jsonSvc("a") + `], "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"n": 2}}}`,
		`{"kind": "List", "apiVersion": "v1", "items": [{"kind": "List", "apiVersion": "v1", "items": [` + jsonSvc("a") + `]}]}`,
		`{"apiVersion": "v1", "kind": "List", "items": [1, "x", null, [], {}]}`,
		`{"items": [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}], "kind": "List", "items": []}`,
		"{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n{\"kind\": }]}",
		`{"apiVersion": "v1", "kind": "List", "items": {"a": 1}}`,
		`[{"x": 1}] {"kind": "List", "items": []}`,
	} {
		f.Add([]byte(s))
	}
	l, err := New(config.Default())
	if err != nil {
		f.Fatal(err)
	}
	l.RecordObjects(true)
	describe := func(fs []Finding) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Rule+" "+f.Object.String()+": "+f.Message)
		}
		slices.Sort(out)
		return out
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var rep Report
		if err := l.LintFiles(context.Background(), []string{"-"}, bytes.NewReader(data), &rep); err != nil {
			t.Fatalf("reading from memory failed: %v", err)
		}
		l.Finish(&rep)
		for _, f := range rep.Findings {
			if ruleByID(f.Rule) == nil || f.Message == "" || f.Severity == 0 {
				t.Fatalf("malformed finding %+v", f)
			}
			if f.Rule == RuleInvalidDocument && f.Location.Line < 1 {
				t.Fatalf("invalid document without a line: %+v", f)
			}
		}
		if len(rep.Checked) != rep.Objects {
			t.Fatalf("%d objects counted, %d recorded", rep.Objects, len(rep.Checked))
		}
		// The oracle: one JSON value read whole, as before streaming.
		var v any
		if !json.Valid(data) || json.Unmarshal(data, &v) != nil || !looksLikeJSON(bytes.TrimLeft(data, " \t\r\n")) {
			return
		}
		objs, bad := parseDocument(document{src: Source{File: "-"}, firstLine: 1, data: data})
		if bad != nil || len(rep.InvalidDocuments()) > 0 {
			return
		}
		var whole Report
		for _, o := range objs {
			found, _ := l.check(o)
			whole.Findings = append(whole.Findings, found...)
		}
		got, want := describe(rep.Findings), describe(whole.Findings)
		// The cross-object rule runs only on the streamed report.
		got = slices.DeleteFunc(got, func(s string) bool { return strings.HasPrefix(s, RuleSelectorOverlap+" ") })
		if len(objs) != rep.Objects || strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("streamed: %d objects\n%s\nread whole: %d objects\n%s", rep.Objects, strings.Join(got, "\n"), len(objs), strings.Join(want, "\n"))
		}
	})
}
