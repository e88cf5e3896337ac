package cmd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/kube"
	"github.com/envops/kubectl-envops/pkg/rbac"
	"github.com/envops/kubectl-envops/pkg/rollout"
)

// exitCodeProject writes a project with environment dev (context envops-dev
// of envTestKubeconfig, whose server refuses connections), an app web, an
// app broken whose overlay names a missing file, and a manifest that
// breaks the label convention. It returns the project's directory.
func exitCodeProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range map[string]string{
		".envops.yaml":                     "environments:\n  dev: {context: envops-dev}\n",
		"apps/web/base/kustomization.yaml": "resources:\n- rc.yaml\nlabels:\n- pairs: {app: web, tier: frontend, role: server}\n  includeTemplates: true\n",
		"apps/web/base/rc.yaml": "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: web\nspec:\n  replicas: 1\n" +
			"  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n",
		"apps/web/overlays/dev/kustomization.yaml":    "resources:\n- ../../base\n",
		"apps/broken/overlays/dev/kustomization.yaml": "resources:\n- missing.yaml\n",
		"unlabelled.yaml": "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: frontend\nspec:\n  selector: {name: frontend}\n" +
			"  template:\n    metadata:\n      labels: {name: frontend}\n    spec:\n      containers:\n      - name: php\n        image: guestbook:v3\n",
		"broken/.envops.yaml": "environments:\n  dev: {context: envops-dev, confrim: true}\n",
	} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, p), c, 0o644)
	}
	return dir
}

// Every command's representative errors, run as the plugin runs, exit with
// the code the README documents: 2 for a bad command line or input, 1 for
// a failure, 3 for a deploy left in place for a resume.
func TestExitCodes(t *testing.T) {
	dir := exitCodeProject(t)
	kubeconfig := envTestKubeconfig(t)
	project := filepath.Join(dir, ".envops.yaml")
	broken := filepath.Join(dir, "broken", ".envops.yaml")
	t.Setenv("KUBECACHEDIR", t.TempDir())
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"unknown command", []string{"frobnicate"}, ExitUsage},
		{"misspelt command", []string{"lnit"}, ExitUsage},
		{"unknown flag", []string{"version", "--frobnicate"}, ExitUsage},
		{"version: argument it does not take", []string{"version", "extra"}, ExitUsage},
		{"version: unknown output format", []string{"version", "-o", "toml"}, ExitUsage},
		{"completion: unknown shell", []string{"completion", "tcsh"}, ExitUsage},
		{"config without a subcommand", []string{"config"}, ExitUsage},
		{"config view: argument it does not take", []string{"config", "view", "extra"}, ExitUsage},
		{"config view: malformed project file", []string{"config", "view", "--config", broken}, ExitUsage},
		{"config view: missing project file", []string{"config", "view", "--config", filepath.Join(dir, "none.yaml")}, ExitUsage},

		{"generate: malformed project file", []string{"generate", "web", "--env", "dev", "--config", broken}, ExitUsage},
		{"generate: two apps", []string{"generate", "web", "shop", "--env", "dev"}, ExitUsage},
		{"generate: unknown app", []string{"generate", "shop", "--env", "dev"}, ExitUsage},
		{"generate: unknown environment", []string{"generate", "web", "--env", "prod"}, ExitUsage},
		{"generate: app name outside the apps directory", []string{"generate", "../x", "--env", "dev"}, ExitUsage},
		{"generate: overlay kustomize cannot build", []string{"generate", "broken", "--env", "dev"}, ExitUsage},

		{"new: app name outside the apps directory", []string{"new", "../x", "--tier", "frontend", "--role", "server", "--image", "web:1"}, ExitUsage},
		{"new: malformed project file", []string{"new", "shop", "--tier", "frontend", "--role", "server", "--image", "web:1", "--config", broken}, ExitUsage},

		{"deploy: app name outside the apps directory", []string{"deploy", "../x", "--env", "dev", "--yes"}, ExitUsage},
		{"deploy: unknown app", []string{"deploy", "shop", "--env", "dev", "--yes"}, ExitUsage},
		{"deploy: unknown environment", []string{"deploy", "web", "--env", "prod", "--yes"}, ExitUsage},
		{"deploy: overlay kustomize cannot build", []string{"deploy", "broken", "--env", "dev", "--yes"}, ExitUsage},
		{"deploy: malformed project file", []string{"deploy", "web", "--env", "dev", "--config", broken}, ExitUsage},
		{"deploy: unknown --context", []string{"deploy", "web", "--env", "dev", "--context", "typo"}, ExitUsage},
		{"deploy: cluster that cannot be reached", []string{"deploy", "web", "--env", "dev", "--yes", "--timeout", "1s"}, ExitError},

		{"lint: nothing to lint", []string{"lint"}, ExitUsage},
		{"lint: missing file", []string{"lint", filepath.Join(dir, "none.yaml")}, ExitUsage},
		{"lint: malformed project file", []string{"lint", filepath.Join(dir, "unlabelled.yaml"), "--config", broken}, ExitUsage},
		{"lint: unknown app", []string{"lint", "--app", "shop", "--env", "dev"}, ExitUsage},
		{"lint: findings", []string{"lint", filepath.Join(dir, "unlabelled.yaml")}, ExitError},
		{"lint --live: cluster that cannot be reached", []string{"lint", "--live"}, ExitUsage},

		{"init-env: invalid environment name", []string{"init-env", "Prod"}, ExitUsage},
		{"init-env: malformed project file", []string{"init-env", "dev", "--config", broken}, ExitUsage},
		{"init-env: cluster that cannot be reached", []string{"init-env", "dev"}, ExitError},
		{"env: malformed project file", []string{"env", "--config", broken}, ExitUsage},
		{"env: cluster that cannot be reached", []string{"env"}, ExitError},
		{"history: no app", []string{"history"}, ExitUsage},
		{"history: unknown environment", []string{"history", "web", "--env", "prod"}, ExitUsage},
		{"history: cluster that cannot be reached", []string{"history", "web"}, ExitError},
		{"node-agent: nothing to do", []string{"node-agent", "agent"}, ExitUsage},
		{"node-agent status: no agent", []string{"node-agent", "status"}, ExitUsage},
		{"node-agent status: cluster that cannot be reached", []string{"node-agent", "status", "agent"}, ExitError},
		{"rbac: unknown use", []string{"rbac", "--for", "everything"}, ExitUsage},
		{"rbac --apply: cluster that cannot be reached", []string{"rbac", "--for", "deploy", "--apply"}, ExitError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{}, tc.args...), "--kubeconfig", kubeconfig)
			if !strings.Contains(strings.Join(tc.args, " "), "--config") {
				args = append(args, "--config", project)
			}
			streams, _, _, errOut := genericiooptions.NewTestIOStreams()
			code := Execute(args, streams)
			if code != tc.want {
				t.Errorf("exit code %d, want %d; stderr: %s", code, tc.want, errOut)
			}
			if msg := errOut.String(); strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "error: ") {
				t.Errorf("stderr = %q, want one error line", msg)
			}
		})
	}
}

// The table decides by the type of the error, wherever it is wrapped.
func TestExitCodeTable(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "environment", errors.New("nope"))
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"no error", nil, ExitOK},
		{"any other error", errors.New("connection refused"), ExitError},
		{"forbidden by the cluster", fmt.Errorf("cannot read: %w", forbidden), ExitError},
		{"usage", usageError("--env is required"), ExitUsage},
		{"usage, wrapped", fmt.Errorf("deploy: %w", usageError("--env is required")), ExitUsage},
		{"input", inputError(errors.New("cannot parse")), ExitUsage},
		{"unknown environment", fmt.Errorf("%w %q", config.ErrUnknownEnvironment, "qa"), ExitUsage},
		{"a file that would be overwritten", fmt.Errorf("writing apps/web: %w", os.ErrExist), ExitUsage},
		{"lint findings", &FindingsError{Count: 3, FailOn: "error"}, ExitError},
		{"update rolled back", &rollout.FailedError{Kind: "ReplicationController", Name: "web", RolledBack: true, Err: rollout.ErrNoProgress}, ExitError},
		{"update left for a resume", &rollout.FailedError{Kind: "ReplicationController", Name: "web", Err: errors.New("interrupted")}, ExitResumable},
		{"update left for a resume, wrapped", fmt.Errorf("web: %w", &rollout.FailedError{Kind: "ReplicationController", Name: "web", Err: errors.New("interrupted")}), ExitResumable},
		{"timeout of a request", &kube.TimeoutError{After: kube.DefaultRequestTimeout, Flag: kube.RequestTimeoutFlag}, ExitError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ExitCode(tc.err); got != tc.want {
				t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

// A refusal that needs confirmation on a terminal names --yes, and is a
// usage error: the command line lacks it.
func TestConfirmWithoutATerminalIsAUsageError(t *testing.T) {
	prod := &Target{Env: "prod", Context: "envops-prod", Mapping: config.Environment{Context: "envops-prod", Confirm: true}, Config: &config.Config{Path: "/p/.envops.yaml"}}
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	if err := prod.Confirm(streams, false, "deploy web"); ExitCode(err) != ExitUsage {
		t.Errorf("Confirm = %v (exit %d), want a usage error", err, ExitCode(err))
	}
}

// A refusal is reworded unless its error says, by its type, that it already
// names the role to ask for; the words of the message do not decide.
func TestTranslateKeepsExplainedRefusals(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "environment",
		errors.New(`User "bob" cannot get resource "secrets" in API group "" in the namespace "web"`))
	explained := &rbac.ExplainedError{Err: fmt.Errorf("context %q: %w; ask for the init-env role", "prod", forbidden)}
	if got := translateError(explained, "kubectl envops init-env"); got != error(explained) {
		t.Errorf("an explained refusal became %q", got)
	}
	want := `forbidden: cannot get resource "secrets" in namespace "web" as "bob"; ask an admin to create the roles with "kubectl envops rbac --for init-env -n web --apply" and bind them to user "bob" with "kubectl create rolebinding envops-init-env:bob -n web --role envops-init-env --user bob" and "kubectl create clusterrolebinding envops-init-env-cluster:bob --clusterrole envops-init-env-cluster --user bob"`
	if got := translateError(fmt.Errorf("context %q: %w", "prod", forbidden), "kubectl envops init-env"); got.Error() != want {
		t.Errorf("a bare refusal became %q, want %q", got, want)
	}
}
