package cmd

import (
	"strings"
	"testing"
)

// lint, config view and version print through -o jsonpath=... and
// -o go-template=... what -o json shows; lint keeps its exit code.
func TestOutputTemplates(t *testing.T) {
	lintDir := lintProject(t, map[string]string{"bad/rc.yaml": unlabelledRC})
	project := envTestProject(t, "environments:\n  prod: {context: prod-cluster}\nsecret: {name: cluster-env}\n")
	tests := []struct {
		name     string
		run      func(args ...string) (string, int)
		args     []string
		want     string
		wantCode int
	}{
		{name: "lint jsonpath over the json report", run: lintIn(t, lintDir),
			args: []string{"bad", "-o", "jsonpath={.findings[0].object.name} {.summary.errors}"}, want: "cart 2", wantCode: ExitError},
		{name: "lint go-template over the json report", run: lintIn(t, lintDir),
			args: []string{"bad", "-o", "go-template={{range .findings}}{{.rule}}\n{{end}}"}, want: "required-labels\n", wantCode: ExitError},
		{name: "lint has no yaml", run: lintIn(t, lintDir), args: []string{"bad", "-o", "yaml"}, wantCode: ExitUsage},
		{name: "config view jsonpath", run: execute(t), args: []string{"config", "view", "--config", project, "-o", "jsonpath={.environments.prod.context}"}, want: "prod-cluster"},
		{name: "config view go-template", run: execute(t), args: []string{"config", "view", "--config", project, "-o", "go-template={{.secret.name}}"}, want: "cluster-env"},
		{name: "version jsonpath", run: execute(t), args: []string{"version", "-o", "jsonpath={.version}"}, want: "dev"},
		{name: "version go-template", run: execute(t), args: []string{"version", "-o", "go-template={{.version}}/{{.commit}}"}, want: "dev/unknown"},
		{name: "version yaml", run: execute(t), args: []string{"version", "-o", "yaml"}, want: "version: dev\n"},
		{name: "a broken template is a usage error", run: execute(t), args: []string{"version", "-o", "jsonpath={.version"}, wantCode: ExitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := tt.run(tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; output %q", code, tt.wantCode, out)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("output %q, want it to contain %q", out, tt.want)
			}
		})
	}
}

func lintIn(t *testing.T, dir string) func(args ...string) (string, int) {
	return func(args ...string) (string, int) {
		out, code, _ := runLint(t, dir, "", args...)
		return out, code
	}
}

func execute(t *testing.T) func(args ...string) (string, int) {
	return func(args ...string) (string, int) {
		out, _, code := runEnvCommand(t, args...)
		return out, code
	}
}
