package cmd

import (
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/envops/kubectl-envops/pkg/kube/kubetest"
)

// A kubeconfig's credential plugin that never answers, the everyday case
// of a login plugin waiting for an SSO prompt in CI, holds no command past
// its bound, and none leaves it running.
func TestACredentialPluginThatNeverAnswers(t *testing.T) {
	t.Setenv("KUBECACHEDIR", t.TempDir())
	for _, tc := range []struct {
		name string
		args []string
		code int
		// want is in the one error line, or in the row for the fan-outs.
		want string
	}{
		{"env", []string{"env", "--timeout", "2s"}, ExitError, "gave no credentials within 2s and was stopped"},
		{"env --all-contexts", []string{"env", "--all-contexts", "--timeout", "2s"}, ExitOK, "gave no credentials within 2s and was stopped"},
		{"status", []string{"status", "web", "--timeout", "2s"}, ExitError, "gave no credentials within 2s and was stopped"},
		{"lint --live", []string{"lint", "--live", "--timeout", "2s"}, ExitUsage, "gave no credentials within 2s and was stopped"},
		{"deploy --dry-run", []string{"deploy", "web", "--env", "dev", "--dry-run", "--timeout", "2s"}, ExitError, "gave no credentials within 2s and was stopped"},
		{"init-env", []string{"init-env", "dev", "--request-timeout", "2s"}, ExitError, "gave no credentials within 2s and was stopped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plugin := kubetest.HangingPlugin(t)
			srv := kubetest.NotFound(t)
			kubeconfig := kubetest.Kubeconfig(t, kubetest.Context{Name: "silent", Server: srv.URL, Namespace: "web", Plugin: plugin})
			streams, _, out, errOut := genericiooptions.NewTestIOStreams()
			done := make(chan int, 1)
			go func() {
				done <- Execute(append(tc.args, "--kubeconfig", kubeconfig, "--config", silentProject(t)), streams)
			}()
			var code int
			select {
			case code = <-done:
			case <-time.After(time.Minute):
				t.Fatalf("%s still runs after a minute", strings.Join(tc.args, " "))
			}
			if code != tc.code || !strings.Contains(out.String()+errOut.String(), tc.want) {
				t.Errorf("exit code %d, stdout %q, stderr %q; want exit %d and output saying %q", code, out, errOut, tc.code, tc.want)
			}
			if strings.Count(errOut.String(), "\n") > 1 {
				t.Errorf("stderr holds more than one line: %q", errOut)
			}
			if alive := plugin.Running(t, 3*time.Second); len(alive) > 0 {
				t.Errorf("the plugin's processes %v still run after the command returned", alive)
			}
		})
	}
}
