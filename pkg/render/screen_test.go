package render

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/envops/kubectl-envops/pkg/yamlsize"
)

func TestHostileInputIsRefusedBeforeKustomize(t *testing.T) {
	bomb, err := os.ReadFile("testdata/hostile/billion-laughs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const base = "/project/apps/web/base/"
	const kust = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
	for _, tc := range []struct {
		name string
		edit map[string]string
		want string
	}{
		{
			name: "alias bomb as a resource of the base",
			edit: map[string]string{
				base + "kustomization.yaml": kust + "resources:\n- replicationcontroller.yaml\n- lol.yaml\n",
				base + "lol.yaml":           string(bomb),
			},
			want: base + "lol.yaml: document 1 at line 1: too large: its aliases expand it by",
		},
		{
			name: "alias bomb as a patch",
			edit: map[string]string{
				base + "kustomization.yaml": kust + "resources:\n- replicationcontroller.yaml\npatches:\n- path: lol.yaml\n",
				base + "lol.yaml":           string(bomb),
			},
			want: base + "lol.yaml: document 1 at line 1: too large",
		},
		{
			name: "alias bomb in a component",
			edit: map[string]string{
				base + "kustomization.yaml":                 kust + "resources:\n- replicationcontroller.yaml\ncomponents:\n- ../comp\n",
				"/project/apps/web/comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n- lol.yaml\n",
				"/project/apps/web/comp/lol.yaml":           string(bomb),
			},
			want: "/project/apps/web/comp/lol.yaml: document 1 at line 1: too large",
		},
		{
			name: "a resource file larger than kustomize is given",
			edit: map[string]string{
				base + "kustomization.yaml": kust + "resources:\n- replicationcontroller.yaml\n- big.yaml\n",
				base + "big.yaml":           "kind: ConfigMap\ndata: {a: " + strings.Repeat("x", yamlsize.MaxFileBytes) + "}\n",
			},
			want: base + "big.yaml is too large: more than 16 MiB: split it into smaller files",
		},
		{
			name: "alias bomb in the kustomization file itself",
			edit: map[string]string{
				base + "kustomization.yaml": kust + "resources:\n- replicationcontroller.yaml\n" + strings.SplitN(string(bomb), "data:\n", 2)[0] + "commonAnnotations:\n" + strings.SplitN(string(bomb), "data:\n", 2)[1],
			},
			want: base + "kustomization.yaml: document 1 at line 1: too large",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys, cfg := project(t)
			for p, c := range tc.edit {
				if err := fsys.WriteFile(p, []byte(c)); err != nil {
					t.Fatal(err)
				}
			}
			_, err := App(fsys, cfg, "web", "dev", Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInput) {
				t.Fatalf("App error = %v, want ErrInput containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
			_, err = Kustomization(fsys, "/project/apps/web/overlays/dev", Options{})
			if !errors.Is(err, ErrInput) {
				t.Fatalf("Kustomization error = %v, want ErrInput", err)
			}
		})
	}
}

func TestRemoteResources(t *testing.T) {
	// A server that accepts the request and never answers.
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(stop)
	remote := srv.URL + "/rc.yaml"

	fsys, cfg := project(t)
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- replicationcontroller.yaml\n- " + remote + "\n"
	if err := fsys.WriteFile("/project/apps/web/base/kustomization.yaml", []byte(k)); err != nil {
		t.Fatal(err)
	}

	_, err := App(fsys, cfg, "web", "dev", Options{NoRemote: true})
	want := `/project/apps/web/base/kustomization.yaml refers to the remote resource "` + remote + `", and remote resources are turned off`
	if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), want) {
		t.Errorf("with remote resources off: %v, want ErrInput containing %q", err, want)
	}

	_, err = App(fsys, cfg, "web", "dev", Options{Timeout: 300 * time.Millisecond})
	want = `timed out after 300ms while loading remote resources (first: "` + remote + `")`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("with a server that never answers: %v, want an error containing %q", err, want)
	}
}

func TestIsRemote(t *testing.T) {
	for entry, want := range map[string]bool{
		"https://example.com/a.yaml":           true,
		"HTTP://example.com/a.yaml":            true,
		"github.com/org/repo//deploy?ref=v1":   true,
		"git::https://example.com/org/repo":    true,
		"git@gitlab.example.com:org/repo.git":  true,
		"ssh://git@example.com/org/repo":       true,
		"file:///srv/repo":                     true,
		"config=https://example.com/c.yaml":    true,
		"../../base":                           false,
		"deployment.yaml":                      false,
		"app.properties=config/app.properties": false,
		"github.com.yaml":                      false,
		"/abs/path/kustomization":              false,
	} {
		if got := IsRemote(entry); got != want {
			t.Errorf("IsRemote(%q) = %v, want %v", entry, got, want)
		}
	}
}

// TestScreeningSeesEscapedRemoteReferences checks that a remote reference
// spelled with YAML escapes, so that its text holds no "://" or "@", is
// still refused when remote resources are off.
func TestScreeningSeesEscapedRemoteReferences(t *testing.T) {
	for _, entry := range []string{
		`"https\x3a//example.com/rc.yaml"`,
		`"https:\u002F/example.com/rc.yaml"`,
		`"git\x40example.com:org/repo"`,
		`"GitHub.com/org/repo"`,
	} {
		t.Run(entry, func(t *testing.T) {
			fsys, cfg := project(t)
			k := "resources:\n- replicationcontroller.yaml\n- " + entry + "\n"
			if err := fsys.WriteFile("/project/apps/web/base/kustomization.yaml", []byte(k)); err != nil {
				t.Fatal(err)
			}
			_, err := App(fsys, cfg, "web", "dev", Options{NoRemote: true})
			if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "remote resources are turned off") {
				t.Errorf("%v, want the remote resource refused", err)
			}
		})
	}
}

func TestMayNeedScreening(t *testing.T) {
	for data, want := range map[string]bool{
		"resources:\n- ../../base\nreplicas:\n- {name: web, count: 3}\n": false,
		"resources:\n- https://example.com/x.yaml\n":                     true,
		"resources:\n- github.com/org/repo//dir\n":                       true,
		"resources:\n- git@example.com:org/repo\n":                       true,
		"openapi:\n  path: schema.json\n":                                true,
		"OpenAPI: x\n":                                                   true,
		`resources: ["a\x2fb"]` + "\n":                                   true,
	} {
		if got := mayNeedScreening([]byte(data)); got != want {
			t.Errorf("mayNeedScreening(%q) = %v, want %v", data, got, want)
		}
	}
}
