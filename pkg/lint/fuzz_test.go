package lint

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
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
