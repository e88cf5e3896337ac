package cmd

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

type entry struct {
	Image string `json:"image"`
	Count int    `json:"count"`
}

// parsedOutput returns the output flags of a command parsed from args.
func parsedOutput(t *testing.T, args []string, own ...string) *outputFlags {
	t.Helper()
	var format string
	f := newOutputFlags(&format, own...)
	cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
	f.addFlags(cmd, "Output format")
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return f
}

func TestOutputPrintsDataThroughKubectlPrinters(t *testing.T) {
	data := []entry{{"web:1", 2}, {"web:2", 3}}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-o", "json"}, "[\n  {\n    \"image\": \"web:1\",\n    \"count\": 2\n  },\n  {\n    \"image\": \"web:2\",\n    \"count\": 3\n  }\n]\n"},
		{[]string{"-o", "yaml"}, "- count: 2\n  image: web:1\n- count: 3\n  image: web:2\n"},
		{[]string{"-o", "jsonpath={.items[*].image}"}, "web:1 web:2"},
		{[]string{"-o", "go-template={{range .items}}{{.image}}={{.count}};{{end}}"}, "web:1=2;web:2=3;"},
		{[]string{"--template", "{{len .items}}"}, "2"},
	} {
		f := parsedOutput(t, tc.args)
		if f.isOwn() && !f.templateOnly() {
			t.Errorf("%v: read as the command's own format", tc.args)
		}
		var out bytes.Buffer
		if err := f.printValue(&out, data); err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if out.String() != tc.want {
			t.Errorf("%v: got %q, want %q", tc.args, out.String(), tc.want)
		}
	}
}

func TestOutputObjectsByName(t *testing.T) {
	f := parsedOutput(t, []string{"-o", "name"}).withNames()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "environment", Namespace: "web"}}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}}
	var out bytes.Buffer
	if err := f.printObjects(&out, []runtime.Object{s, cm}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "secret/environment\nconfigmap/c\n" {
		t.Errorf("got %q", out.String())
	}
	out.Reset()
	f = parsedOutput(t, []string{"-o", "jsonpath={.kind} {.items[*].metadata.name}"}).withNames()
	if err := f.printObjects(&out, []runtime.Object{s, cm}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "List environment c" {
		t.Errorf("got %q", out.String())
	}
}

func TestOutputRefusesUnknownFormatsAndBrokenTemplates(t *testing.T) {
	f := parsedOutput(t, []string{"-o", "wide"}, "", "jsonl")
	err := f.validate()
	var usage *UsageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), `unknown output format "wide" for --output: use jsonl, json, yaml,`) {
		t.Errorf("unknown format: %v", err)
	}
	if f := parsedOutput(t, []string{"-o", "name"}); f.validate() == nil {
		t.Error("-o name accepted for data")
	}
	if err := parsedOutput(t, []string{"-o", "jsonpath={.items["}).validate(); !errors.As(err, &usage) {
		t.Errorf("unparsable jsonpath: %v", err)
	}
	f = parsedOutput(t, []string{"-o", "go-template={{.a.b}}"})
	var out bytes.Buffer
	err = f.printValue(&out, map[string]int{"a": 1})
	if ExitCode(err) != ExitUsage || strings.Contains(err.Error(), "\n") || out.Len() != 0 {
		t.Errorf("failing template: exit %d, %q, printed %q", ExitCode(err), err, out.String())
	}
}

func TestOutputOwnFormatIsLeftToTheCommand(t *testing.T) {
	f := parsedOutput(t, nil, "text", "jsonl")
	if *f.format != "text" || !f.isOwn() {
		t.Errorf("default: %q own=%v", *f.format, f.isOwn())
	}
	if p, err := f.printer(); p != nil || err != nil {
		t.Errorf("own format gave a printer: %v %v", p, err)
	}
}

func TestPrintTableAlignsColumns(t *testing.T) {
	var out bytes.Buffer
	if err := printTable(&out, []string{"APP", "IMAGE"}, [][]string{{"web", "web:1"}, {"payments", "p:2"}}); err != nil {
		t.Fatal(err)
	}
	want := "APP        IMAGE\nweb        web:1\npayments   p:2\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

func TestDryRunFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
		err  bool
	}{{nil, "none", false}, {[]string{"--dry-run"}, "client", false}, {[]string{"--dry-run=server"}, "server", false}, {[]string{"--dry-run=maybe"}, "", true}} {
		cmd := &cobra.Command{Use: "x"}
		addDryRunFlag(cmd, "")
		if err := cmd.ParseFlags(tc.args); err != nil {
			t.Fatal(err)
		}
		s, err := dryRunStrategy(cmd)
		if (err != nil) != tc.err || err == nil && []string{"none", "client", "server"}[s] != tc.want {
			t.Errorf("%v: %v %v", tc.args, s, err)
		}
	}
}

// A stream of events goes through one parsed template; a changed format
// gets a printer of its own.
func TestOutputParsesTheTemplateOnce(t *testing.T) {
	f := parsedOutput(t, []string{"-o", "jsonpath={.image}"})
	first, err := f.printer()
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := f.printer(); again != first {
		t.Error("the template was parsed again for the next event")
	}
	*f.format = "go-template={{.image}}"
	if other, _ := f.printer(); other == first {
		t.Error("a changed format kept the old printer")
	}
}
