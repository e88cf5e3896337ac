package cmd

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/envops/kubectl-envops/pkg/kube"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// silentServer is an API server that completes TLS, reads each request and
// never answers. It returns a kubeconfig whose current context "silent"
// (namespace web) points at it, and the server's address.
func silentServer(t *testing.T) (kubeconfig, addr string) {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	srv.StartTLS()
	t.Cleanup(func() {
		close(release)
		srv.Close()
	})
	kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	writeFile(t, kubeconfig, `apiVersion: v1
kind: Config
clusters: [{name: silent, cluster: {server: "`+srv.URL+`", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: silent, context: {cluster: silent, user: u, namespace: web}}]
current-context: silent
`, 0o600)
	return kubeconfig, srv.Listener.Addr().String()
}

// silentProject is a project whose environment dev is the silent server,
// with an app web; it returns the project file.
func silentProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range map[string]string{
		".envops.yaml":                     "environments:\n  dev: {context: silent}\n",
		"apps/web/base/kustomization.yaml": "resources:\n- rc.yaml\nlabels:\n- pairs: {app: web, tier: frontend, role: server}\n  includeTemplates: true\n",
		"apps/web/base/rc.yaml": "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: web\nspec:\n  replicas: 1\n" +
			"  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n",
		"apps/web/overlays/dev/kustomization.yaml": "resources:\n- ../../base\n",
	} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, p), c, 0o644)
	}
	return filepath.Join(dir, ".envops.yaml")
}

func TestRequestTimeoutHasABoundedDefault(t *testing.T) {
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	f := NewRootCmd(streams).PersistentFlags().Lookup("request-timeout")
	if f == nil || f.DefValue != kube.DefaultRequestTimeout.String() {
		t.Fatalf("--request-timeout defaults to %v, want %s: a server that never answers would hold every command", f, kube.DefaultRequestTimeout)
	}
}

// Against a server that never answers, every command that talks to a
// cluster gives up within its bound, in one line that names the server and
// the flag that sets the bound.
func TestCommandsGiveUpOnASilentServer(t *testing.T) {
	kubeconfig, addr := silentServer(t)
	project := silentProject(t)
	// The discovery cache stays out of the user's home.
	t.Setenv("KUBECACHEDIR", t.TempDir())
	for _, tc := range []struct {
		name string
		args []string
		flag string
		code int
	}{
		{"deploy: the environment check is bounded by --timeout", []string{"deploy", "web", "--env", "dev", "--yes", "--timeout", "1s"}, "--timeout", ExitError},
		{"deploy", []string{"deploy", "web", "--env", "dev", "--yes", "--request-timeout", "1s"}, "--request-timeout", ExitError},
		{"lint --live", []string{"lint", "--live", "--request-timeout", "1s"}, "--request-timeout", ExitUsage},
		{"lint --live --all-contexts", []string{"lint", "--live", "--all-contexts", "--request-timeout", "1s"}, "--request-timeout", ExitUsage},
		{"init-env", []string{"init-env", "dev", "-n", "web", "--request-timeout", "1s"}, "--request-timeout", ExitError},
		{"history", []string{"history", "web", "--request-timeout", "1s"}, "--request-timeout", ExitError},
		{"node-agent status", []string{"node-agent", "status", "agent", "--request-timeout", "1s"}, "--request-timeout", ExitError},
		{"node-agent", []string{"node-agent", "agent", "--image", "agent:1", "--host-port", "8125", "--request-timeout", "1s"}, "--request-timeout", ExitError},
		{"rbac --apply", []string{"rbac", "--for", "deploy", "-n", "web", "--apply", "--request-timeout", "1s"}, "--request-timeout", ExitError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			streams, _, _, errOut := genericiooptions.NewTestIOStreams()
			done := make(chan int, 1)
			go func() {
				done <- Execute(append(tc.args, "--kubeconfig", kubeconfig, "--config", project), streams)
			}()
			var code int
			select {
			case code = <-done:
			case <-time.After(2 * time.Minute):
				t.Fatalf("%s still runs after 2m against a server that never answers", strings.Join(tc.args, " "))
			}
			stderr := errOut.String()
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stderr: %s", code, tc.code, stderr)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "error: ") || !strings.Contains(stderr, addr) || !strings.Contains(stderr, "raise "+tc.flag) {
				t.Errorf("stderr = %q, want one error line naming the server %s and saying to raise %s", stderr, addr, tc.flag)
			}
		})
	}
}
