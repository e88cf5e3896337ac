package cmd

import (
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/envops/kubectl-envops/pkg/promote"
	"github.com/envops/kubectl-envops/pkg/rollout"
)

func TestPromoteValidate(t *testing.T) {
	valid := PromoteOptions{Output: "text", GateTimeout: time.Second, rolloutFlags: rolloutFlags{Options: rollout.Options{Timeout: time.Second, FailureGrace: time.Second}}}
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
		{"zero deploy timeout", func(o *PromoteOptions) { o.Image, o.Timeout = "web:2", 0 }, "invalid --timeout"},
		{"zero gate timeout", func(o *PromoteOptions) { o.Image, o.GateTimeout = "web:2", 0 }, "invalid --gate-timeout"},
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
