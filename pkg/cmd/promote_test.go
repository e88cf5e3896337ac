package cmd

import (
	"strings"
	"testing"
	"time"
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
