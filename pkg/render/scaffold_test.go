package render

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envops/kubectl-envops/pkg/config"
)

func scaffoldConfig() *config.Config {
	cfg := config.Default()
	cfg.Apps = "/work/apps"
	cfg.Environments = map[string]config.Environment{"dev": {Context: "d"}, "prod": {Context: "p"}}
	cfg.Labels.Allowed = map[string][]string{"tier": {"frontend", "backend"}}
	return cfg
}

func TestScaffoldRendersPerEnvironment(t *testing.T) {
	for _, kind := range []string{KindReplicationController, KindDeployment} {
		t.Run(kind, func(t *testing.T) {
			fsys := filesys.MakeFsInMemory()
			cfg := scaffoldConfig()
			paths, err := Scaffold(t.Context(), fsys, cfg, NewApp{
				Name: "web", Tier: "frontend", Role: "server", Language: "go", Image: "registry.example.com/web:1.0",
				Kind: kind, Port: 8080, Environments: cfg.EnvironmentNames(), Replicas: map[string]int32{"prod": 3},
			})
			if err != nil {
				t.Fatal(err)
			}
			controllerFile := strings.ToLower(kind) + ".yaml"
			want := []string{"base/kustomization.yaml", "base/" + controllerFile, "overlays/dev/kustomization.yaml", "overlays/prod/kustomization.yaml"}
			sort.Strings(want)
			var got []string
			for _, p := range paths {
				rel, _ := filepath.Rel("/work/apps/web", p)
				got = append(got, rel)
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("wrote %v, want %v", got, want)
			}

			for env, replicas := range map[string]int64{"dev": 1, "prod": 3} {
				objs, err := App(fsys, cfg, "web", env, Options{})
				if err != nil {
					t.Fatalf("%s: %v", env, err)
				}
				if len(objs) != 1 || objs[0].GetKind() != kind {
					t.Fatalf("%s: want one %s, got %d objects", env, kind, len(objs))
				}
				obj := objs[0]
				if n, _, _ := unstructured.NestedInt64(obj.Object, "spec", "replicas"); n != replicas {
					t.Errorf("%s: replicas = %d, want %d", env, n, replicas)
				}
				wantLabels := map[string]string{"name": "web-server", "app": "web", "tier": "frontend", "role": "server", "language": "go"}
				podLabels, _, _ := unstructured.NestedStringMap(obj.Object, "spec", "template", "metadata", "labels")
				for k, v := range wantLabels {
					if obj.GetLabels()[k] != v || podLabels[k] != v {
						t.Errorf("%s: label %s = %q on the controller and %q on the pods, want %q", env, k, obj.GetLabels()[k], podLabels[k], v)
					}
				}
				selector, _, _ := unstructured.NestedStringMap(obj.Object, "spec", "selector")
				if kind == KindDeployment {
					selector, _, _ = unstructured.NestedStringMap(obj.Object, "spec", "selector", "matchLabels")
				}
				if len(selector) != 1 || selector["name"] != "web-server" {
					t.Errorf("%s: selector = %v, want name=web-server only", env, selector)
				}
			}

			// The same files rendered by kustomize alone already select by name.
			plain, err := Kustomization(fsys, "/work/apps/web/overlays/prod", Options{})
			if err != nil {
				t.Fatal(err)
			}
			if plain[0].GetLabels()["tier"] != "frontend" {
				t.Errorf("the base kustomization should label the controller: %v", plain[0].GetLabels())
			}
		})
	}
}

func TestScaffoldRefusesToOverwrite(t *testing.T) {
	fsys := filesys.MakeFsInMemory()
	cfg := scaffoldConfig()
	existing := "/work/apps/web/overlays/prod/kustomization.yaml"
	if err := fsys.WriteFile(existing, []byte("# mine\n")); err != nil {
		t.Fatal(err)
	}
	_, err := Scaffold(t.Context(), fsys, cfg, NewApp{Name: "web", Tier: "frontend", Role: "server", Image: "nginx", Kind: KindReplicationController, Environments: []string{"dev", "prod"}})
	if err == nil || !strings.Contains(err.Error(), existing+" already exists") {
		t.Fatalf("error = %v, want one naming %s", err, existing)
	}
	if fsys.Exists("/work/apps/web/base/kustomization.yaml") {
		t.Error("files were written although the scaffold was refused")
	}
	if b, _ := fsys.ReadFile(existing); string(b) != "# mine\n" {
		t.Errorf("existing file changed to %q", b)
	}
}

func TestScaffoldValidation(t *testing.T) {
	valid := NewApp{Name: "web", Tier: "frontend", Role: "server", Image: "nginx:1.27", Kind: KindReplicationController, Environments: []string{"dev", "prod"}}
	for _, tc := range []struct {
		name string
		edit func(*NewApp)
		want string
	}{
		{"app name must be a DNS label", func(a *NewApp) { a.Name = "Web_1" }, `invalid app name "Web_1"`},
		{"tier outside the allowed values", func(a *NewApp) { a.Tier = "middle" }, `--tier "middle" is not allowed by .envops.yaml: use one of frontend, backend`},
		{"role is required", func(a *NewApp) { a.Role = "" }, `--role is required`},
		{"language must be a label value", func(a *NewApp) { a.Language = "c++" }, `invalid --language "c++"`},
		{"invalid image", func(a *NewApp) { a.Image = "nginx:latest:x" }, `invalid image reference "nginx:latest:x"`},
		{"unsupported kind", func(a *NewApp) { a.Kind = "StatefulSet" }, `unsupported kind "StatefulSet"`},
		{"port out of range", func(a *NewApp) { a.Port = 70000 }, `invalid port 70000`},
		{"replicas for an unknown environment", func(a *NewApp) { a.Replicas = map[string]int32{"qa": 2} }, `replicas given for "qa"`},
		{"no environments", func(a *NewApp) { a.Environments = nil }, `no environments to scaffold overlays for`},
		{"app name must start with a letter", func(a *NewApp) { a.Name = "1abc2" }, `invalid app name "1abc2": use at most 63 lowercase letters, digits and '-', starting with a letter`},
		{"environment not in .envops.yaml", func(a *NewApp) { a.Environments = []string{"dev", "staging"} }, `unknown environment "staging"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := valid
			tc.edit(&app)
			fsys := filesys.MakeFsInMemory()
			_, err := Scaffold(t.Context(), fsys, scaffoldConfig(), app)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
			if fsys.Exists("/work/apps") {
				t.Error("files were written for an invalid app")
			}
		})
	}
}

// tree lists every file and directory under dir.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != dir {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestScaffoldOnAFullDiskLeavesNothing checks that a disk that fills up in
// the middle of the third file leaves no file or directory of the app, not
// even an empty one, so that the next scaffold of the same app works.
func TestScaffoldOnAFullDiskLeavesNothing(t *testing.T) {
	project := t.TempDir()
	cfg := scaffoldConfig()
	cfg.Apps = filepath.Join(project, "apps")
	app := NewApp{Name: "web", Tier: "frontend", Role: "server", Image: "nginx", Kind: KindReplicationController, Environments: []string{"dev", "prod"}}
	var files int
	full := &confinedFS{FileSystem: filesys.MakeFsOnDisk(), dir: cfg.Apps, through: func(name string, w io.Writer) io.Writer {
		if files++; files == 3 {
			return &failingWriter{w: w, n: 10}
		}
		return w
	}}
	_, err := Scaffold(t.Context(), full, cfg, app)
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), `app "web" was not created, and nothing is left of it`) {
		t.Fatalf("err = %v; want no space left, saying nothing is left", err)
	}
	if left := tree(t, project); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
	if _, err := Scaffold(t.Context(), ConfinedFS(cfg.Apps), cfg, app); err != nil {
		t.Errorf("the next scaffold, with room on the disk: %v", err)
	}
}

// TestScaffoldInterruptedLeavesNothing checks that an interrupt between two
// files takes back the files and directories written before it.
func TestScaffoldInterruptedLeavesNothing(t *testing.T) {
	project := t.TempDir()
	cfg := scaffoldConfig()
	cfg.Apps = filepath.Join(project, "apps")
	if err := os.MkdirAll(cfg.Apps, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	interrupt := errors.New("interrupted (SIGINT)")
	var files int
	fsys := &confinedFS{FileSystem: filesys.MakeFsOnDisk(), dir: cfg.Apps, through: func(name string, w io.Writer) io.Writer {
		if files++; files == 2 {
			cancel(interrupt)
		}
		return w
	}}
	_, err := Scaffold(ctx, fsys, cfg, NewApp{Name: "web", Tier: "frontend", Role: "server", Image: "nginx", Kind: KindReplicationController, Environments: []string{"dev", "prod"}})
	if !errors.Is(err, interrupt) {
		t.Fatalf("err = %v; want the interruption", err)
	}
	// The apps directory was there before, and stays.
	if left := tree(t, project); len(left) != 1 || left[0] != cfg.Apps {
		t.Errorf("left behind: %v", left)
	}
}
