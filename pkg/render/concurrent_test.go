package render

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envops/kubectl-envops/pkg/config"
)

// widgetSchema is an OpenAPI schema for the custom kind Widget that makes
// spec.parts a list merged by name; without it, kustomize replaces the
// list as a whole when a strategic merge patch touches it.
const widgetSchema = `{"definitions": {"v1.Widget": {
  "type": "object",
  "x-kubernetes-group-version-kind": [{"group": "example.com", "version": "v1", "kind": "Widget"}],
  "properties": {"spec": {"type": "object", "properties": {"parts": {
    "type": "array",
    "x-kubernetes-patch-merge-key": "name",
    "x-kubernetes-patch-strategy": "merge",
    "items": {"type": "object", "properties": {"name": {"type": "string"}, "size": {"type": "integer"}}}
  }}}}
}}}`

const widget = `apiVersion: example.com/v1
kind: Widget
metadata:
  name: widget
spec:
  parts:
  - {name: a, size: 1}
  - {name: b, size: 2}
`

const widgetPatch = `patches:
- patch: |-
    apiVersion: example.com/v1
    kind: Widget
    metadata:
      name: widget
    spec:
      parts:
      - {name: b, size: 3}
`

// writeConcurrencyProject writes n scaffold-like apps with a
// ReplicationController and an overlay per environment, plus two apps of
// a custom kind: "schema" declares its own OpenAPI schema, "noschema"
// does not. It returns the configuration.
func writeConcurrencyProject(t *testing.T, n int, envs []string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{}
	for i := range n {
		app := fmt.Sprintf("app-%02d", i)
		files[app+"/base/kustomization.yaml"] = "resources:\n- rc.yaml\nlabels:\n- pairs: {app: " + app + ", tier: backend, role: server}\n  includeTemplates: true\n"
		files[app+"/base/rc.yaml"] = "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: " + app + "\nspec:\n  replicas: 1\n" +
			"  template:\n    spec:\n      containers:\n      - name: " + app + "\n        image: registry.example.com/" + app + ":1\n"
		for j, env := range envs {
			files[app+"/overlays/"+env+"/kustomization.yaml"] = fmt.Sprintf("resources:\n- ../../base\nreplicas:\n- {name: %s, count: %d}\n", app, j+1)
		}
	}
	for _, app := range []string{"schema", "noschema"} {
		files[app+"/base/kustomization.yaml"] = "resources:\n- widget.yaml\n"
		files[app+"/base/widget.yaml"] = widget
		for _, env := range envs {
			k := "resources:\n- ../../base\n" + widgetPatch
			if app == "schema" {
				k += "openapi:\n  path: widget.json\n"
				files[app+"/overlays/"+env+"/widget.json"] = widgetSchema
			}
			files[app+"/overlays/"+env+"/kustomization.yaml"] = k
		}
	}
	for p, c := range files {
		p = filepath.Join(dir, "apps", p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Default()
	cfg.Apps = filepath.Join(dir, "apps")
	return cfg
}

// TestAllEnvironmentsConcurrently renders every environment at once, each
// with All (itself concurrent), and compares every app with a render of
// that app alone. Run under "go test -race", it shows that kustomize
// builds share no unguarded state, including an app that sets kustomize's
// process-wide OpenAPI schema.
func TestAllEnvironmentsConcurrently(t *testing.T) {
	envs := []string{"dev", "staging", "prod"}
	cfg := writeConcurrencyProject(t, 6, envs)
	fsys := filesys.MakeFsOnDisk()

	alone := map[string]string{}
	for _, env := range envs {
		for _, app := range []string{"app-00", "app-05", "noschema", "schema", "noschema"} {
			objs, err := App(fsys, cfg, app, env, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := toYAML(t, objs)
			if prev, ok := alone[app+"/"+env]; ok && prev != got {
				t.Errorf("%s/%s renders differently after an app with its own schema:\n%s\nbefore:\n%s", app, env, got, prev)
			}
			alone[app+"/"+env] = got
		}
	}
	for _, env := range envs {
		if s := alone["schema/"+env]; !strings.Contains(s, "name: a") {
			t.Fatalf("schema/%s: the patch did not merge by name, so the schema was not used:\n%s", env, s)
		}
		if s := alone["noschema/"+env]; strings.Contains(s, "name: a") {
			t.Fatalf("noschema/%s: the patch merged by name, so another app's schema was used:\n%s", env, s)
		}
	}

	results := make([][]AppObjects, len(envs))
	errs := make([]error, len(envs))
	var wg sync.WaitGroup
	for i, env := range envs {
		wg.Go(func() {
			var r []EnvObjects
			if r, errs[i] = All(fsys, cfg, []string{env}, Options{}); errs[i] == nil {
				results[i] = r[0].Apps
			}
		})
	}
	wg.Wait()
	for i, env := range envs {
		if errs[i] != nil {
			t.Fatalf("%s: %v", env, errs[i])
		}
		var names []string
		for _, a := range results[i] {
			names = append(names, a.App)
			if want, ok := alone[a.App+"/"+env]; ok && toYAML(t, a.Objects) != want {
				t.Errorf("%s/%s rendered concurrently differs from a render alone", a.App, env)
			}
		}
		if got, want := strings.Join(names, ","), "app-00,app-01,app-02,app-03,app-04,app-05,noschema,schema"; got != want {
			t.Errorf("%s: apps in order %s, want %s", env, got, want)
		}
	}
}
