package cmd

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

// On a fresh scaffold, linting an app's overlay with -k, as a directory and
// with --app/--env gives one verdict: the overlay as deploy sends it (the
// environment Secret mounted by generate and deploy), not what kustomize
// builds from it alone.
func TestLintOfAnOverlayAgreesWithLintOfTheApp(t *testing.T) {
	project := envTestProject(t, "environments:\n  dev: {context: dev}\n  prod: {context: prod}\n")
	dir := filepath.Dir(project)
	if _, stderr, code := run(t, "new", "web", "--tier", "frontend", "--role", "server", "--image", "registry.example.com/web:1.0.0", "--port", "8080", "--config", project); code != 0 {
		t.Fatalf("new: exit %d: %s", code, stderr)
	}
	overlay := filepath.Join(dir, "apps", "web", "overlays", "prod")
	type report struct {
		Findings []struct {
			Rule   string `json:"rule"`
			Object struct{ Kind, Name string }
		} `json:"findings"`
	}
	verdicts := map[string]report{}
	for name, args := range map[string][]string{
		"-k":        {"lint", "-k", overlay},
		"directory": {"lint", overlay},
		"--app":     {"lint", "--app", "web", "--env", "prod"},
	} {
		out, stderr, code := run(t, append(args, "--config", project, "-o", "json")...)
		if code != 0 {
			t.Errorf("lint %s: exit %d: %s\n%s", name, code, stderr, out)
		}
		var rep report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("lint %s: %v\n%s", name, err, out)
		}
		verdicts[name] = rep
	}
	for name, rep := range verdicts {
		if len(rep.Findings) != 0 {
			t.Errorf("lint %s reports %+v on what generate renders and deploy sends, which mounts the environment Secret", name, rep.Findings)
		}
	}
}
