package cmd

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// hostileMessage is what a hostile API server says in every refusal: a
// forged CI command on a line of its own, a terminal title (OSC ... BEL),
// a carriage return and a right-to-left override.
const hostileMessage = "denied\n::error::forged\x1b]0;pwned\x07\rok\u202e"

// hostileServer is an API server that answers every request with a 403
// whose message is hostileMessage, except, when value is set, the
// environment Secret and the lists of Secrets and namespaces, which hold
// value, and the app's controllers, of which there are none. It returns a
// kubeconfig whose current context "hostile" (namespace web) points at it.
func hostileServer(t *testing.T, value string) string {
	t.Helper()
	secret := corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "environment", Namespace: "web"},
		Data:       map[string][]byte{"environment": []byte(value)},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		var body any
		switch {
		case value != "" && r.Method == http.MethodGet && r.URL.Path == "/api/v1/namespaces/web/secrets/environment":
			body = secret
		case value != "" && r.Method == http.MethodGet && r.URL.Path == "/api/v1/secrets":
			body = corev1.SecretList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "SecretList"}, Items: []corev1.Secret{secret}}
		case value != "" && r.Method == http.MethodGet && r.URL.Path == "/api/v1/namespaces":
			body = corev1.NamespaceList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "NamespaceList"},
				Items: []corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "web"}}}}
		case value != "" && r.Method == http.MethodGet && r.URL.Path == "/api/v1/namespaces/web/replicationcontrollers":
			body = corev1.ReplicationControllerList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ReplicationControllerList"}}
		case value != "" && r.Method == http.MethodGet && r.URL.Path == "/apis/apps/v1/namespaces/web/deployments":
			body = appsv1.DeploymentList{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DeploymentList"}}
		default:
			w.WriteHeader(http.StatusForbidden)
			body = metav1.Status{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"}, Status: metav1.StatusFailure,
				Reason: metav1.StatusReasonForbidden, Code: http.StatusForbidden, Message: hostileMessage}
		}
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	writeFile(t, kubeconfig, `apiVersion: v1
kind: Config
clusters: [{name: hostile, cluster: {server: "`+srv.URL+`"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: hostile, context: {cluster: hostile, user: u, namespace: web}}]
current-context: hostile
`, 0o600)
	return kubeconfig
}

// hostileProject is a project whose environment dev is context hostile,
// with an app web; it returns the project file.
func hostileProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range map[string]string{
		".envops.yaml":                     "environments:\n  dev: {context: hostile}\n",
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

// rawControl returns the first control character, or rune that moves or
// reorders text, in s other than the newline that ends each line; "" when
// there is none.
func rawControl(s string) string {
	for _, r := range s {
		if r != '\n' && (r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == 0x202e) {
			return string(r)
		}
	}
	return ""
}

// TestServerTextIsEscapedInEveryCommand runs each command that talks to a
// cluster against a server whose refusals carry control characters and a
// forged CI command, and checks that what it prints holds no raw control
// character and no line that a CI runner would obey, while still showing
// the server's message, escaped.
func TestServerTextIsEscapedInEveryCommand(t *testing.T) {
	kubeconfig := hostileServer(t, "")
	project := hostileProject(t)
	t.Setenv("KUBECACHEDIR", t.TempDir())
	// The exit codes of these failures are checked elsewhere; here, what
	// they print.
	for _, args := range [][]string{
		{"env"},
		{"env", "--all-contexts"},
		{"status", "web"},
		{"lint", "--live"},
		{"init-env", "dev"},
		{"history", "web"},
		{"node-agent", "status", "agent"},
		{"node-agent", "agent", "--image", "agent:1", "--host-port", "8125"},
		{"deploy", "web", "--env", "dev", "--dry-run"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			stdout, stderr, _ := run(t, append(args, "--kubeconfig", kubeconfig, "--config", project)...)
			all := stdout + stderr
			if c := rawControl(all); c != "" {
				t.Errorf("printed the raw character %q:\nstdout %q\nstderr %q", c, stdout, stderr)
			}
			for _, line := range strings.Split(all, "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "::") {
					t.Errorf("printed a line a CI runner obeys: %q", line)
				}
			}
			// Some lines fold the message's line breaks into spaces.
			if !strings.Contains(all, `::error::forged\x1b]0;pwned\x07`) || !strings.Contains(all, `ok\u202e`) {
				t.Errorf("the server's message is not shown, escaped:\nstdout %q\nstderr %q", stdout, stderr)
			}
		})
	}
}

// TestSecretValuesAreBoundedAndEscaped reads an environment Secret of a
// megabyte, and one holding ESC and NUL, through each command that shows
// it: the value is cut with a note of its size, and escaped.
func TestSecretValuesAreBoundedAndEscaped(t *testing.T) {
	project := hostileProject(t)
	t.Setenv("KUBECACHEDIR", t.TempDir())
	for _, tc := range []struct {
		name, value, want string
	}{
		{"a megabyte", strings.Repeat("p", 1<<20), strings.Repeat("p", 100) + "...(1048576 bytes in all)"},
		{"ESC and NUL", "dev\x1b[2J\x00", `dev\x1b[2J\x00`},
	} {
		kubeconfig := hostileServer(t, tc.value)
		for _, args := range [][]string{
			{"env"},
			{"env", "--all-contexts"},
			{"status", "web"},
			{"deploy", "web", "--env", "dev", "--dry-run"},
		} {
			t.Run(tc.name+"/"+strings.Join(args, " "), func(t *testing.T) {
				stdout, stderr, _ := run(t, append(args, "--kubeconfig", kubeconfig, "--config", project)...)
				all := stdout + stderr
				if len(all) > 8<<10 {
					t.Errorf("printed %d bytes", len(all))
				}
				if c := rawControl(all); c != "" {
					t.Errorf("printed the raw character %q: %q", c, all)
				}
				if tc.name == "ESC and NUL" && args[0] == "deploy" {
					// The guard quotes the value with %q, its own escape.
					return
				}
				if !strings.Contains(all, tc.want) {
					t.Errorf("want the value shown as %q:\nstdout %.300q\nstderr %.300q", tc.want, stdout, stderr)
				}
			})
		}
	}
}
