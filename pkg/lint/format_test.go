package lint

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/envops/kubectl-envops/pkg/config"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// goldenReport lints testdata/golden/input.yaml and one object read from a
// live cluster, so each format shows file and cluster locations.
func goldenReport(t *testing.T, record bool) *Report {
	t.Helper()
	cfg := config.Default()
	cfg.Labels.Allowed = map[string][]string{"tier": {"frontend", "backend"}}
	cfg.Labels.Recommended = map[string]string{"app": "app.kubernetes.io/name"}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l.RecordObjects(record)
	var rep Report
	if err := l.LintFiles(context.Background(), []string{"testdata/golden/input.yaml"}, nil, &rep); err != nil {
		t.Fatal(err)
	}
	live := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Pod",
		"metadata": map[string]any{
			"name": "debug", "namespace": "shop",
			"labels": map[string]any{"name": "debug-tools", "app": "debug", "tier": "backend", "role": "tools", "app.kubernetes.io/name": "debug"},
		},
		"spec": map[string]any{"containers": []any{map[string]any{"name": "sh", "image": "busybox"}}},
	}}
	src := Source{Context: "envops-dev", Namespace: "shop"}
	rep.AddSource(src)
	o, err := FromUnstructured(live, src)
	if err != nil {
		t.Fatal(err)
	}
	l.LintObjects([]*Object{o}, &rep)
	return &rep
}

func TestFormatsGolden(t *testing.T) {
	tests := []struct {
		name   string
		golden string
		opts   WriteOptions
	}{
		{name: "text", golden: "report.txt", opts: WriteOptions{Format: FormatText}},
		{name: "text on a terminal", golden: "report-color.txt", opts: WriteOptions{Format: FormatText, Color: true}},
		{name: "json", golden: "report.json", opts: WriteOptions{Format: FormatJSON}},
		{name: "sarif", golden: "report.sarif", opts: WriteOptions{Format: FormatSARIF, ToolVersion: "v1.2.3"}},
		{name: "junit failing on errors", golden: "report.xml", opts: WriteOptions{Format: FormatJUnit}},
		{name: "junit failing on warnings", golden: "report-warning.xml", opts: WriteOptions{Format: FormatJUnit, FailOn: SeverityWarning}},
		{name: "github", golden: "report.github", opts: WriteOptions{Format: FormatGitHub}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := goldenReport(t, tt.opts.Format == FormatJUnit)
			var out bytes.Buffer
			if err := Write(&out, rep, tt.opts); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", tt.golden)
			if *update {
				if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if out.String() != string(want) {
				t.Errorf("%s differs from %s (run with -update to accept):\n%s", tt.name, path, out.String())
			}
		})
	}
}

func TestTextColour(t *testing.T) {
	rep := goldenReport(t, false)
	for _, color := range []bool{false, true} {
		var out bytes.Buffer
		if err := Write(&out, rep, WriteOptions{Format: FormatText, Color: color}); err != nil {
			t.Fatal(err)
		}
		if has := strings.Contains(out.String(), "\x1b["); has != color {
			t.Errorf("Color %v: output has escape codes: %v", color, has)
		}
	}
}

func TestWriteRejectsUnknownFormat(t *testing.T) {
	err := Write(&bytes.Buffer{}, &Report{}, WriteOptions{Format: "yaml"})
	if err == nil || !strings.Contains(err.Error(), `unknown output format "yaml"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestCleanReport(t *testing.T) {
	l, err := New(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := l.LintFiles(context.Background(), []string{"-"}, strings.NewReader(goodRC()), &rep); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		format string
		want   string
	}{
		{FormatText, "1 object checked in 1 file: no findings\n"},
		{FormatGitHub, ""},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		if err := Write(&out, &rep, WriteOptions{Format: tt.format}); err != nil {
			t.Fatal(err)
		}
		if out.String() != tt.want {
			t.Errorf("%s: %q, want %q", tt.format, out.String(), tt.want)
		}
	}
	var out bytes.Buffer
	if err := Write(&out, &rep, WriteOptions{Format: FormatJSON}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Findings []Finding `json:"findings"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || doc.Findings == nil || len(doc.Findings) != 0 {
		t.Errorf("json of a clean run should hold an empty findings list: %s", out.String())
	}
}

// sarifSchemaPath finds the official SARIF 2.1.0 schema, which lives beside
// the repository rather than in it.
func sarifSchemaPath() string {
	if p := os.Getenv("ENVOPS_SARIF_SCHEMA"); p != "" {
		return p
	}
	// From pkg/lint: the repository root is two levels up.
	return filepath.Join("..", "..", "..", "shared", "schemas", "sarif-schema-2.1.0.json")
}

func TestSARIFValidatesAgainstSchema(t *testing.T) {
	path := sarifSchemaPath()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("SARIF schema not found at %s: check out the shared schemas beside the repository, or set ENVOPS_SARIF_SCHEMA", path)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	schema, err := c.Compile(path)
	if err != nil {
		t.Fatalf("compile %s: %v", path, err)
	}
	reports := map[string]*Report{
		"findings from files and a cluster": goldenReport(t, false),
		"no findings":                       {},
	}
	for name, rep := range reports {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			if err := Write(&out, rep, WriteOptions{Format: FormatSARIF, ToolVersion: "v1.2.3"}); err != nil {
				t.Fatal(err)
			}
			doc, err := jsonschema.UnmarshalJSON(&out)
			if err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(doc); err != nil {
				t.Errorf("SARIF output is not valid SARIF 2.1.0: %v", err)
			}
		})
	}
}

func TestSARIFLocations(t *testing.T) {
	rep := goldenReport(t, false)
	var out bytes.Buffer
	if err := Write(&out, rep, WriteOptions{Format: FormatSARIF}); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Runs []struct {
			Results []struct {
				RuleID    string `json:"ruleId"`
				Locations []struct {
					PhysicalLocation *struct {
						ArtifactLocation struct{ URI string }    `json:"artifactLocation"`
						Region           struct{ StartLine int } `json:"region"`
					} `json:"physicalLocation"`
					LogicalLocations []struct {
						FullyQualifiedName string `json:"fullyQualifiedName"`
					} `json:"logicalLocations"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(out.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	results := log.Runs[0].Results
	if len(results) != len(rep.Findings) {
		t.Fatalf("%d results for %d findings", len(results), len(rep.Findings))
	}
	for i, r := range results {
		f := rep.Findings[i]
		loc := r.Locations[0]
		if f.Location.File != "" {
			if loc.PhysicalLocation == nil || loc.PhysicalLocation.ArtifactLocation.URI != "testdata/golden/input.yaml" || loc.PhysicalLocation.Region.StartLine != f.Location.Line {
				t.Errorf("result %d (%s) should point at testdata/golden/input.yaml:%d, got %+v", i, r.RuleID, f.Location.Line, loc.PhysicalLocation)
			}
		} else if loc.PhysicalLocation != nil || len(loc.LogicalLocations) == 0 || loc.LogicalLocations[0].FullyQualifiedName != "envops-dev/shop/Pod/debug" {
			t.Errorf("result %d (%s) from the cluster should have only a logical location, got %+v", i, r.RuleID, loc)
		}
	}
}

func TestFileURI(t *testing.T) {
	tests := []struct{ path, want string }{
		{"deploy/web.yaml", "deploy/web.yaml"},
		{"./deploy/../web app.yaml", "web%20app.yaml"},
		{"/srv/manifests/web.yaml", "file:///srv/manifests/web.yaml"},
		{"a:b.yaml", "./a:b.yaml"},
	}
	for _, tt := range tests {
		if got := fileURI(tt.path); got != tt.want {
			t.Errorf("fileURI(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestGitHubEscaping(t *testing.T) {
	rep := &Report{Findings: []Finding{{
		Rule: RuleLabelSyntax, Severity: SeverityWarning, Message: "100% wrong\nsecond line",
		Object:   ObjectRef{Kind: "Pod", Name: "p"},
		Location: Location{Source: Source{File: "dir,with:odd.yaml"}, Line: 3},
	}}}
	var out bytes.Buffer
	if err := Write(&out, rep, WriteOptions{Format: FormatGitHub}); err != nil {
		t.Fatal(err)
	}
	want := "::warning file=dir%2Cwith%3Aodd.yaml,line=3,title=envops lint%3A label-syntax::Pod/p: 100%25 wrong%0Asecond line\n"
	if out.String() != want {
		t.Errorf("got  %q\nwant %q", out.String(), want)
	}
}
