package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // the whole one-line message
	}{
		{
			name: "unknown top-level key names the line and the valid keys",
			yaml: "apps: apps\nenviroments:\n  dev: {context: a}\n",
			want: `f.yaml:2: unknown key "enviroments" at the top level: use one of apps, environments, kustomize, labels, needs, promotion, secret`,
		},
		{
			name: "unknown key inside an environment",
			yaml: "environments:\n  dev:\n    context: a\n    conifrm: true\n",
			want: `f.yaml:4: unknown key "conifrm" in an environment: use one of confirm, context, namespace`,
		},
		{
			name: "unknown key in secret",
			yaml: "secret:\n  name: environment\n  path: /etc/secrets\n",
			want: `f.yaml:3: unknown key "path" in secret: use one of key, mountPath, name`,
		},
		{
			name: "confirm must be a boolean",
			yaml: "environments:\n  prod: {context: p, confirm: always}\n",
			want: `f.yaml:2: wrong type: expected true or false, found a string "always"`,
		},
		{
			name: "a document that is a string spanning lines is reported on one line",
			yaml: "00\n\n0",
			want: `f.yaml:1: wrong type: expected a mapping, found a string "00\n0"`,
		},
		{
			name: "an environment defined twice names both lines",
			yaml: "environments:\n  dev: {context: a}\n  prod: {context: p}\n  dev: {context: b}\n",
			want: `f.yaml:4: mapping key "dev" already defined at line 2`,
		},
		{
			name: "environments must be a mapping",
			yaml: "environments: [dev, prod]\n",
			want: `f.yaml:1: wrong type: expected a mapping, found a list`,
		},
		{
			name: "confirm given as a quoted yes is a string, not a boolean",
			yaml: "environments:\n  prod: {context: p, confirm: \"yes\"}\n",
			want: `f.yaml:2: wrong type: expected true or false, found a string "yes"`,
		},
		{
			name: "confirm given as a plain yes is a string, not a boolean",
			yaml: "environments:\n  prod:\n    context: p\n    confirm: on\n",
			want: `f.yaml:4: wrong type: expected true or false, found a string "on"`,
		},
		{
			name: "apps leading out of the project is refused",
			yaml: "apps: ../elsewhere\n",
			want: `f.yaml:1: apps "../elsewhere" leads out of the project directory: keep apps inside it, or give an absolute path`,
		},
		{
			name: "apps leading out of the project after cleaning is refused",
			yaml: "apps: apps/../../x\n",
			want: `f.yaml:1: apps "apps/../../x" leads out of the project directory: keep apps inside it, or give an absolute path`,
		},
		{
			name: "required labels must be a list",
			yaml: "labels:\n  required: name\n",
			want: `f.yaml:2: wrong type: expected a list of strings, found a string "name"`,
		},
		{
			name: "environments must be a mapping",
			yaml: "environments:\n  - dev\n  - prod\n",
			want: `f.yaml:2: wrong type: expected a mapping, found a list`,
		},
		{
			name: "secret key must be a string",
			yaml: "secret:\n  key: [a, b]\n",
			want: `f.yaml:2: wrong type: expected a string, found a list`,
		},
		{
			name: "duplicate environment",
			yaml: "environments:\n  dev: {context: a}\n  dev: {context: b}\n",
			want: `f.yaml:3: mapping key "dev" already defined at line 2`,
		},
		{
			name: "invalid environment name",
			yaml: "environments:\n  dev: {context: a}\n  Prod_1: {context: b}\n",
			want: `f.yaml:3: invalid environment name "Prod_1": use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit`,
		},
		{
			name: "environment without a context",
			yaml: "environments:\n  dev: {namespace: web}\n",
			want: `f.yaml:2: environment "dev" has no context: add "context: <kube context name>"`,
		},
		{
			name: "invalid namespace",
			yaml: "environments:\n  dev:\n    context: a\n    namespace: Web\n",
			want: `f.yaml:4: invalid namespace "Web" for environment "dev": use a namespace name (lowercase letters, digits and '-')`,
		},
		{
			name: "invalid secret name",
			yaml: "secret:\n  name: Env_Secret\n",
			want: `f.yaml:2: invalid secret name "Env_Secret": use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit`,
		},
		{
			name: "invalid label key in the required list points at the item",
			yaml: "labels:\n  required:\n    - name\n    - \"team name\"\n  name: \"{name}\"\n",
			want: `f.yaml:4: invalid label key "team name": use an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`,
		},
		{
			name: "relative mount path",
			yaml: "secret:\n  mountPath: etc/secrets\n",
			want: `f.yaml:2: invalid secret mountPath "etc/secrets": use an absolute path without ':', such as /etc/secrets`,
		},
		{
			name: "allowed values for an undeclared label",
			yaml: "labels:\n  allowed:\n    team: [a]\n",
			want: `f.yaml:3: labels.allowed names label "team", which is neither required nor optional: add it to one of them`,
		},
		{
			name: "invalid allowed label value points at the item",
			yaml: "labels:\n  allowed:\n    tier:\n      - frontend\n      - back end\n",
			want: `f.yaml:5: invalid value "back end" allowed for label "tier": use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`,
		},
		{
			name: "name pattern with an unknown placeholder",
			yaml: "labels:\n  name: \"{app}-{team}\"\n",
			want: `f.yaml:2: labels.name pattern "{app}-{team}" uses {team}, which is neither a required nor an optional label`,
		},
		{
			name: "label listed twice",
			yaml: "labels:\n  required: [name, app, role]\n  optional: [app]\n",
			want: `f.yaml:3: label "app" is listed twice in labels.required and labels.optional: keep one`,
		},
		{
			name: "second document",
			yaml: "apps: a\n---\napps: b\n",
			want: `f.yaml:2: more than one YAML document: keep a single document in the project file`,
		},
		{
			name: "a tab in the indentation",
			yaml: "apps: a\nsecret:\n\tname: x\n",
			want: `f.yaml:3: found character that cannot start any token`,
		},
		{
			name: "several problems are each named with their line, on one line",
			yaml: "foo: 1\nbar: 2\n",
			want: `f.yaml:1: unknown key "foo" at the top level: use one of apps, environments, kustomize, labels, needs, promotion, secret; f.yaml:2: unknown key "bar" at the top level: use one of apps, environments, kustomize, labels, needs, promotion, secret`,
		},
		{
			name: "a wrong type, an unknown key and invalid values are all named, in the order of their lines",
			yaml: "environments:\n  Dev: {context: a}\n  prod: {context: p, confirm: always}\nsecret:\n  name: Bad_Name\n  mountPath: etc\nlabels:\n  required: [name, app]\n  optional: [app]\nextra: 1\n",
			want: `f.yaml:2: invalid environment name "Dev": use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit; ` +
				`f.yaml:3: wrong type: expected true or false, found a string "always"; ` +
				`f.yaml:5: invalid secret name "Bad_Name": use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit; ` +
				`f.yaml:6: invalid secret mountPath "etc": use an absolute path without ':', such as /etc/secrets; ` +
				`f.yaml:7: labels.name pattern "{app}-{role}" uses {role}, which is neither a required nor an optional label; ` +
				`f.yaml:9: label "app" is listed twice in labels.required and labels.optional: keep one; ` +
				`f.yaml:10: unknown key "extra" at the top level: use one of apps, environments, kustomize, labels, needs, promotion, secret`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.yaml), "f.yaml")
			if err == nil {
				t.Fatalf("Parse accepted the file, got %+v", cfg)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
		})
	}
}

func TestParseFillsDefaults(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want func(*Config)
	}{
		{name: "empty file is the defaults", yaml: "", want: func(*Config) {}},
		{name: "comments only", yaml: "# nothing yet\n", want: func(*Config) {}},
		{
			name: "environments keep defaults elsewhere",
			yaml: "environments:\n  dev: {context: dev-cluster}\n  prod: {context: prod-cluster, confirm: true, namespace: web}\n",
			want: func(c *Config) {
				c.Environments = map[string]Environment{
					"dev":  {Context: "dev-cluster"},
					"prod": {Context: "prod-cluster", Confirm: true, Namespace: "web"},
				}
			},
		},
		{
			name: "partial secret keeps the other defaults",
			yaml: "secret: {name: cluster-env}\n",
			want: func(c *Config) { c.Secret.Name = "cluster-env" },
		},
		{
			name: "empty strings fall back to defaults",
			yaml: "secret: {name: \"\"}\napps: \"\"\n",
			want: func(*Config) {},
		},
		{
			name: "a label list replaces the default list",
			yaml: "labels:\n  required: [name, app]\n  optional: []\n  allowed: {app: [web]}\n  name: \"{app}\"\n",
			want: func(c *Config) {
				c.Labels.Required = []string{"name", "app"}
				c.Labels.Optional = []string{}
				c.Labels.Allowed = map[string][]string{"app": {"web"}}
				c.Labels.Name = "{app}"
			},
		},
		{
			name: "the design document's example",
			yaml: `environments:
  dev:  {context: dev-cluster}
  prod: {context: prod-cluster, confirm: true}
secret: {name: environment, key: environment, mountPath: /etc/secrets}
labels:
  required: [name, app, tier, role]
  optional: [language]
  allowed: {tier: [frontend, backend]}
  name: "{app}-{role}"
apps: apps/
`,
			want: func(c *Config) {
				c.Environments = map[string]Environment{"dev": {Context: "dev-cluster"}, "prod": {Context: "prod-cluster", Confirm: true}}
				c.Labels.Allowed = map[string][]string{"tier": {"frontend", "backend"}}
				c.Apps = "apps/"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.yaml), "f.yaml")
			if err != nil {
				t.Fatal(err)
			}
			want := Default()
			tt.want(want)
			// An absent mapping and an empty one mean the same to users.
			if len(got.Environments) == 0 && len(want.Environments) == 0 {
				got.Environments, want.Environments = nil, nil
			}
			if len(got.Labels.Allowed) == 0 && len(want.Labels.Allowed) == 0 {
				got.Labels.Allowed, want.Labels.Allowed = nil, nil
			}
			if len(got.Labels.Recommended) == 0 && len(want.Labels.Recommended) == 0 {
				got.Labels.Recommended, want.Labels.Recommended = nil, nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFind(t *testing.T) {
	root := t.TempDir()
	project := filepath.Join(root, "project")
	deep := filepath.Join(project, "apps", "web", "overlays")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(project, FileName), "environments:\n  dev: {context: dev-cluster}\napps: services\n")
	elsewhere := filepath.Join(root, "elsewhere")
	if err := os.MkdirAll(elsewhere, 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		start    string
		wantPath string
		wantDir  string
		wantApps string
	}{
		{"in the project directory", project, filepath.Join(project, FileName), project, filepath.Join(project, "services")},
		{"three levels below", deep, filepath.Join(project, FileName), project, filepath.Join(project, "services")},
		{"outside any project gives defaults rooted at the start", elsewhere, "", elsewhere, filepath.Join(elsewhere, "apps")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Find(tt.start)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Path != tt.wantPath || cfg.Dir() != tt.wantDir || cfg.AppsDir() != tt.wantApps {
				t.Errorf("Find(%s): Path=%q Dir=%q AppsDir=%q; want %q %q %q", tt.start, cfg.Path, cfg.Dir(), cfg.AppsDir(), tt.wantPath, tt.wantDir, tt.wantApps)
			}
		})
	}
}

func TestFindReportsABrokenFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, FileName), "environments:\n  dev: {context: a, extra: 1}\n")
	_, err := Find(filepath.Join(dir))
	want := filepath.Join(dir, FileName) + `:2: unknown key "extra" in an environment`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Find error = %v, want it to start with %s", err, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "does not exist: create it or fix the --config path") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

func TestAppsDirAbsolute(t *testing.T) {
	cfg, err := Parse([]byte("apps: /srv/apps\n"), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.AppsDir(); got != "/srv/apps" {
		t.Errorf("AppsDir = %q, want /srv/apps", got)
	}
}

func TestEnvironment(t *testing.T) {
	withEnvs, err := Parse([]byte("environments:\n  prod: {context: p, confirm: true}\n  dev: {context: d}\n  staging: {context: s}\n"), "/p/.envops.yaml")
	if err != nil {
		t.Fatal(err)
	}
	withEnvs.Path = "/p/.envops.yaml"
	noEnvs := Default()
	noEnvs.Path = "/p/.envops.yaml"

	if got := withEnvs.EnvironmentNames(); !reflect.DeepEqual(got, []string{"dev", "prod", "staging"}) {
		t.Errorf("EnvironmentNames = %v, want sorted dev, prod, staging", got)
	}

	tests := []struct {
		name    string
		cfg     *Config
		env     string
		want    Environment
		wantErr string
	}{
		{name: "known environment", cfg: withEnvs, env: "prod", want: Environment{Context: "p", Confirm: true}},
		{name: "unknown environment lists the known ones", cfg: withEnvs, env: "qa",
			wantErr: `unknown environment "qa": the project file /p/.envops.yaml defines dev, prod, staging`},
		{name: "file without environments", cfg: noEnvs, env: "qa",
			wantErr: `unknown environment "qa": the project file /p/.envops.yaml defines no environments; add it under "environments:"`},
		{name: "no file at all", cfg: Default(), env: "qa",
			wantErr: `unknown environment "qa": no .envops.yaml found, so no environments are defined; add one with an "environments:" section`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.Environment(tt.env)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %s", err, tt.wantErr)
				}
				if !errors.Is(err, ErrUnknownEnvironment) {
					t.Errorf("error does not wrap ErrUnknownEnvironment")
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Environment(%q) = %+v, %v; want %+v", tt.env, got, err, tt.want)
			}
		})
	}
}

// TestLoadIsBounded: a project file that is a device or a FIFO is refused
// before it is read (/dev/zero would never end, a FIFO would wait for a
// writer), and one larger than MaxFileBytes after the size is known.
func TestLoadIsBounded(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "envops.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, bytes.Repeat([]byte("# padding\n"), MaxFileBytes/9), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/dev/zero": "project file /dev/zero is a character device, not a regular file",
		fifo:        "project file " + fifo + " is a named pipe (FIFO), not a regular file",
		dir:         "project file " + dir + " is a directory, not a regular file",
		big:         "project file " + big + " is larger than 1 MiB",
	} {
		done := make(chan error, 1)
		go func() {
			_, err := Load(path)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Load(%s) = %v, want an error saying %q", path, err, want)
			}
		case <-time.After(time.Minute):
			t.Fatalf("Load(%s) still runs after a minute", path)
		}
	}
}

func TestNeeds(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{name: "a chain", content: "needs:\n  web: [api]\n  api: [db]\n"},
		{name: "a cycle is named", content: "needs:\n  web: [api]\n  api: [db]\n  db: [web]\n",
			want: "f.yaml:3: the apps need each other in a cycle (api needs db needs web needs api), so none of them could be deployed first: remove one of these needs"},
		{name: "an app needing itself", content: "needs:\n  web: [web]\n", want: `f.yaml:2: app "web" needs itself`},
		{name: "a bad name", content: "needs:\n  web: [Api]\n", want: `f.yaml:2: invalid app name "Api" needed by "web"`},
		{name: "a need listed twice", content: "needs:\n  web: [api, api]\n", want: `f.yaml:2: app "web" needs "api" twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.content), "f.yaml")
			if tc.want == "" {
				if err != nil || len(cfg.Needs["web"]) != 1 {
					t.Fatalf("err = %v, needs %v", err, cfg.Needs)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to start with %q", err, tc.want)
			}
		})
	}
}
