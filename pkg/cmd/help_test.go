package cmd

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// No command's help repeats the global flags: each ends with the line
// naming "kubectl envops options", which prints them once.
func TestHelpPointsToOptions(t *testing.T) {
	var paths [][]string
	var walk func(*cobra.Command, []string)
	walk = func(c *cobra.Command, path []string) {
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				walk(sub, append(slices.Clone(path), sub.Name()))
			}
		}
	}
	walk(NewRootCmd(genericiooptions.NewTestIOStreamsDiscard()), nil)
	if len(paths) < 15 {
		t.Fatalf("walked %d commands only", len(paths))
	}
	for _, path := range paths {
		out, stderr, code := run(t, append(path, "--help")...)
		name := strings.Join(append([]string{"kubectl envops"}, path...), " ")
		if code != 0 {
			t.Errorf("%s --help: exit %d, %s", name, code, stderr)
			continue
		}
		if strings.Contains(out, "--kubeconfig string") || strings.Contains(out, "Global Flags") {
			t.Errorf("%s --help lists the global flags", name)
		}
		if !strings.HasSuffix(out, optionsHint+"\n") {
			t.Errorf("%s --help does not end with the line naming options:\n%s", name, out)
		}
	}
}

// options prints every global flag, kubectl's and --config.
func TestOptionsPrintsTheGlobalFlags(t *testing.T) {
	out, stderr, code := run(t, "options")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"--kubeconfig string", "--context string", "-n, --namespace string", "--as string", "--request-timeout string", "--config string", "--token string"} {
		if !strings.Contains(out, want) {
			t.Errorf("options lacks %s:\n%s", want, out)
		}
	}
}

// The global flags still complete, though no help lists them.
func TestGlobalFlagsStillComplete(t *testing.T) {
	completionEnv(t)
	choices, _ := runComplete(t, "", "status", "--cont")
	if !slices.Contains(names(choices), "--context") {
		t.Errorf("status --cont<TAB> offers %q, want --context", choices)
	}
	choices, _ = runComplete(t, "", "history", "web", "--request-t")
	if !slices.Contains(names(choices), "--request-timeout") {
		t.Errorf("history web --request-t<TAB> offers %q, want --request-timeout", choices)
	}
}
