package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakePlugin prints its arguments one per line and exits with the code in
// FAKE_EXIT, so the tests see what the plugin was asked.
const fakePlugin = "#!/bin/sh\nprintf '%s\\n' \"$@\"\nexit ${FAKE_EXIT:-0}\n"

func writePlugin(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "kubectl-envops")
	if err := os.WriteFile(p, []byte(fakePlugin), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFindPlugin(t *testing.T) {
	beside, onPath, empty := t.TempDir(), t.TempDir(), t.TempDir()
	besidePlugin := writePlugin(t, beside)
	pathPlugin := writePlugin(t, onPath)
	tests := []struct {
		name    string
		dir     string
		path    string
		want    string
		wantErr string
	}{
		{"the plugin beside wins over PATH", beside, onPath, besidePlugin, ""},
		{"PATH when nothing is beside", empty, onPath, pathPlugin, ""},
		{"PATH when the own directory is unknown", "", onPath, pathPlugin, ""},
		{"neither", empty, empty, "", "kubectl-envops is neither beside kubectl_complete-envops nor on PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PATH", tt.path)
			got, err := findPlugin(tt.dir, "linux")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("found %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRunPassesWordsAndExitCode(t *testing.T) {
	plugin := writePlugin(t, t.TempDir())
	tests := []struct {
		name     string
		args     []string
		exit     string
		wantOut  string
		wantCode int
	}{
		{"words typed after envops, the last one empty", []string{"generate", "web", "--env", ""}, "0", "__complete\ngenerate\nweb\n--env\n\n", 0},
		{"the plugin's failure", []string{"version", "-o", ""}, "3", "__complete\nversion\n-o\n\n", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("FAKE_EXIT", tt.exit)
			var out, errOut bytes.Buffer
			code := run(plugin, tt.args, strings.NewReader(""), &out, &errOut)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.wantCode, errOut.String())
			}
			if out.String() != tt.wantOut {
				t.Errorf("the plugin was given %q, want %q", out.String(), tt.wantOut)
			}
		})
	}
}
