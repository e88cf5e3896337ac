package cmd

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/envops/kubectl-envops/pkg/completion"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// completionEnv isolates a test from the user's kubeconfig and home.
func completionEnv(t *testing.T) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", filepath.Join(home, "no-kubeconfig"))
}

// runComplete runs "kubectl-envops __complete ARGS" in dir, which is what
// kubectl_complete-envops does for "kubectl envops ARGS<TAB>", and returns
// the choices and the directive line.
func runComplete(t *testing.T, dir string, args ...string) ([]string, string) {
	t.Helper()
	if dir != "" {
		t.Chdir(dir)
	}
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	if code := Execute(append([]string{cobra.ShellCompRequestCmd}, args...), streams); code != ExitOK {
		t.Fatalf("__complete %q exited %d: %s", args, code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], ":") {
		t.Fatalf("__complete %q printed no directive line:\n%s", args, out)
	}
	return lines[:len(lines)-1], lines[len(lines)-1]
}

// names drops the descriptions ("name\tdescription") from choices.
func names(choices []string) []string {
	out := make([]string, 0, len(choices))
	for _, c := range choices {
		name, _, _ := strings.Cut(c, "\t")
		out = append(out, name)
	}
	return out
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

const noFileComp = ":4"

func TestCompletionScripts(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bash", []string{"completion", "bash"}, "__start_kubectl-envops"},
		{"bash without descriptions", []string{"completion", "bash", "--no-descriptions"}, "__completeNoDesc"},
		{"zsh", []string{"completion", "zsh"}, "#compdef kubectl-envops"},
		{"fish", []string{"completion", "fish"}, "complete -c kubectl-envops"},
		{"powershell", []string{"completion", "powershell"}, "Register-ArgumentCompleter -CommandName 'kubectl-envops'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			completionEnv(t)
			streams, _, out, errOut := genericiooptions.NewTestIOStreams()
			if code := Execute(tt.args, streams); code != ExitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("the %s script does not contain %q:\n%.400s", tt.name, tt.want, out)
			}
		})
	}
}

func TestCompletionCommandLineErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no shell", []string{"completion"}, "name one shell: bash, zsh, fish, powershell"},
		{"unknown shell", []string{"completion", "tcsh"}, `unsupported shell "tcsh": use one of bash, zsh, fish, powershell`},
		{"two shells", []string{"completion", "bash", "zsh"}, "name one shell"},
		{"install with an argument", []string{"completion", "install", "extra"}, `unknown command "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			completionEnv(t)
			streams, _, out, errOut := genericiooptions.NewTestIOStreams()
			code := Execute(tt.args, streams)
			if code != ExitUsage {
				t.Errorf("exit code %d, want %d", code, ExitUsage)
			}
			if !strings.HasPrefix(errOut.String(), "error: ") || !strings.Contains(errOut.String(), tt.wantErr) || strings.Count(errOut.String(), "\n") != 1 {
				t.Errorf("stderr %q, want one line \"error: ...%s...\"", errOut, tt.wantErr)
			}
			if out.Len() != 0 {
				t.Errorf("printed a script despite the error:\n%.200s", out)
			}
		})
	}
}

func TestCompleteCommandsAndFlags(t *testing.T) {
	tests := []struct {
		name          string
		args          []string
		want          []string
		wantDirective string
	}{
		{"subcommands", []string{""}, []string{"completion", "version"}, noFileComp},
		{"subcommands by prefix", []string{"comp"}, []string{"completion"}, noFileComp},
		{"shells and install", []string{"completion", ""}, []string{"install", "bash", "zsh", "fish", "powershell"}, noFileComp},
		{"a command's flags", []string{"version", "--out"}, []string{"--output"}, noFileComp},
		{"a flag's values", []string{"version", "-o", ""}, []string{"json", "yaml"}, noFileComp},
		{"install --dir completes directories", []string{"completion", "install", "--dir", ""}, nil, ":16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			completionEnv(t)
			choices, directive := runComplete(t, t.TempDir(), tt.args...)
			got := names(choices)
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("choices %q lack %q", got, w)
				}
			}
			if tt.want == nil && len(got) != 0 {
				t.Errorf("choices %q, want none", got)
			}
			if directive != tt.wantDirective {
				t.Errorf("directive %s, want %s", directive, tt.wantDirective)
			}
		})
	}
}

const sampleProject = `environments:
  dev: {context: dev-cluster}
  prod: {context: prod-cluster, confirm: true}
  staging: {context: staging-cluster}
apps: services/
`

// sampleApps builds a project with two apps, a directory that is not an
// app, and a stray file.
func sampleApps(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	writeFile(t, filepath.Join(root, ".envops.yaml"), sampleProject, 0o644)
	for _, f := range []string{
		"services/web/base/kustomization.yaml",
		"services/web/overlays/dev/kustomization.yaml",
		"services/web/overlays/prod/kustomization.yaml",
		"services/api/base/kustomization.yaml",
		"services/docs/README.md",
		"services/notes.txt",
		"ci/pipeline.yaml",
	} {
		writeFile(t, filepath.Join(root, f), "resources: []\n", 0o644)
	}
	return root
}

func TestCompleteFromTheProject(t *testing.T) {
	tests := []struct {
		name string
		// dir is relative to the project; completion searches upward.
		dir  string
		args []string
		want []string
	}{
		{"apps", "", []string{"generate", ""}, []string{"api", "web"}},
		{"apps from a subdirectory", "ci", []string{"generate", ""}, []string{"api", "web"}},
		{"environments of --env", "", []string{"generate", "web", "--env", ""}, []string{"dev", "prod", "staging"}},
		{"environments of history --env", "", []string{"history", "web", "--env", ""}, []string{"dev", "prod", "staging"}},
		{"more environments after a comma", "", []string{"generate", "web", "--env", "dev,"}, []string{"dev,prod", "dev,staging"}},
		{"the last of the environments", "", []string{"generate", "--all", "--env", "prod,dev,"}, []string{"prod,dev,staging"}},
		{"environments as init-env's argument", "", []string{"init-env", ""}, []string{"dev", "prod", "staging"}},
		{"nothing after the app", "", []string{"generate", "web", ""}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			completionEnv(t)
			root := sampleApps(t)
			choices, directive := runComplete(t, filepath.Join(root, tt.dir), tt.args...)
			got := names(choices)
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("choices %q, want %q", got, tt.want)
			}
			if directive != noFileComp {
				t.Errorf("directive %s, want %s (no file names)", directive, noFileComp)
			}
		})
	}
}

const sampleKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: dev-cluster
  cluster: {server: "https://dev.example.test"}
- name: prod-cluster
  cluster: {server: "https://prod.example.test"}
users:
- name: alice
  user: {token: a}
- name: ci-bot
  user: {token: b}
contexts:
- name: dev
  context: {cluster: dev-cluster, user: alice}
- name: prod
  context: {cluster: prod-cluster, user: ci-bot}
- name: prod-readonly
  context: {cluster: prod-cluster, user: alice}
current-context: dev
`

func TestCompleteKubeconfigNames(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"contexts", []string{"--context", ""}, []string{"dev\tcluster dev-cluster", "prod\tcluster prod-cluster", "prod-readonly\tcluster prod-cluster"}},
		{"contexts by prefix, after a command", []string{"version", "--context", "pro"}, []string{"prod\tcluster prod-cluster", "prod-readonly\tcluster prod-cluster"}},
		{"clusters", []string{"--cluster", ""}, []string{"dev-cluster\thttps://dev.example.test", "prod-cluster\thttps://prod.example.test"}},
		{"users", []string{"--user", ""}, []string{"alice", "ci-bot"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			completionEnv(t)
			kc := filepath.Join(t.TempDir(), "config")
			writeFile(t, kc, sampleKubeconfig, 0o600)
			choices, directive := runComplete(t, "", append([]string{"--kubeconfig", kc}, tt.args...)...)
			if !slices.Equal(choices, tt.want) {
				t.Errorf("choices %q, want %q", choices, tt.want)
			}
			if directive != noFileComp {
				t.Errorf("directive %s, want %s", directive, noFileComp)
			}
		})
	}
}

func TestCompleteNamespacesFromTheCluster(t *testing.T) {
	completionEnv(t)
	var asked []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path)
		if r.URL.Path != "/api/v1/namespaces" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"NamespaceList","apiVersion":"v1","metadata":{},"items":[
			{"metadata":{"name":"web"}},{"metadata":{"name":"default"}},{"metadata":{"name":"web-canary"}}]}`))
	}))
	defer api.Close()
	kc := filepath.Join(t.TempDir(), "config")
	writeFile(t, kc, `apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "`+api.URL+`"}
contexts:
- name: local
  context: {cluster: local, user: u}
users:
- name: u
  user: {token: t}
`, 0o600)

	choices, directive := runComplete(t, "", "--kubeconfig", kc, "--context", "local", "version", "-n", "we")
	if want := []string{"web", "web-canary"}; !slices.Equal(choices, want) {
		t.Errorf("choices %q, want %q", choices, want)
	}
	if directive != noFileComp {
		t.Errorf("directive %s, want %s", directive, noFileComp)
	}
	if !slices.Contains(asked, "/api/v1/namespaces") {
		t.Errorf("the cluster was asked for %q, not for its namespaces", asked)
	}
}

func TestCompleteNamespacesWithoutACluster(t *testing.T) {
	completionEnv(t)
	choices, directive := runComplete(t, "", "version", "-n", "")
	if len(choices) != 0 {
		t.Errorf("choices %q without any kubeconfig, want none", choices)
	}
	if directive != noFileComp {
		t.Errorf("directive %s, want %s", directive, noFileComp)
	}
}

// installLayout is a directory tree with the plugin on PATH.
type installLayout struct {
	bin        string // on PATH
	executable string // what os.Executable reports
	shipped    string // the shipped completion executable, or ""
}

// fakePlugin prints the arguments it was given, one per line.
const fakePlugin = "#!/bin/sh\nprintf '%s\\n' \"$@\"\n"

func krewLayout(t *testing.T) installLayout {
	root := t.TempDir()
	store := filepath.Join(root, "store", "envops", "v0.1.0")
	bin := filepath.Join(root, "bin")
	writeFile(t, filepath.Join(store, completion.PluginExecutable), fakePlugin, 0o755)
	writeFile(t, filepath.Join(store, completion.CompletionExecutable), "shipped completion executable", 0o755)
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(store, completion.PluginExecutable), filepath.Join(bin, completion.PluginExecutable)); err != nil {
		t.Fatal(err)
	}
	return installLayout{bin: bin, executable: filepath.Join(bin, completion.PluginExecutable), shipped: filepath.Join(store, completion.CompletionExecutable)}
}

func goInstallLayout(t *testing.T) installLayout {
	bin := filepath.Join(t.TempDir(), "bin")
	writeFile(t, filepath.Join(bin, completion.PluginExecutable), fakePlugin, 0o755)
	return installLayout{bin: bin, executable: filepath.Join(bin, completion.PluginExecutable)}
}

func archiveLayout(t *testing.T) installLayout {
	bin := filepath.Join(t.TempDir(), "bin")
	writeFile(t, filepath.Join(bin, completion.PluginExecutable), fakePlugin, 0o755)
	writeFile(t, filepath.Join(bin, completion.CompletionExecutable), "shipped completion executable", 0o755)
	return installLayout{bin: bin, executable: filepath.Join(bin, completion.PluginExecutable), shipped: filepath.Join(bin, completion.CompletionExecutable)}
}

func installOptions(t *testing.T, l installLayout, goos string) (*CompletionInstallOptions, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	return &CompletionInstallOptions{
		IOStreams:  streams,
		executable: func() (string, error) { return l.executable, nil },
		lookPath:   exec.LookPath,
		goos:       goos,
	}, out, errOut
}

func TestCompletionInstall(t *testing.T) {
	tests := []struct {
		name    string
		layout  func(*testing.T) installLayout
		wantOut string
		// wantCopy: the written file is the shipped one; otherwise a script.
		wantCopy bool
	}{
		{"krew: copies the executable shipped in krew's store into krew's bin", krewLayout, "wrote %s (a copy of ", true},
		{"go install: writes a script that asks the plugin beside it", goInstallLayout, "wrote %s (a script that asks kubectl-envops)", false},
		{"archive: leaves the shipped executable in place", archiveLayout, "%s is already in place", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.layout(t)
			t.Setenv("PATH", l.bin+string(os.PathListSeparator)+"/usr/bin:/bin")
			o, out, errOut := installOptions(t, l, "linux")
			if err := o.Complete(nil, nil, nil); err != nil {
				t.Fatal(err)
			}
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			if err := o.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(l.bin, completion.CompletionExecutable)
			if want := strings.Replace(tt.wantOut, "%s", target, 1); !strings.HasPrefix(out.String(), want) {
				t.Errorf("printed %q, want it to start with %q", out, want)
			}
			if errOut.Len() != 0 {
				t.Errorf("warned %q, want nothing: the directory is on PATH", errOut)
			}
			info, err := os.Stat(target)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm()&0o111 == 0 {
				t.Errorf("%s has mode %v, want it executable", target, info.Mode())
			}
			got, err := os.ReadFile(target)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantCopy {
				if string(got) != "shipped completion executable" {
					t.Errorf("%s holds %.80q, want the shipped executable", target, got)
				}
				return
			}
			// kubectl runs the executable with the words after "envops"; the
			// script must pass them to the plugin's __complete unchanged.
			run := exec.Command(target, "generate", "web", "--env", "")
			run.Dir = t.TempDir()
			res, err := run.Output()
			if err != nil {
				t.Fatalf("running the written script: %v", err)
			}
			if want := "__complete\ngenerate\nweb\n--env\n\n"; string(res) != want {
				t.Errorf("the script passed %q to the plugin, want %q", res, want)
			}
		})
	}
}

func TestCompletionInstallIntoADirectoryOffPath(t *testing.T) {
	l := krewLayout(t)
	t.Setenv("PATH", "/usr/bin:/bin")
	dir := t.TempDir()
	o, out, errOut := installOptions(t, l, "linux")
	o.Dir = dir
	if err := o.Complete(nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, completion.CompletionExecutable)); err != nil {
		t.Errorf("--dir %s was not used: %v (printed %q)", dir, err, out)
	}
	if want := "warning: " + dir + " is not on PATH"; !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr %q, want a warning %q", errOut, want)
	}
}

func TestCompletionInstallRefuses(t *testing.T) {
	tests := []struct {
		name     string
		layout   func(*testing.T) installLayout
		path     func(installLayout) string
		dir      string
		goos     string
		wantErr  string
		wantCode int
	}{
		{
			name:    "plugin not on PATH",
			layout:  goInstallLayout,
			path:    func(installLayout) string { return "/usr/bin:/bin" },
			goos:    "linux",
			wantErr: "kubectl-envops is not on PATH, so kubectl cannot run it as a plugin",
		},
		{
			name:     "--dir that does not exist",
			layout:   krewLayout,
			path:     func(l installLayout) string { return l.bin },
			dir:      filepath.Join(os.TempDir(), "envops-no-such-dir", "bin"),
			goos:     "linux",
			wantErr:  "does not exist: create it or choose another with --dir",
			wantCode: ExitUsage,
		},
		{
			name:    "windows without the shipped executable",
			layout:  goInstallLayout,
			path:    func(l installLayout) string { return l.bin },
			dir:     ".",
			goos:    "windows",
			wantErr: "kubectl_complete-envops.exe was not found beside kubectl-envops.exe",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.layout(t)
			t.Setenv("PATH", tt.path(l))
			o, _, _ := installOptions(t, l, tt.goos)
			o.Dir = tt.dir
			err := o.Complete(nil, nil, nil)
			if err == nil {
				err = o.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if tt.wantCode != 0 {
				if ExitCode(err) != tt.wantCode {
					t.Errorf("error %#v, want exit code %d", err, tt.wantCode)
				}
			}
			entries, _ := os.ReadDir(l.bin)
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), completion.CompletionExecutable) {
					t.Errorf("%s was written although the command failed", e.Name())
				}
			}
		})
	}
}
