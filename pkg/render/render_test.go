package render

import (
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/envops/kubectl-envops/pkg/config"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// project loads testdata/project into an in-memory filesystem rooted at
// /project, and returns it with a configuration whose apps live there.
func project(t *testing.T) (filesys.FileSystem, *config.Config) {
	t.Helper()
	fsys := filesys.MakeFsInMemory()
	err := filepath.WalkDir("testdata/project", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("testdata", path)
		return fsys.WriteFile(filepath.Join("/", rel), data)
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Apps = "/project/apps"
	cfg.Environments = map[string]config.Environment{
		"dev":  {Context: "dev-cluster"},
		"prod": {Context: "prod-cluster"},
	}
	return fsys, cfg
}

// diskProject is project on disk: renders that run concurrently need a
// file system that is safe for concurrent use, which kustomize's in-memory
// one is not.
func diskProject(t *testing.T) (filesys.FileSystem, *config.Config) {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata")); err != nil {
		t.Fatal(err)
	}
	_, cfg := project(t)
	cfg.Apps = filepath.Join(dir, "project", "apps")
	return filesys.MakeFsOnDisk(), cfg
}

// toYAML prints objects as a YAML stream.
func toYAML(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	docs := make([]string, 0, len(objs))
	for _, o := range objs {
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	return strings.Join(docs, "---\n")
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestAppGolden(t *testing.T) {
	for _, tc := range []struct {
		name, app, env string
		opts           Options
		golden         string
	}{
		{name: "rc base with dev overlay gets the secret mount, labels and one replica", app: "web", env: "dev", golden: "web-dev.yaml"},
		{name: "prod overlay with a new image keeps the selector on the name label", app: "web", env: "prod", opts: Options{Image: "registry.example.com/web:1.1.0"}, golden: "web-prod.yaml"},
		{name: "deployment gets a name selector, the overlay's image tag and the mount in both containers", app: "api", env: "prod", golden: "api-prod.yaml"},
		{name: "base that already mounts the secret", app: "mounted", env: "dev", golden: "mounted-dev.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys, cfg := project(t)
			objs, err := App(fsys, cfg, tc.app, tc.env, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, toYAML(t, objs))
		})
	}
}

func TestAppLeavesAConformingBaseUnchanged(t *testing.T) {
	fsys, cfg := project(t)
	plain, err := Kustomization(fsys, "/project/apps/mounted/overlays/dev", Options{})
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := App(fsys, cfg, "mounted", "dev", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := toYAML(t, rendered), toYAML(t, plain); got != want {
		t.Errorf("transforms changed an app that already follows the conventions:\ngot:\n%s\nkustomize alone:\n%s", got, want)
	}
}

func TestSelectorIsTheSameInEveryEnvironment(t *testing.T) {
	fsys, cfg := project(t)
	for _, env := range []string{"dev", "prod"} {
		objs, err := App(fsys, cfg, "web", env, Options{})
		if err != nil {
			t.Fatal(err)
		}
		sel, _, _ := unstructured.NestedStringMap(objs[0].Object, "spec", "selector")
		if len(sel) != 1 || sel["name"] != "web-server" {
			t.Errorf("%s selector = %v, want only name=web-server", env, sel)
		}
	}
}

func TestAppErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		app, env string
		opts     Options
		edit     map[string]string // files to write over the project
		want     string
	}{
		{
			name: "missing overlay lists the ones that exist",
			app:  "web", env: "staging",
			edit: nil,
			want: `unknown environment "staging"`,
		},
		{
			name: "missing overlay of a known environment lists the overlays",
			app:  "api", env: "dev",
			want: `app "api" has no overlay for environment "dev": /project/apps/api/overlays/dev does not exist; overlays: prod`,
		},
		{
			name: "unknown app lists the apps",
			app:  "shop", env: "dev",
			want: `unknown app "shop": no directory /project/apps/shop; apps: api, mounted, web`,
		},
		{
			name: "broken kustomization in the base names the file",
			app:  "web", env: "dev",
			edit: map[string]string{"/project/apps/web/base/kustomization.yaml": "resources:\n- replicationcontroller.yaml\ncommonLabels: [\n"},
			want: `/project/apps/web/base/kustomization.yaml: malformed kustomization: yaml: line 3`,
		},
		{
			name: "unknown field in a kustomization names the file and the field",
			app:  "web", env: "dev",
			edit: map[string]string{"/project/apps/web/overlays/dev/kustomization.yaml": "resources:\n- ../../base\nreplica: 2\n"},
			want: `/project/apps/web/overlays/dev/kustomization.yaml: malformed kustomization: json: unknown field "replica"`,
		},
		{
			name: "missing resource file names the kustomization that lists it",
			app:  "web", env: "dev",
			edit: map[string]string{"/project/apps/web/base/kustomization.yaml": "resources:\n- replicationcontroller.yaml\n- service.yaml\n"},
			want: `/project/apps/web/base/kustomization.yaml: resource "service.yaml" does not exist`,
		},
		{
			name: "a resource kustomize rejects names the file",
			app:  "web", env: "dev",
			edit: map[string]string{"/project/apps/web/base/replicationcontroller.yaml": "apiVersion: v1\nmetadata:\n  name: web\n"},
			want: `/project/apps/web/base/replicationcontroller.yaml: kustomize rejects this resource: missing kind`,
		},
		{
			name: "invalid image",
			app:  "web", env: "dev",
			opts: Options{Image: "registry.example.com/Web:1"},
			want: `invalid image reference "registry.example.com/Web:1"`,
		},
		{
			name: "image with no container to take it",
			app:  "api", env: "prod",
			opts: Options{Image: "mirror.example.com/other:1"},
			edit: map[string]string{"/project/apps/api/base/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n      - {name: main, image: registry.example.com/api:2.0}\n      - {name: proxy, image: envoyproxy/envoy:v1.30}\n"},
			want: `no container to give image "mirror.example.com/other:1"`,
		},
		{
			name: "app name that is not a directory name",
			app:  "../web", env: "dev",
			want: `invalid app name "../web"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys, cfg := project(t)
			for p, c := range tc.edit {
				if err := fsys.WriteFile(p, []byte(c)); err != nil {
					t.Fatal(err)
				}
			}
			_, err := App(fsys, cfg, tc.app, tc.env, tc.opts)
			if err == nil {
				t.Fatalf("no error, want one containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
		})
	}
}

func TestOverlayWithoutEnvironmentsInConfig(t *testing.T) {
	fsys, cfg := project(t)
	cfg.Environments = nil
	if _, err := App(fsys, cfg, "web", "prod", Options{}); err != nil {
		t.Errorf("without environments in the project file any overlay renders, got %v", err)
	}
	_, err := App(fsys, cfg, "web", "qa", Options{})
	if err == nil || !strings.Contains(err.Error(), "overlays: dev, prod") {
		t.Errorf("error = %v, want the list of overlays", err)
	}
}

func TestAll(t *testing.T) {
	fsys, cfg := diskProject(t)
	cfg.Environments = nil
	// Only apps with a prod overlay can be rendered for prod: give them all one.
	if err := fsys.MkdirAll(cfg.Apps + "/mounted/overlays/prod"); err != nil {
		t.Fatal(err)
	}
	if err := fsys.WriteFile(cfg.Apps+"/mounted/overlays/prod/kustomization.yaml", []byte("resources:\n- ../../base\n")); err != nil {
		t.Fatal(err)
	}
	rendered, err := All(fsys, cfg, []string{"prod"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	all := rendered[0].Apps
	var names []string
	for _, a := range all {
		names = append(names, a.App)
		single, err := App(fsys, cfg, a.App, "prod", Options{})
		if err != nil {
			t.Fatal(err)
		}
		if toYAML(t, single) != toYAML(t, a.Objects) {
			t.Errorf("app %s rendered by All differs from App", a.App)
		}
	}
	if got := strings.Join(names, ","); got != "api,mounted,web" {
		t.Errorf("apps = %s, want api,mounted,web in name order", got)
	}

	_, err = All(fsys, cfg, []string{"dev"}, Options{})
	if err == nil || !strings.Contains(err.Error(), `app "api" has no overlay for environment "dev"`) {
		t.Errorf("error = %v, want the first app lacking the overlay", err)
	}
}

// TestAllEnvironments checks that rendering several environments at once
// gives each environment, in the order asked, exactly what App gives.
func TestAllEnvironments(t *testing.T) {
	fsys, cfg := diskProject(t)
	for _, f := range []string{"api/overlays/dev", "mounted/overlays/prod"} {
		if err := fsys.MkdirAll(cfg.Apps + "/" + f); err != nil {
			t.Fatal(err)
		}
		if err := fsys.WriteFile(cfg.Apps+"/"+f+"/kustomization.yaml", []byte("resources:\n- ../../base\n")); err != nil {
			t.Fatal(err)
		}
	}
	rendered, err := All(fsys, cfg, []string{"prod", "dev"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, env := range rendered {
		for _, a := range env.Apps {
			got = append(got, env.Env+"/"+a.App)
			single, err := App(fsys, cfg, a.App, env.Env, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if toYAML(t, single) != toYAML(t, a.Objects) {
				t.Errorf("%s/%s rendered with every environment differs from App", env.Env, a.App)
			}
		}
	}
	if g, want := strings.Join(got, ","), "prod/api,prod/mounted,prod/web,dev/api,dev/mounted,dev/web"; g != want {
		t.Errorf("rendered %s, want %s", g, want)
	}
}

// TestEachReportsTheFirstFailureInOrder checks that of many failing
// builds, the one reported is the first in environment then app order,
// however the builds are scheduled.
func TestEachReportsTheFirstFailureInOrder(t *testing.T) {
	fsys, cfg := diskProject(t)
	// web renders for dev and prod; api and mounted each lack one overlay.
	apps := []string{"web", "web", "web", "mounted", "api", "web", "mounted"}
	for range 50 {
		_, err := Each(fsys, cfg, apps, []string{"prod", "dev"}, Options{})
		if err == nil || !strings.Contains(err.Error(), `app "mounted" has no overlay for environment "prod"`) {
			t.Fatalf("error = %v, want the first failure in order: mounted in prod", err)
		}
	}
	_, err := Each(fsys, cfg, []string{"web", "api"}, []string{"dev", "prod"}, Options{})
	if err == nil || !strings.Contains(err.Error(), `app "api" has no overlay for environment "dev"`) {
		t.Errorf("error = %v, want api in dev", err)
	}
}

func TestApps(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"apps/web/base", "apps/api/overlays/dev", "apps/notes"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Default()
	cfg.Apps = filepath.Join(dir, "apps")
	apps, err := Apps(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(apps, ","); got != "api,web" {
		t.Errorf("Apps = %s, want api,web (notes has neither base/ nor overlays/)", got)
	}
	cfg.Apps = filepath.Join(dir, "missing")
	if _, err := Apps(cfg); err == nil {
		t.Error("a missing apps directory should be an error")
	}
}

// TestAppRefusesOverlappingSelectors: two controllers of one app with one
// role get one name label, and so one selector; they would fight over the
// same pods, so the app is refused with the fix.
func TestAppRefusesOverlappingSelectors(t *testing.T) {
	fsys, cfg := project(t)
	err := filepath.WalkDir("testdata/twin", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("testdata", path)
		return fsys.WriteFile(filepath.Join("/project/apps", rel), data)
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = App(fsys, cfg, "twin", "dev", Options{})
	want := `app "twin" renders ReplicationController/twin and ReplicationController/twin-canary with overlapping selectors (name=twin-server and name=twin-server): both would manage the same pods; give each controller its own role label, so each gets its own name label ({app}-{role})`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	// With a role of its own, the canary renders.
	for path, data := range map[string]string{
		"/project/apps/twin/base/kustomization.yaml": "resources: [twin.yaml, twin-canary.yaml]\nlabels:\n- pairs: {app: twin, tier: backend}\n  includeTemplates: true\n",
		"/project/apps/twin/base/twin.yaml":          "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: twin, labels: {role: server}}\nspec:\n  template:\n    metadata: {labels: {role: server}}\n    spec: {containers: [{name: twin, image: twin:1}]}\n",
		"/project/apps/twin/base/twin-canary.yaml":   "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: twin-canary, labels: {role: canary}}\nspec:\n  template:\n    metadata: {labels: {role: canary}}\n    spec: {containers: [{name: twin, image: twin:2}]}\n",
	} {
		if err := fsys.WriteFile(path, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := App(fsys, cfg, "twin", "dev", Options{}); err != nil {
		t.Errorf("with its own role: %v", err)
	}
}
