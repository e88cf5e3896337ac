package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/envops/kubectl-envops/pkg/kube/kubetest"
)

// runBounded runs a command line through Execute, failing the test if it
// is still running after a minute.
func runBounded(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	done := make(chan int, 1)
	go func() { done <- Execute(args, streams) }()
	select {
	case code = <-done:
	case <-time.After(time.Minute):
		t.Fatalf("%s still runs after a minute", strings.Join(args, " "))
	}
	return out.String(), errOut.String(), code
}

// Every command refuses a --request-timeout it cannot use, as a usage
// error, before it reads anything.
func TestRequestTimeoutIsCheckedByEveryCommand(t *testing.T) {
	project := silentProject(t)
	for _, args := range [][]string{
		{"version"},
		{"config", "view"},
		{"env"},
		{"env", "--all-contexts"},
		{"init-env", "dev"},
		{"new", "shop", "--tier", "frontend", "--role", "server", "--image", "shop:1"},
		{"generate", "web", "--env", "dev"},
		{"deploy", "web", "--env", "dev"},
		{"lint", "--live"},
		{"status", "web"},
		{"history", "web"},
		{"node-agent", "status", "agent"},
		{"rbac", "--for", "deploy"},
		{"promote", "web", "--image", "web:2"},
	} {
		for _, bad := range []string{"garbage", "-1s"} {
			t.Run(strings.Join(args, " ")+" "+bad, func(t *testing.T) {
				_, stderr, code := runBounded(t, append(args, "--request-timeout", bad, "--config", project, "--kubeconfig", filepath.Join(t.TempDir(), "none"))...)
				want := `invalid --request-timeout "` + bad + `"`
				if code != ExitUsage || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, want) {
					t.Errorf("exit %d, stderr %q; want exit 2 and one line saying %s", code, stderr, want)
				}
			})
		}
	}
}

// A kubeconfig that is a device or a FIFO is refused before it is read:
// /dev/zero would fill the memory, a FIFO would wait for a writer.
func TestAKubeconfigThatIsNoFileIsRefused(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "kubeconfig.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	project := silentProject(t)
	for _, path := range []string{"/dev/zero", fifo} {
		for _, args := range [][]string{
			{"env"},
			{"env", "--all-contexts"},
			{"status", "web"},
			{"init-env", "dev"},
			{"lint", "--live"},
			{"deploy", "web", "--env", "dev", "--dry-run"},
		} {
			t.Run(filepath.Base(path)+" "+strings.Join(args, " "), func(t *testing.T) {
				_, stderr, code := runBounded(t, append(args, "--kubeconfig", path, "--config", project)...)
				if code != ExitUsage || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "kubeconfig "+path+" is a ") {
					t.Errorf("exit %d, stderr %q; want exit 2 and one line naming %s", code, stderr, path)
				}
			})
		}
	}
	t.Run("a certificate authority that is a FIFO", func(t *testing.T) {
		kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
		writeFile(t, kubeconfig, "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\", certificate-authority: "+fifo+"}}]\n"+
			"users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n", 0o600)
		for _, args := range [][]string{{"env"}, {"env", "--all-contexts"}, {"lint", "--live", "--all-contexts"}} {
			_, stderr, code := runBounded(t, append(args, "--kubeconfig", kubeconfig, "--config", project)...)
			if code != ExitUsage || !strings.Contains(stderr, `the certificate-authority of cluster "c" `+fifo+" is a named pipe (FIFO)") {
				t.Errorf("%s: exit %d, stderr %q; want exit 2 naming the FIFO", strings.Join(args, " "), code, stderr)
			}
		}
	})
	t.Run("through KUBECONFIG", func(t *testing.T) {
		t.Setenv("KUBECONFIG", fifo)
		_, stderr, code := runBounded(t, "env", "--config", project)
		if code != ExitUsage || !strings.Contains(stderr, "kubeconfig "+fifo+" is a named pipe (FIFO), not a regular file") {
			t.Errorf("exit %d, stderr %q; want exit 2 naming the FIFO", code, stderr)
		}
	})
}

// An API server answering 1 GB is one error line, exit 1, and nothing of
// client-go's own logging reaches stderr unless -v asks.
func TestAHugeAnswerIsOneLineAndClientGoStaysQuiet(t *testing.T) {
	srv := kubetest.Huge(t, 1<<30, true)
	kubeconfig := kubetest.Kubeconfig(t, kubetest.Context{Name: "silent", Server: srv.URL, Namespace: "web"})
	project := silentProject(t)
	for _, args := range [][]string{
		{"env"},
		{"deploy", "web", "--env", "dev", "--dry-run"},
		{"init-env", "dev", "--dry-run"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, stderr, code := runBounded(t, append(args, "--kubeconfig", kubeconfig, "--config", project)...)
			if code != ExitError || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, " MiB, more than this tool reads in one answer") {
				t.Errorf("exit %d, stderr %q; want exit 1 and one line saying the answer is too large", code, stderr)
			}
		})
	}
	t.Run("-v 2 lets client-go speak", func(t *testing.T) {
		_, stderr, _ := runBounded(t, "env", "-v", "2", "--kubeconfig", kubeconfig, "--config", project)
		if !strings.Contains(stderr, "Unexpected error when reading response body") {
			t.Errorf("stderr %q, want client-go's own line with -v 2", stderr)
		}
		routeLogs(0, nil)
	})
}

// The hidden command runs a credential plugin as client-go would, and
// passes its credentials on.
func TestTheCredentialPluginCommandRunsThePlugin(t *testing.T) {
	plugin := kubetest.TokenPlugin(t, "t0ken")
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	streams.In, _ = os.Open(os.DevNull)
	if code := Execute([]string{"__credential-plugin", "--timeout=10s", "--", plugin.Path}, streams); code != 0 || !strings.Contains(out.String(), `"token":"t0ken"`) {
		t.Errorf("exit %d, stdout %q; want the plugin's ExecCredential", code, out)
	}
}

// A template file that is a device or a FIFO is refused before it is read.
func TestATemplateFileThatIsNoFileIsRefused(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "template.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"version", "-o", "go-template-file=/dev/zero"},
		{"version", "-o", "go-template-file=" + fifo},
		{"version", "-o", "jsonpath-file", "--template", fifo},
		{"config", "view", "-o", "go-template-file=" + fifo},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, stderr, code := runBounded(t, args...)
			if code != ExitUsage || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "template file ") || !strings.Contains(stderr, ", not a regular file") {
				t.Errorf("exit %d, stderr %q; want exit 2 and one line refusing the template file", code, stderr)
			}
		})
	}
}

// A project file that is a FIFO is refused, where opening it waited for a
// writer.
func TestAProjectFileThatIsAFIFOIsRefused(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "envops.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"config", "view"}, {"generate", "web", "--env", "dev"}, {"status", "web"}} {
		_, stderr, code := runBounded(t, append(args, "--config", fifo)...)
		if code != ExitUsage || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "project file "+fifo+" is a named pipe (FIFO)") {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 and one line refusing the FIFO", strings.Join(args, " "), code, stderr)
		}
	}
}

// endlessInput is standard input that never ends, as "yes x" gives.
type endlessInput struct{}

func (endlessInput) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = "x\n"[i%2]
	}
	return len(p) &^ 1, nil
}

// lint on an input without end stops after one document's bound, with
// one error line and exit 2.
func TestLintEndsOnAnEndlessInput(t *testing.T) {
	for name, args := range map[string][]string{"yes x | lint -": {"lint", "-"}, "lint /dev/zero": {"lint", "/dev/zero"}} {
		t.Run(name, func(t *testing.T) {
			streams, _, _, errOut := genericiooptions.NewTestIOStreams()
			streams.In = endlessInput{}
			done := make(chan int, 1)
			go func() { done <- Execute(append(args, "--config", silentProject(t)), streams) }()
			select {
			case code := <-done:
				if code != ExitUsage || strings.Count(errOut.String(), "\n") != 1 || !strings.Contains(errOut.String(), "document is larger than 32 MiB") {
					t.Errorf("exit %d, stderr %q; want exit 2 and one line", code, errOut)
				}
			case <-time.After(time.Minute):
				t.Fatal("lint still reads after a minute")
			}
		})
	}
}

// Bad input exits 2 in one line, and before anything is rendered or
// printed.
func TestHostileInputExitsTwo(t *testing.T) {
	cfgPath := writeGenerateProject(t)
	dir := filepath.Dir(cfgPath)
	file := filepath.Join(dir, "a-file")
	writeFile(t, file, "not a directory\n", 0o644)
	long := strings.Repeat("a", 60)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"new: a name label over 63 characters", []string{"new", long, "--tier", "frontend", "--role", "server", "--image", "nginx:1"}, `name label "` + long + `-server"`},
		{"generate: an image without an app before =", []string{"generate", "web", "--env", "dev", "--image", "=nginx:1"}, "--image =nginx:1: give an image"},
		{"generate: an app without an image after =", []string{"generate", "web", "--env", "dev", "--image", "web="}, "--image web=: give an image"},
		{"generate --all: an image without an app before =", []string{"generate", "--all", "--env", "dev", "--image", "=nginx:1"}, "--image =nginx:1: give an image"},
		{"generate: an --output-dir that is a file", []string{"generate", "--all", "--all-environments", "--output-dir", file}, "--output-dir " + file + " is a regular file, not a directory"},
		{"generate: a go-template naming a missing key", []string{"generate", "web", "--env", "dev", "-o", "go-template={{.x.y.z}}"}, `map has no entry for key "x"`},
		{"generate: --template naming a missing key", []string{"generate", "web", "--env", "dev", "--template", "{{.x}}"}, `map has no entry for key "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(dir)
			stdout, stderr, code := runBounded(t, append(tc.args, "--config", cfgPath)...)
			if code != ExitUsage || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) || stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2, nothing printed, and one line saying %q", code, stdout, stderr, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "apps", long)); err == nil {
				t.Error("new wrote the app it refused")
			}
		})
	}
	// kubectl's flag keeps its meaning: given, missing keys print as
	// kubectl prints them; jsonpath prints nothing for them, as kubectl's.
	for _, args := range [][]string{
		{"generate", "web", "--env", "dev", "-o", "go-template={{.x.y.z}}", "--allow-missing-template-keys"},
		{"generate", "web", "--env", "dev", "-o", "jsonpath={.x.y}"},
	} {
		if _, stderr, code := runBounded(t, append(args, "--config", cfgPath)...); code != ExitOK {
			t.Errorf("%s: exit %d, stderr %q; want 0", strings.Join(args, " "), code, stderr)
		}
	}
}

// deploy against an API server that refuses connections retries within
// --timeout, as the README promises: a server back in time is read, one
// that stays down is reported with how long it was tried.
func TestDeployRetriesRefusedConnectionsWithinTimeout(t *testing.T) {
	t.Setenv("KUBECACHEDIR", t.TempDir())
	project := silentProject(t)
	restarting := kubetest.Restarting(t, 2*time.Second)
	kubeconfig := kubetest.Kubeconfig(t, kubetest.Context{Name: "silent", Server: restarting.URL, Namespace: "web"})
	_, stderr, code := runBounded(t, "deploy", "web", "--env", "dev", "--yes", "--timeout", "20s", "--kubeconfig", kubeconfig, "--config", project)
	// The server, once back, knows neither the namespace nor its Secret.
	if code != ExitUsage || !strings.Contains(stderr, `namespace "web" not found`) {
		t.Errorf("against a server back after 2s: exit %d, stderr %q; want the guard's answer from the server", code, stderr)
	}
	down := kubetest.Kubeconfig(t, kubetest.Context{Name: "silent", Server: kubetest.Refusing(t).URL, Namespace: "web"})
	_, stderr, code = runBounded(t, "deploy", "web", "--env", "dev", "--yes", "--timeout", "2s", "--kubeconfig", down, "--config", project)
	if code != ExitError || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "connection refused (retried for 1.") {
		t.Errorf("against a server that stays down: exit %d, stderr %q; want one line saying it was retried", code, stderr)
	}
}
