package cmd

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/envops/kubectl-envops/pkg/config"
)

func TestConfigView(t *testing.T) {
	project := envTestProject(t, "# ours\nenvironments:\n  prod: {context: prod-cluster, confirm: true}\nsecret: {name: cluster-env}\n")
	broken := envTestProject(t, "apps: apps\nsecret:\n  name: [x]\n")
	tests := []struct {
		name     string
		args     []string
		want     []string // substrings of stdout
		wantErr  string
		wantCode int
	}{
		{
			name: "yaml names its source and fills in defaults",
			args: []string{"--config", project},
			want: []string{"# from " + project + "\n", "environments:\n  prod:\n    confirm: true\n    context: prod-cluster\n",
				"secret:\n  key: environment\n  mountPath: /etc/secrets\n  name: cluster-env\n", "apps: apps\n", "- tier\n"},
		},
		{name: "malformed file is one line with its position", args: []string{"--config", broken}, wantCode: ExitUsage,
			wantErr: "error: " + broken + ":3: wrong type: expected a string, found a list\n"},
		{name: "missing file", args: []string{"--config", filepath.Join(t.TempDir(), "none.yaml")}, wantCode: ExitUsage,
			wantErr: "does not exist: create it or fix the --config path\n"},
		{name: "bad output", args: []string{"--config", project, "-o", "toml"}, wantCode: 2,
			wantErr: "error: unknown output format \"toml\" for --output: use yaml, json, jsonpath=TEMPLATE or go-template=TEMPLATE\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runEnvCommand(t, append([]string{"config", "view"}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.wantCode, errOut)
			}
			if tt.wantErr != "" && (!strings.HasSuffix(errOut, tt.wantErr) || strings.Count(errOut, "\n") != 1) {
				t.Errorf("stderr = %q, want one line ending in %q", errOut, tt.wantErr)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestConfigViewJSONRoundTrips(t *testing.T) {
	project := envTestProject(t, "environments:\n  dev: {context: d, namespace: web}\nlabels:\n  allowed: {tier: [frontend]}\n")
	out, errOut, code := runEnvCommand(t, "config", "view", "-o", "json", "--config", project)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got config.Config
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	want, err := config.Load(project)
	if err != nil {
		t.Fatal(err)
	}
	if got.Environments["dev"] != want.Environments["dev"] || got.Secret != want.Secret || got.Apps != want.Apps || got.Labels.Allowed["tier"][0] != "frontend" {
		t.Errorf("json view %+v differs from the loaded file %+v", got, want)
	}
}

func TestConfigViewWithoutAFile(t *testing.T) {
	t.Chdir(t.TempDir())
	out, errOut, code := runEnvCommand(t, "config", "view")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.HasPrefix(out, "# no .envops.yaml found in ") || !strings.Contains(out, "name: environment") {
		t.Errorf("output:\n%s", out)
	}
}

// runEnvCommand runs a command line through Execute, as the plugin does.
func runEnvCommand(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	g, out, errOut := envTestGlobals(t, envTestKubeconfig(t), "", "", "")
	code = Execute(append(args, "--kubeconfig", *g.ConfigFlags.KubeConfig), g.Streams)
	return out.String(), errOut.String(), code
}
