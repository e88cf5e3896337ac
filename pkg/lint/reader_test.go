package lint

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/envops/kubectl-envops/pkg/config"
)

// svc is a Service with one invalid label value, so that each document
// read shows up as one finding on the line of its "bad:" key.
const svc = "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  labels:\n    bad: 1\n"

func TestReadStreams(t *testing.T) {
	badLabel := "label-syntax: label bad on the object has a number value, not a string"
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "documents keep their lines across separators, comments and blank documents",
			src:  "# leading comment\n---\n" + svc + "---\n# only a comment\n---\n\n" + svc + "--- # trailing comment\n" + svc,
			want: []string{"8 " + badLabel, "18 " + badLabel, "25 " + badLabel},
		},
		{
			name: "a document end marker ends a document",
			src:  svc + "...\n---\n" + svc,
			want: []string{"6 " + badLabel, "14 " + badLabel},
		},
		{
			name: "CRLF line endings",
			src:  strings.ReplaceAll(svc+"---\n"+svc, "\n", "\r\n"),
			want: []string{"6 " + badLabel, "13 " + badLabel},
		},
		{
			name: "content after --- on the same line starts the document",
			src:  "--- {apiVersion: v1, kind: Service, metadata: {name: s, labels: {bad: 1}}}\n",
			want: []string{"1 " + badLabel},
		},
		{
			name: "List items are objects with their own lines",
			src: `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata:
    name: a
    labels: {bad: 1}
- apiVersion: v1
  kind: Service
  metadata:
    name: b
    labels:
      bad: 2
`,
			want: []string{"8 " + badLabel, "14 " + badLabel},
		},
		{
			name: "a stream of JSON objects, as kubectl reads it",
			src:  "{\"apiVersion\": \"v1\", \"kind\": \"Service\",\n \"metadata\": {\"name\": \"a\", \"labels\": {\"bad\": 1}}}\n\n{\"apiVersion\": \"v1\", \"kind\": \"Service\",\n \"metadata\": {\"name\": \"b\",\n  \"labels\": {\"bad\": 2}}}\n",
			want: []string{"2 " + badLabel, "6 " + badLabel},
		},
		{
			name: "a JSON List indented with tabs",
			src:  "{\n\t\"apiVersion\": \"v1\",\n\t\"kind\": \"List\",\n\t\"items\": [\n\t\t{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"a\", \"labels\": {\"bad\": 1}}}\n\t]\n}\n",
			want: []string{"5 " + badLabel},
		},
		{
			name: "malformed YAML is reported at its line and the next document is still read",
			src:  svc + "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: x\n   labels: {}\n---\n" + svc,
			want: []string{"6 " + badLabel, "12 invalid-document: cannot parse YAML: mapping values are not allowed in this context", "19 " + badLabel},
		},
		{
			name: "malformed JSON is reported at its line",
			src:  "{\"apiVersion\": \"v1\",\n \"kind\": \"Service\",\n \"metadata\": {\"name\": \"a\",,}}\n",
			want: []string{"3 invalid-document: cannot parse JSON: invalid character ',' looking for beginning of object key string"},
		},
		{
			name: "duplicate keys",
			src:  "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  labels: {app: a}\n  labels: {app: b}\n",
			want: []string{`6 invalid-document: key "labels" appears twice in one mapping (first at line 5)`},
		},
		{
			name: "duplicate keys in a large mapping",
			src:  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n" + manyKeys(40) + "  k7: again\n",
			want: []string{`45 invalid-document: key "k7" appears twice in one mapping (first at line 12)`},
		},
		{
			name: "binary junk",
			src:  "\x00\x01\x02\xff\xfe binary",
			want: []string{"1 invalid-document: cannot parse YAML: control characters are not allowed"},
		},
		{
			name: "deeply nested values",
			src:  "apiVersion: v1\nkind: ConfigMap\ndata: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\n",
			want: []string{"3 invalid-document: cannot parse YAML: exceeded max depth of 10000"},
		},
		{
			name: "a document that is not a mapping",
			src:  "- a\n- b\n---\njust text\n",
			want: []string{"1 invalid-document: document is a list, not a Kubernetes object", "4 invalid-document: document is a string, not a Kubernetes object"},
		},
		{
			name: "a mapping without kind",
			src:  "replicas: 3\n",
			want: []string{"1 invalid-document: document has no kind: it is not a Kubernetes object"},
		},
		{
			name: "self-referencing aliases do not loop",
			src:  "apiVersion: v1\nkind: Service\nmetadata: &m\n  name: a\n  labels: &l {x: *l}\n",
			want: []string{"5 label-syntax: label x on the object has a mapping value, not a string"},
		},
		{
			name: "anchored labels merged into a template are read",
			src:  "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels:\n    <<: &base {name: web-frontend, app: web, tier: frontend}\n    role: frontend\nspec:\n  containers: " + goodContainers + "\n  volumes: " + goodVolumes + "\n",
			want: []string{},
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

func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("  k" + itoa(i) + ": v\n")
	}
	return b.String()
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// A document over the limit is reported, and ends the input: nothing
// after it is read, as an input without end would never give a separator.
func TestHugeDocumentIsReportedAndEndsTheInput(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(svc + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  blob: ")
	b.Write(bytes.Repeat([]byte("x"), MaxDocumentBytes+1))
	b.WriteString("\n---\n" + svc)
	got := lintString(t, config.Default(), b.String())
	want := []string{
		"6 label-syntax: label bad on the object has a number value, not a string",
		"8 invalid-document: document is larger than 32 MiB",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLongLinesAreRead(t *testing.T) {
	long := strings.Repeat("a", 1<<20)
	src := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {bad: 1}}\ndata: {k: " + long + "}\n---\n" + svc
	got := lintString(t, config.Default(), src)
	want := []string{
		"3 label-syntax: label bad on the object has a number value, not a string",
		"11 label-syntax: label bad on the object has a number value, not a string",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestExpandPaths(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"b.yaml", "a/c.yml", "a/d.json", "a/notes.txt", ".hidden/e.yaml", "a/.f.yaml",
		"k/kustomization.yaml", "k/rc.yaml", "k/patches/p.yaml", "k/overlays/dev/kustomization.yaml", "k/overlays/dev/patch.yaml"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(svc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	rel := func(paths []string) string {
		out := make([]string, len(paths))
		for i, p := range paths {
			out[i] = p
			if p != "-" {
				r, _ := filepath.Rel(dir, p)
				out[i] = filepath.ToSlash(r)
			}
		}
		return strings.Join(out, " ")
	}
	tests := []struct {
		name      string
		paths     []string
		wantFiles string
		wantKusts string
		wantErr   string
	}{
		{
			name:      "a directory's manifests, recursively and in order, without hidden entries or the insides of kustomizations",
			paths:     []string{dir},
			wantFiles: "a/c.yml a/d.json b.yaml k/kustomization.yaml k/overlays/dev/kustomization.yaml",
			wantKusts: "k k/overlays/dev",
		},
		{
			name:      "a file is read whatever its extension or place, and - is standard input",
			paths:     []string{filepath.Join(dir, "a/notes.txt"), filepath.Join(dir, "k/rc.yaml"), "-"},
			wantFiles: "a/notes.txt k/rc.yaml -",
		},
		{
			name:    "a missing path is an error before anything is read",
			paths:   []string{filepath.Join(dir, "b.yaml"), filepath.Join(dir, "nope.yaml")},
			wantErr: "nope.yaml does not exist",
		},
		{
			name:    "a directory without manifests is an error",
			paths:   []string{empty},
			wantErr: "holds no .yaml, .yml or .json files",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ExpandPaths(tt.paths)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rel(got.Files) != tt.wantFiles || rel(got.Kustomizations) != tt.wantKusts {
				t.Errorf("files %q, kustomizations %q; want %q, %q", rel(got.Files), rel(got.Kustomizations), tt.wantFiles, tt.wantKusts)
			}
		})
	}
}

func TestLintFilesKeepsInputOrderAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for _, name := range []string{"z.yaml", "a.yaml", "m.yaml"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Repeat(svc+"---\n", 50)), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	l, err := New(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := l.LintFiles(context.Background(), files, nil, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Objects != 150 || len(rep.Findings) != 150 || len(rep.Sources) != 3 {
		t.Fatalf("objects %d, findings %d, sources %d; want 150, 150, 3", rep.Objects, len(rep.Findings), len(rep.Sources))
	}
	for i, f := range rep.Findings {
		wantFile, wantLine := files[i/50], 6+(i%50)*7
		if f.Location.File != wantFile || f.Location.Line != wantLine {
			t.Fatalf("finding %d at %s:%d, want %s:%d", i, f.Location.File, f.Location.Line, wantFile, wantLine)
		}
	}
}
