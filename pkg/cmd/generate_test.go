package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"
)

// generateFiles is the project of writeGenerateProject.
var generateFiles = map[string]string{
	".envops.yaml":                     "environments:\n  dev: {context: dev-cluster}\n  prod: {context: prod-cluster}\n",
	"apps/web/base/kustomization.yaml": "resources:\n- rc.yaml\nlabels:\n- pairs: {app: web, tier: frontend, role: server}\n  includeTemplates: true\n",
	"apps/web/base/rc.yaml": "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: web\nspec:\n  replicas: 1\n" +
		"  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n",
	"apps/web/overlays/dev/kustomization.yaml":  "resources:\n- ../../base\n",
	"apps/web/overlays/prod/kustomization.yaml": "resources:\n- ../../base\nreplicas:\n- {name: web, count: 3}\n",
}

// writeGenerateProject writes a project with one scaffolded-style app "web" and
// returns the path of its .envops.yaml.
func writeGenerateProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := generateFiles
	for p, c := range files {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, ".envops.yaml")
}

func TestGenerateFlags(t *testing.T) {
	cfgPath := writeGenerateProject(t)
	for _, tc := range []struct {
		name     string
		args     []string
		want     GenerateOptions
		wantCode int // exit code of a refused command line
	}{
		{name: "app and env", args: []string{"web", "--env", "dev"}, want: GenerateOptions{App: "web", Env: "dev", Output: "yaml"}},
		{name: "all apps as json into a directory", args: []string{"--all", "--env", "prod", "-o", "json", "--output-dir", "out", "--image", "web=nginx:1.28"},
			want: GenerateOptions{All: true, Env: "prod", Output: "json", OutputDir: "out", Image: "web=nginx:1.28"}},
		{name: "one image for every app is refused", args: []string{"--all", "--env", "prod", "--image", "nginx:1.28"}, wantCode: ExitUsage},
		{name: "an image for another app is refused", args: []string{"web", "--env", "prod", "--image", "api=nginx:1.28"}, wantCode: ExitUsage},
		{name: "an image for the app rendered", args: []string{"web", "--env", "prod", "--image", "web=nginx:1.28"}, want: GenerateOptions{App: "web", Env: "prod", Output: "yaml", Image: "web=nginx:1.28"}},
		{name: "env is required", args: []string{"web"}, wantCode: ExitUsage},
		{name: "app or all is required", args: []string{"--env", "dev"}, wantCode: ExitUsage},
		{name: "app and all exclude each other", args: []string{"web", "--all", "--env", "dev"}, wantCode: ExitUsage},
		{name: "unknown output format", args: []string{"web", "--env", "dev", "-o", "table"}, wantCode: ExitUsage},
		{name: "invalid image", args: []string{"web", "--env", "dev", "--image", "Nginx:1"}, wantCode: ExitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			streams, _, _, _ := genericiooptions.NewTestIOStreams()
			var got *GenerateOptions
			cmd := NewCmdGenerate(&Globals{Streams: streams, ConfigPath: cfgPath}, func(o *GenerateOptions) error {
				got = o
				return nil
			})
			cmd.SetArgs(tc.args)
			cmd.SetOut(streams.Out)
			cmd.SetErr(streams.ErrOut)
			err := cmd.Execute()
			if tc.wantCode != 0 {
				if ExitCode(err) != tc.wantCode {
					t.Fatalf("error = %v, want exit code %d", err, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.App != tc.want.App || got.All != tc.want.All || got.Env != tc.want.Env || got.Output != tc.want.Output ||
				got.OutputDir != tc.want.OutputDir || got.Image != tc.want.Image {
				t.Errorf("parsed %+v, want %+v", *got, tc.want)
			}
		})
	}
}

// runGenerate runs the command line through the root command, as the plugin does.
func runGenerate(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	code = Execute(append([]string{"generate"}, args...), streams)
	return out.String(), errOut.String(), code
}

func TestGenerateRun(t *testing.T) {
	cfgPath := writeGenerateProject(t)

	out, stderr, code := runGenerate(t, "web", "--env", "prod", "--image", "nginx:1.28", "--config", cfgPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rc map[string]any
	if err := yaml.Unmarshal([]byte(out), &rc); err != nil {
		t.Fatalf("output is not YAML: %v\n%s", err, out)
	}
	for _, want := range []string{"replicas: 3", "image: nginx:1.28", "mountPath: /etc/secrets", "name: web-server"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	out, stderr, code = runGenerate(t, "--all", "--env", "dev", "-o", "json", "--config", cfgPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var list struct {
		Kind  string           `json:"kind"`
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if list.Kind != "List" || len(list.Items) != 1 {
		t.Errorf("want a List of 1 item, got kind %q with %d items", list.Kind, len(list.Items))
	}

	out, stderr, code = runGenerate(t, "--all", "--env", "dev", "--image", "web=nginx:1.29", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "image: nginx:1.29") {
		t.Errorf("--all --image web=nginx:1.29: exit %d, stderr %q, output:\n%s", code, stderr, out)
	}

	dir := filepath.Join(t.TempDir(), "rendered")
	out, stderr, code = runGenerate(t, "--all", "--env", "prod", "--output-dir", dir, "--config", cfgPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(filepath.Join(dir, "web.yaml"))
	if err != nil || !strings.Contains(string(b), "replicas: 3") {
		t.Errorf("web.yaml = %q, %v; want the prod rendering", b, err)
	}
	if !strings.Contains(out, "web.yaml") {
		t.Errorf("stdout should name the file written, got %q", out)
	}
}

func TestGenerateErrors(t *testing.T) {
	cfgPath := writeGenerateProject(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing overlay", []string{"web", "--env", "staging"}, ExitUsage, `unknown environment "staging"`},
		{"unknown app", []string{"shop", "--env", "dev"}, ExitUsage, `unknown app "shop"`},
		{"invalid image", []string{"web", "--env", "dev", "--image", "nginx::1"}, ExitUsage, `invalid image reference "nginx::1"`},
		{"one image for every app", []string{"--all", "--env", "dev", "--image", "nginx:1.29"}, ExitUsage, `with --all, name the app it is for, as --image APP=nginx:1.29`},
		{"image for an app that does not exist", []string{"--all", "--env", "dev", "--image", "shop=nginx:1.29"}, ExitUsage, `the image is for app "shop", which is not in`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, code := runGenerate(t, append(tc.args, "--config", cfgPath)...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
			if out != "" {
				t.Errorf("printed objects despite the error: %q", out)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "error: ") || !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr = %q, want one error line containing %q", stderr, tc.want)
			}
		})
	}
}

// TestGenerateTemplates checks that -o jsonpath and -o go-template print
// the rendered objects, and that --output-dir, which writes files, takes
// only yaml or json.
func TestGenerateTemplates(t *testing.T) {
	cfgPath := writeGenerateProject(t)
	for _, tc := range []struct{ format, want string }{
		{"jsonpath={.kind}/{.metadata.name} {.spec.replicas}", "ReplicationController/web 3"},
		{"go-template={{range .spec.template.spec.containers}}{{.image}}{{end}}", "nginx:1.28"},
	} {
		out, stderr, code := runGenerate(t, "web", "--env", "prod", "--image", "nginx:1.28", "-o", tc.format, "--config", cfgPath)
		if code != 0 || out != tc.want {
			t.Errorf("-o %s: exit %d, stdout %q, stderr %q; want %q", tc.format, code, out, stderr, tc.want)
		}
	}
	// Several objects are a List, whose items a template reaches.
	api := filepath.Join(filepath.Dir(cfgPath), "apps", "api")
	for dir, body := range map[string]string{"base": strings.ReplaceAll(strings.ReplaceAll(generateFiles["apps/web/base/kustomization.yaml"], "web", "api"), "frontend", "backend"), "overlays/prod": "resources:\n- ../../base\n"} {
		writeFile(t, filepath.Join(api, dir, "kustomization.yaml"), body, 0o644)
	}
	writeFile(t, filepath.Join(api, "base", "rc.yaml"), strings.ReplaceAll(generateFiles["apps/web/base/rc.yaml"], "web", "api"), 0o644)
	out, stderr, code := runGenerate(t, "--all", "--env", "prod", "-o", "jsonpath={.kind}: {.items[*].metadata.name}", "--config", cfgPath)
	if code != 0 || out != "List: api web" {
		t.Errorf("--all -o jsonpath: exit %d, stdout %q, stderr %q; want %q", code, out, stderr, "List: api web")
	}
	_, stderr, code = runGenerate(t, "--all", "--env", "prod", "-o", "jsonpath={.items}", "--output-dir", t.TempDir(), "--config", cfgPath)
	if code != ExitUsage || !strings.Contains(stderr, "--output-dir writes yaml or json files") {
		t.Errorf("--output-dir with a template: exit %d, stderr %q; want exit 2 saying --output-dir takes yaml or json", code, stderr)
	}
}

// TestGenerateEnvironments checks that one command renders several
// environments, one directory each, exactly as it renders each alone.
func TestGenerateEnvironments(t *testing.T) {
	cfgPath := writeGenerateProject(t)
	alone := map[string]string{}
	for _, env := range []string{"dev", "prod"} {
		out, stderr, code := runGenerate(t, "web", "--env", env, "--config", cfgPath)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		alone[env] = out
	}
	for _, args := range [][]string{
		{"--all", "--all-environments"},
		{"--all", "--env", "prod,dev"},
		{"web", "--env", "dev,prod"},
	} {
		dir := filepath.Join(t.TempDir(), "rendered")
		out, stderr, code := runGenerate(t, append(args, "--output-dir", dir, "--config", cfgPath)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		for env, want := range alone {
			path := filepath.Join(dir, env, "web.yaml")
			if b, err := os.ReadFile(path); err != nil || string(b) != want {
				t.Errorf("%v: %s = %q, %v; want what generate web --env %s prints:\n%s", args, path, b, err, env, want)
			}
			if !strings.Contains(out, "wrote "+path+"\n") {
				t.Errorf("%v: stdout %q does not name %s", args, out, path)
			}
		}
	}
	// --all-environments follows the project file's order.
	out, _, _ := runGenerate(t, "--all", "--all-environments", "--output-dir", t.TempDir(), "--config", cfgPath)
	if dev, prod := strings.Index(out, "/dev/web.yaml"), strings.Index(out, "/prod/web.yaml"); dev < 0 || prod < dev {
		t.Errorf("files reported out of the environments' order:\n%s", out)
	}
}

func TestGenerateEnvironmentsRefused(t *testing.T) {
	cfgPath := writeGenerateProject(t)
	noEnvs := filepath.Join(filepath.Dir(cfgPath), "bare", ".envops.yaml")
	writeFile(t, noEnvs, "apps: "+filepath.Join(filepath.Dir(cfgPath), "apps")+"\n", 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"several to standard output", []string{"--all", "--env", "dev,prod", "--config", cfgPath}, "rendering 2 environments writes one directory each: add --output-dir DIR"},
		{"every environment to standard output", []string{"--all", "--all-environments", "--config", cfgPath}, "add --output-dir DIR"},
		{"an environment twice", []string{"web", "--env", "dev,dev", "--output-dir", "out", "--config", cfgPath}, `--env names environment "dev" twice`},
		{"an empty name", []string{"web", "--env", "dev,", "--output-dir", "out", "--config", cfgPath}, `invalid environment name ""`},
		{"both forms", []string{"web", "--env", "dev", "--all-environments", "--config", cfgPath}, "either --env or --all-environments"},
		{"no environments defined", []string{"web", "--all-environments", "--output-dir", "out", "--config", noEnvs}, "defines no environments; name one with --env"},
		{"an unknown one among several", []string{"--all", "--env", "dev,qa", "--output-dir", "out", "--config", cfgPath}, `unknown environment "qa"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			out, stderr, code := runGenerate(t, tc.args...)
			if code != ExitUsage || out != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and one line containing %q", code, out, stderr, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("a refused command wrote %v", entries)
			}
		})
	}
}
