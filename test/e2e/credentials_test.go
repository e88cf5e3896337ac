package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/envops/kubectl-envops/pkg/kube/kubetest"
)

// pluginKubeconfig is the shared kubeconfig with one more context per
// plugin, on the dev cluster, whose user's credentials come from that
// plugin (user.exec); contexts are in namespace ns.
func pluginKubeconfig(t *testing.T, ns string, plugins map[string]*kubetest.Plugin) string {
	t.Helper()
	raw, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	raw.Contexts[devContext].Namespace = ns
	for name, p := range plugins {
		raw.AuthInfos[name] = &clientcmdapi.AuthInfo{Exec: &clientcmdapi.ExecConfig{
			APIVersion: "client.authentication.k8s.io/v1", Command: p.Path, InteractiveMode: clientcmdapi.NeverExecInteractiveMode}}
		raw.Contexts[name] = &clientcmdapi.Context{Cluster: raw.Contexts[devContext].Cluster, AuthInfo: name, Namespace: ns}
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*raw, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// viewerToken is a token of a ServiceAccount allowed to read Secrets and
// namespaces on the dev cluster, as a login plugin would hand out.
func viewerToken(t *testing.T, ns string) string {
	t.Helper()
	cs := clientset(t, devContext)
	ctx := t.Context()
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "viewer"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	role, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-viewer-"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets", "namespaces"}, Verbs: []string{"get", "list"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	binding, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-viewer-"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "viewer", Namespace: ns}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.RbacV1().ClusterRoleBindings().Delete(context.Background(), binding.Name, metav1.DeleteOptions{})
		_ = cs.RbacV1().ClusterRoles().Delete(context.Background(), role.Name, metav1.DeleteOptions{})
	})
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "viewer", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	return tr.Status.Token
}

// A kubeconfig user whose credentials come from a plugin works through the
// plugin's runner; a plugin that never answers (a login waiting for an SSO
// prompt in CI) holds no command past its bound, and none leaves it, or
// what it started, running.
func TestCredentialPlugins(t *testing.T) {
	ns := newNamespace(t, devContext)
	if r := runKubectl(t, "", "", "envops", "init-env", "dev", "--context", devContext, "-n", ns); r.ExitCode != 0 {
		t.Fatalf("init-env:\n%s", r)
	}
	answering := kubetest.TokenPlugin(t, viewerToken(t, ns))
	hangs := map[string]*kubetest.Plugin{}
	for _, name := range []string{"env", "all-contexts", "init-env", "killed"} {
		hangs[name] = kubetest.HangingPlugin(t)
	}
	plugins := map[string]*kubetest.Plugin{"sso-ok": answering}
	for name, p := range hangs {
		plugins["sso-"+name] = p
	}
	path := pluginKubeconfig(t, ns, plugins)

	waitFor(t, 30*time.Second, "the viewer's binding to take effect", func() bool {
		return runKubectl(t, "", "", "envops", "env", "--context", "sso-ok", "--kubeconfig", path).ExitCode == 0
	})
	r := runKubectl(t, "", "", "envops", "env", "--context", "sso-ok", "--kubeconfig", path)
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "environment:   dev\n") {
		t.Errorf("env through the answering plugin:\n%s", r)
	}

	start := time.Now()
	r = runKubectl(t, "", "", "envops", "env", "--context", "sso-env", "--timeout", "3s", "--kubeconfig", path)
	took := time.Since(start)
	oneErrorLine(t, r, 1, `the credential plugin`, "gave no credentials within 3s and was stopped")
	if took > time.Minute {
		t.Errorf("env took %s with --timeout 3s", took)
	}
	t.Logf("env --timeout 3s with a plugin that never answers: %s", took.Round(10*time.Millisecond))

	r = runKubectl(t, "", "", "envops", "init-env", "dev", "--context", "sso-init-env", "--request-timeout", "3s", "--force", "--kubeconfig", path)
	oneErrorLine(t, r, 1, "gave no credentials within 3s and was stopped", "raise --request-timeout")

	r = runKubectl(t, "", "", "envops", "env", "--all-contexts", "--timeout", "3s", "--kubeconfig", path, "-o", "json")
	if r.ExitCode != 0 {
		t.Fatalf("env --all-contexts:\n%s", r)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`"context": "envops-dev",\s+"cluster": "envops-dev",\s+"environment": "dev",\s+"namespace": "` + ns + `",\s+"status": "ok"`),
		regexp.MustCompile(`"context": "sso-ok",\s+"cluster": "envops-dev",\s+"environment": "dev",\s+"namespace": "` + ns + `",\s+"status": "ok"`),
		regexp.MustCompile(`"context": "sso-all-contexts",[^}]*"status": "the credential plugin [^"]*gave no credentials within 3s`),
	} {
		if !want.MatchString(r.Stdout) {
			t.Errorf("env --all-contexts lacks %s:\n%s", want, r)
		}
	}

	for name, p := range hangs {
		if name == "killed" {
			continue
		}
		if alive := p.Running(t, 5*time.Second); len(alive) > 0 {
			t.Errorf("plugin of context sso-%s: processes %v still run after the command ended", name, alive)
		}
	}

	// A command killed outright takes its plugin along.
	cmd := exec.Command(filepath.Join(pathDir, "kubectl"), "envops", "env", "--context", "sso-killed", "--timeout", "5m", "--request-timeout", "5m", "--kubeconfig", path)
	cmd.Env = commandEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	hangs["killed"].WaitStarted(t, 2, time.Minute)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if alive := hangs["killed"].Running(t, 5*time.Second); len(alive) > 0 {
		t.Errorf("the plugin's processes %v still run after kubectl envops was killed (stderr %q)", alive, stderr.String())
	}
}
