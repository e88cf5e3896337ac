package cmd

import (
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/envops/kubectl-envops/pkg/promote"
)

func TestPromoteValidate(t *testing.T) {
	valid := PromoteOptions{Output: "text", Timeout: time.Second, FailureGrace: time.Second}
	for _, tc := range []struct {
		name string
		edit func(*PromoteOptions)
		want string
	}{
		{"nothing to promote", func(o *PromoteOptions) {}, "name what to promote"},
		{"both image and from", func(o *PromoteOptions) { o.Image, o.From = "web:2", "dev" }, "--image and --from contradict"},
		{"negative soak", func(o *PromoteOptions) { o.Image, o.Soak = "web:2", -time.Second }, "invalid --soak"},
		{"bad output", func(o *PromoteOptions) { o.Image, o.Output = "web:2", "json" }, "unknown output format"},
		{"bad image", func(o *PromoteOptions) { o.Image = "Web:2 x" }, "--image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := valid
			tc.edit(&o)
			err := o.Validate()
			if ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want a usage error containing %q", err, tc.want)
			}
		})
	}
	o := valid
	o.From = "staging"
	if err := o.Validate(); err != nil {
		t.Errorf("--from alone: %v", err)
	}
}

// A template is applied to each event of the promotion, as jsonl prints
// each as a line; text prints only the lines people read.
func TestPromoteEventsThroughTemplates(t *testing.T) {
	events := []promote.Event{
		{Type: promote.EventType, App: "web", Phase: promote.PhaseStarting, Image: "web:2", Message: "ships web:2 to dev, prod"},
		{Type: promote.EventType, App: "web", Env: "dev", Phase: promote.PhaseDone, Image: "web:2"},
	}
	for _, tc := range []struct{ output, want string }{
		{"jsonpath={.environment}/{.phase}{\"\\n\"}", "/started\ndev/promoted\n"},
		{"go-template={{.phase}} {{.image}};", "started web:2;promoted web:2;"},
		{"text", "web ships web:2 to dev, prod\ndev: promoted web:2\n"},
	} {
		var out, errOut strings.Builder
		o := &PromoteOptions{App: "web", Output: tc.output, IOStreams: genericiooptions.IOStreams{Out: &out, ErrOut: &errOut}}
		if err := o.output().validate(); err != nil {
			t.Fatalf("%s: %v", tc.output, err)
		}
		for _, e := range events {
			o.printEvent(e)
		}
		if out.String() != tc.want || errOut.Len() != 0 {
			t.Errorf("%s: printed %q (stderr %q), want %q", tc.output, out.String(), errOut.String(), tc.want)
		}
	}
}

// The JSON lines of each deploy step go through the template too, one
// event per line however the deploy splits its writes.
func TestPromoteDeployLinesThroughTemplates(t *testing.T) {
	var out, errOut strings.Builder
	o := &PromoteOptions{App: "web", Output: "go-template={{.type}}:{{.name}};", IOStreams: genericiooptions.IOStreams{Out: &out, ErrOut: &errOut}}
	w := o.eventLines()
	for _, p := range []string{`{"type":"progress","name":"web"}` + "\n" + `{"type":"do`, `ne","name":"web"}` + "\n"} {
		if n, err := w.Write([]byte(p)); err != nil || n != len(p) {
			t.Fatalf("write %q: %d, %v", p, n, err)
		}
	}
	if out.String() != "progress:web;done:web;" || errOut.Len() != 0 {
		t.Errorf("printed %q (stderr %q), want progress:web;done:web;", out.String(), errOut.String())
	}
}
