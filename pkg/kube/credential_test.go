package kube_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/envops/kubectl-envops/pkg/kube"
	"github.com/envops/kubectl-envops/pkg/kube/kubetest"
)

// clientEnv names the kubeconfig a re-run of the test binary reads a
// Secret through, as a command of this module does, and never returns.
const clientEnv = "ENVOPS_KUBE_TEST_CLIENT"

func TestMain(m *testing.M) {
	// The client runs its plugin through this binary, which inherits the
	// variable: the plugin's turn comes first.
	if path := os.Getenv(clientEnv); path != "" && (len(os.Args) < 2 || os.Args[1] != kube.CredentialPluginCommand) {
		client, err := clientFor(path, time.Hour)
		if err == nil {
			_, err = client.CoreV1().Secrets("default").Get(context.Background(), "environment", metav1.GetOptions{})
		}
		fmt.Fprintln(os.Stderr, "client ended:", err)
		os.Exit(3)
	}
	kubetest.Main(m)
}

// clientFor is a client of the kubeconfig's current context, built as the
// commands build theirs, each request bounded by timeout.
func clientFor(kubeconfig string, timeout time.Duration) (kubernetes.Interface, error) {
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, err
	}
	rc.Timeout = timeout
	return kubernetes.NewForConfig(kube.WithTransientRetries(rc))
}

// getSecret reads a Secret through client, failing the test should it
// take more than a minute.
func getSecret(t *testing.T, client kubernetes.Interface) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := client.CoreV1().Secrets("default").Get(context.Background(), "environment", metav1.GetOptions{})
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Fatal("the request still waits after a minute")
		return nil
	}
}

func TestAPluginThatNeverAnswersIsStoppedAtTheBound(t *testing.T) {
	plugin := kubetest.HangingPlugin(t)
	srv := kubetest.NotFound(t)
	client, err := clientFor(kubetest.Kubeconfig(t, kubetest.Context{Name: "ci", Server: srv.URL, Plugin: plugin}), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	err = getSecret(t, client)
	pe, ok := kube.AsCredentialPluginError(err)
	if !ok || pe.Code != 124 {
		t.Fatalf("error %v, want the plugin stopped at its bound", err)
	}
	if alive := plugin.Running(t, 2*time.Second); len(alive) > 0 {
		t.Errorf("the plugin's processes %v still run after it was stopped: its whole process group must end", alive)
	}
	if srv.Requests() != 0 {
		t.Errorf("the server got %d requests without credentials", srv.Requests())
	}
}

func TestAPluginThatPrintsWithoutEndIsStopped(t *testing.T) {
	plugin := kubetest.FloodingPlugin(t)
	srv := kubetest.NotFound(t)
	client, err := clientFor(kubetest.Kubeconfig(t, kubetest.Context{Name: "ci", Server: srv.URL, Plugin: plugin}), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	err = getSecret(t, client)
	pe, ok := kube.AsCredentialPluginError(err)
	if !ok || pe.Code != 125 {
		t.Fatalf("error %v, want the plugin stopped for printing too much", err)
	}
	if alive := plugin.Running(t, 2*time.Second); len(alive) > 0 {
		t.Errorf("the plugin's processes %v still run", alive)
	}
}

func TestAPluginThatAnswersGivesItsCredentials(t *testing.T) {
	plugin := kubetest.TokenPlugin(t, "s3cret")
	srv := kubetest.NotFound(t)
	client, err := clientFor(kubetest.Kubeconfig(t, kubetest.Context{Name: "ci", Server: srv.URL, Plugin: plugin}), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := getSecret(t, client); !apierrors.IsNotFound(err) {
		t.Fatalf("error %v, want the server's answer (not found)", err)
	}
	if got := srv.Authorization(); got != "Bearer s3cret" {
		t.Errorf("the server saw Authorization %q, want the plugin's token", got)
	}
}

// A plugin never outlives the command that ran it, even one killed
// outright, which runs no code of its own at its end.
func TestAPluginDiesWithTheCommand(t *testing.T) {
	plugin := kubetest.HangingPlugin(t)
	srv := kubetest.NotFound(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), clientEnv+"="+kubetest.Kubeconfig(t, kubetest.Context{Name: "ci", Server: srv.URL, Plugin: plugin}))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// The plugin and the child it started.
	plugin.WaitStarted(t, 2, 30*time.Second)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if alive := plugin.Running(t, 5*time.Second); len(alive) > 0 {
		t.Errorf("the plugin's processes %v still run after the command was killed", alive)
	}
}

func TestBoundCredentialPlugin(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	original := &clientcmdapi.ExecConfig{Command: "login", Args: []string{"--sso"}, APIVersion: "client.authentication.k8s.io/v1"}
	c := kube.BoundCredentialPlugin(&rest.Config{ExecProvider: original}, 30*time.Second)
	c = kube.BoundCredentialPlugin(c, 5*time.Second)
	c = kube.BoundCredentialPlugin(c, time.Minute)
	want := []string{kube.CredentialPluginCommand, "--timeout=5s", fmt.Sprintf("--parent=%d", os.Getpid()), "--", "login", "--sso"}
	if c.ExecProvider.Command != self || !slices.Equal(c.ExecProvider.Args, want) {
		t.Errorf("plugin runs %s %q, want %s %q: the smallest bound, the plugin's own command line", c.ExecProvider.Command, c.ExecProvider.Args, self, want)
	}
	if original.Command != "login" || len(original.Args) != 1 {
		t.Errorf("the kubeconfig's own plugin config was changed to %s %q", original.Command, original.Args)
	}

	deny := &clientcmdapi.ExecConfig{Command: "login", PluginPolicy: clientcmdapi.PluginPolicy{PolicyType: clientcmdapi.PluginPolicyDenyAll}}
	if c := kube.BoundCredentialPlugin(&rest.Config{ExecProvider: deny}, time.Second); c.ExecProvider.Command != "login" {
		t.Errorf("a plugin the policy denies is run through %s: client-go must refuse it itself", c.ExecProvider.Command)
	}
	allowOther := &clientcmdapi.ExecConfig{Command: "/opt/login", PluginPolicy: clientcmdapi.PluginPolicy{PolicyType: clientcmdapi.PluginPolicyAllowlist,
		Allowlist: []clientcmdapi.AllowlistEntry{{Command: "/opt/other"}}}}
	if c := kube.BoundCredentialPlugin(&rest.Config{ExecProvider: allowOther}, time.Second); c.ExecProvider.Command != "/opt/login" {
		t.Errorf("a plugin the allowlist leaves out is run through %s: client-go must refuse it itself", c.ExecProvider.Command)
	}
	allowed := &clientcmdapi.ExecConfig{Command: "/opt/login", PluginPolicy: clientcmdapi.PluginPolicy{PolicyType: clientcmdapi.PluginPolicyAllowlist,
		Allowlist: []clientcmdapi.AllowlistEntry{{Command: "/opt/login"}}}}
	c = kube.BoundCredentialPlugin(&rest.Config{ExecProvider: allowed}, time.Second)
	if c.ExecProvider.Command != self || len(c.ExecProvider.PluginPolicy.Allowlist) != 1 || c.ExecProvider.PluginPolicy.Allowlist[0].Command != self {
		t.Errorf("an allowed plugin runs as %s with allowlist %v, want the runner, allowed", c.ExecProvider.Command, c.ExecProvider.PluginPolicy.Allowlist)
	}
}

func TestCredentialPluginErrorSaysWhatToDo(t *testing.T) {
	err := &kube.CredentialPluginError{Plugin: "sso-login", User: "ci", Code: 124, Bound: 3 * time.Second, Flag: "--request-timeout"}
	want := `the credential plugin "sso-login" of user "ci" (user.exec in your kubeconfig) gave no credentials within 3s and was stopped: run it by hand to see what it waits for (a login?), or raise --request-timeout`
	if err.Error() != want {
		t.Errorf("message:\n%s\nwant\n%s", err, want)
	}
	if _, ok := kube.AsCredentialPluginError(errors.New("getting credentials: exec: executable /usr/bin/aws failed with exit code 1")); ok {
		t.Error("another plugin's failure is taken for the runner's")
	}
}
