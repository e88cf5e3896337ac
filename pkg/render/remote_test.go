package render

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envops/kubectl-envops/pkg/kube/kubetest"
)

// A remote resource of 1 GiB is refused after 16 MiB, as a file that
// large is, instead of filling the memory.
func TestARemoteResourceIsBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, kubetest.HugeJSON(1<<30))
	}))
	defer srv.Close()
	remote := srv.URL + "/huge.yaml"
	fsys, cfg := project(t)
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- replicationcontroller.yaml\n- " + remote + "\n"
	if err := fsys.WriteFile("/project/apps/web/base/kustomization.yaml", []byte(k)); err != nil {
		t.Fatal(err)
	}
	_, err := App(fsys, cfg, "web", "dev", Options{})
	want := "the remote resource " + remote + " is larger than 16 MiB"
	if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %v, want one line of ErrInput containing %q", err, want)
	}
}

// A FIFO named as a resource or a generator file is refused, naming it,
// where kustomize waited for a writer until the build timed out.
func TestAFIFOInAnAppIsNamed(t *testing.T) {
	for _, tc := range []struct{ name, kustomization string }{
		{"resource", "resources:\n- replicationcontroller.yaml\n- pipe.yaml\n"},
		{"generator file", "resources:\n- replicationcontroller.yaml\nconfigMapGenerator:\n- name: cfg\n  files:\n  - pipe.yaml\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The project on disk, where a FIFO can be.
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS("testdata/project")); err != nil {
				t.Fatal(err)
			}
			_, cfg := project(t)
			cfg.Apps = filepath.Join(dir, "apps")
			base := filepath.Join(dir, "apps/web/base")
			if err := os.WriteFile(filepath.Join(base, "kustomization.yaml"), []byte(tc.kustomization), 0o644); err != nil {
				t.Fatal(err)
			}
			fifo := filepath.Join(base, "pipe.yaml")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := App(filesys.MakeFsOnDisk(), cfg, "web", "dev", Options{Timeout: 20 * time.Second})
			want := fifo + " is a named pipe (FIFO), not a regular file"
			if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v, want ErrInput containing %q", err, want)
			}
		})
	}
}
