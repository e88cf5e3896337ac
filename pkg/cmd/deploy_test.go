package cmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/envops/kubectl-envops/pkg/deploy"
	"github.com/envops/kubectl-envops/pkg/rollout"
)

// writeDeployProject writes a project with app "web" (a ReplicationController
// and a ConfigMap) and a kubeconfig whose servers are never contacted; it
// returns Globals as the root command would build them.
func writeDeployProject(t *testing.T) (*Globals, string) {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		".envops.yaml": "environments:\n  dev: {context: envops-dev, namespace: shop}\n",
		"kubeconfig": `apiVersion: v1
kind: Config
clusters: [{name: dev, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: envops-dev, context: {cluster: dev, user: u}}]
current-context: envops-dev
`,
		"apps/web/base/kustomization.yaml": "resources:\n- rc.yaml\n- cm.yaml\nlabels:\n- pairs: {app: web, tier: frontend, role: api}\n  includeTemplates: true\n",
		"apps/web/base/rc.yaml": "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: web\nspec:\n  replicas: 2\n" +
			"  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n",
		"apps/web/base/cm.yaml":                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  greeting: hello\n",
		"apps/web/overlays/dev/kustomization.yaml": "resources:\n- ../../base\n",
	}
	for p, c := range files {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	kubeconfig, kubeContext, namespace := filepath.Join(dir, "kubeconfig"), "", ""
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = &kubeconfig
	flags.Context, flags.Namespace = &kubeContext, &namespace
	return &Globals{ConfigFlags: flags, Factory: cmdutil.NewFactory(flags), Streams: streams, ConfigPath: filepath.Join(dir, ".envops.yaml")}, dir
}

func TestDeployFlags(t *testing.T) {
	pct := func(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
	count := func(n int32) *intstr.IntOrString { v := intstr.FromInt32(n); return &v }
	tests := []struct {
		name    string
		args    []string
		check   func(o *DeployOptions) string // what is wrong, or ""
		wantErr string                        // a usage error (exit 2) containing this
	}{
		{name: "defaults", args: []string{"web", "--env", "dev"}, check: func(o *DeployOptions) string {
			if len(o.Apps) != 1 || o.Apps[0] != "web" || o.DryRun != rollout.DryRunNone || o.Options.MaxSurge != nil || o.Options.MaxUnavailable != nil || o.Timeout != rollout.DefaultTimeout || o.Output != "text" || !o.Prune || o.Concurrency != deploy.DefaultConcurrency {
				return fmt.Sprintf("unexpected defaults: %+v", o)
			}
			if o.target.Context != "envops-dev" || o.target.Namespace != "shop" {
				return fmt.Sprintf("environment dev resolved to context %q namespace %q, want envops-dev and shop", o.target.Context, o.target.Namespace)
			}
			return ""
		}},
		{name: "strategy as counts and percentages", args: []string{"web", "--env", "dev", "--image", "nginx:1.28", "--max-surge", "50%", "--max-unavailable", "0", "--timeout", "90s", "--update-period", "2s", "--min-ready-seconds", "5"}, check: func(o *DeployOptions) string {
			if *o.Options.MaxSurge != *pct("50%") || *o.Options.MaxUnavailable != *count(0) || o.Timeout != 90*time.Second || o.UpdatePeriod != 2*time.Second || o.MinReadySeconds != 5 || len(o.Images) != 1 || o.Images[0] != "nginx:1.28" {
				return fmt.Sprintf("parsed %+v", o)
			}
			return ""
		}},
		{name: "bare --dry-run means client", args: []string{"web", "--env", "dev", "--dry-run"}, check: func(o *DeployOptions) string {
			if o.DryRun != rollout.DryRunClient {
				return "dry run is not client"
			}
			return ""
		}},
		{name: "kind shorthand", args: []string{"web", "--env", "dev", "--kind", "rc", "-o", "jsonl"}, check: func(o *DeployOptions) string {
			if o.Kind != deploy.KindReplicationController || o.Output != "jsonl" {
				return fmt.Sprintf("kind %q output %q", o.Kind, o.Output)
			}
			return ""
		}},
		{name: "a canary, then continue", args: []string{"web", "--env", "dev", "--image", "nginx:1.28", "--pause-after", "2", "--failure-grace", "10s"}, check: func(o *DeployOptions) string {
			if ro := o.Options; ro.PauseAfter != 2 || ro.FailureGrace != 10*time.Second || ro.Continue {
				return fmt.Sprintf("rollout options %+v", ro)
			}
			return ""
		}},
		{name: "continue", args: []string{"web", "--env", "dev", "--continue"}, check: func(o *DeployOptions) string {
			if ro := o.Options; !ro.Continue || ro.FailureGrace != rollout.DefaultFailureGrace {
				return fmt.Sprintf("rollout options %+v", ro)
			}
			return ""
		}},
		{name: "negative pause-after", args: []string{"web", "--env", "dev", "--pause-after", "-1"}, wantErr: "invalid --pause-after"},
		{name: "zero failure grace", args: []string{"web", "--env", "dev", "--failure-grace", "0s"}, wantErr: "invalid --failure-grace"},
		{name: "continue and rollback", args: []string{"web", "--env", "dev", "--continue", "--rollback"}, wantErr: "contradict"},
		{name: "continue and pause", args: []string{"web", "--env", "dev", "--continue", "--pause-after", "1"}, wantErr: "drop --pause-after"},
		{name: "continue with an image", args: []string{"web", "--env", "dev", "--continue", "--image", "nginx:1"}, wantErr: "takes no --image"},
		{name: "rollback and pause", args: []string{"web", "--env", "dev", "--rollback", "--pause-after", "1"}, wantErr: "--pause-after"},
		{name: "no environment", args: []string{"web"}, wantErr: "--env is required"},
		{name: "several apps, each with its image", args: []string{"web", "api", "--env", "dev", "--image", "web=nginx:1.28", "--image", "api=nginx:1.29", "--concurrency", "2", "--fail-fast", "--prune=false"}, check: func(o *DeployOptions) string {
			if !o.several() || o.Concurrency != 2 || !o.FailFast || o.Prune {
				return fmt.Sprintf("parsed %+v", o)
			}
			if images, err := o.images(); err != nil || images["web"] != "nginx:1.28" || images["api"] != "nginx:1.29" {
				return fmt.Sprintf("images %v, %v", images, err)
			}
			return ""
		}},
		{name: "every app, by label", args: []string{"-l", "tier in (backend,worker)", "--env", "dev", "--create-namespace"}, check: func(o *DeployOptions) string {
			if !o.several() || o.Selector != "tier in (backend,worker)" || !o.CreateNamespace {
				return fmt.Sprintf("parsed %+v", o)
			}
			return ""
		}},
		{name: "no app", args: []string{"--env", "dev"}, wantErr: "name the apps to deploy"},
		{name: "apps and --all", args: []string{"web", "--all", "--env", "dev"}, wantErr: "choose the apps one way"},
		{name: "an app named twice", args: []string{"web", "web", "--env", "dev"}, wantErr: "named twice"},
		{name: "one image for several apps", args: []string{"web", "api", "--env", "dev", "--image", "nginx:1.28"}, wantErr: "--image APP=nginx:1.28"},
		{name: "an image for another app", args: []string{"web", "--env", "dev", "--image", "api=nginx:1.28"}, wantErr: `for app "api"`},
		{name: "a bad selector", args: []string{"-l", "tier in (", "--env", "dev"}, wantErr: "invalid --selector"},
		{name: "zero concurrency", args: []string{"--all", "--env", "dev", "--concurrency", "0"}, wantErr: "invalid --concurrency"},
		{name: "a canary of several apps", args: []string{"--all", "--env", "dev", "--pause-after", "1"}, wantErr: "act on one app"},
		{name: "malformed surge", args: []string{"web", "--env", "dev", "--max-surge", "lots"}, wantErr: "invalid --max-surge"},
		{name: "negative unavailable", args: []string{"web", "--env", "dev", "--max-unavailable", "-1"}, wantErr: "invalid --max-unavailable"},
		{name: "surge and unavailable both zero", args: []string{"web", "--env", "dev", "--max-surge", "0", "--max-unavailable", "0%"}, wantErr: "both 0"},
		{name: "unavailable above 100%", args: []string{"web", "--env", "dev", "--max-unavailable", "120%"}, wantErr: "100%"},
		{name: "unknown dry-run", args: []string{"web", "--env", "dev", "--dry-run=maybe"}, wantErr: "invalid --dry-run"},
		{name: "unknown output", args: []string{"web", "--env", "dev", "-o", "table"}, wantErr: "unknown output format"},
		{name: "a diff as json", args: []string{"web", "--env", "dev", "--diff", "-o", "json"}, wantErr: "--diff prints a diff"},
		{name: "unknown kind", args: []string{"web", "--env", "dev", "--kind", "StatefulSet"}, wantErr: "unknown --kind"},
		{name: "rollback with an image", args: []string{"web", "--env", "dev", "--rollback", "--image", "nginx:1"}, wantErr: "takes no --image"},
		{name: "rollback and no-rollback", args: []string{"web", "--env", "dev", "--rollback", "--no-rollback"}, wantErr: "contradict"},
		{name: "diff with dry-run", args: []string{"web", "--env", "dev", "--diff", "--dry-run=server"}, wantErr: "--diff already changes nothing"},
		{name: "zero timeout", args: []string{"web", "--env", "dev", "--timeout", "0s"}, wantErr: "invalid --timeout"},
		{name: "bad image", args: []string{"web", "--env", "dev", "--image", "Not An Image"}, wantErr: "--image"},
		{name: "bad webhook", args: []string{"web", "--env", "dev", "--notify", "hooks.example.com"}, wantErr: "--notify"},
		{name: "unknown environment", args: []string{"web", "--env", "staging"}, wantErr: "staging"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _ := writeDeployProject(t)
			var got *DeployOptions
			cmd := NewCmdDeploy(g, func(o *DeployOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.Execute()
			if tt.wantErr != "" {
				if ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a usage error containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("the error is not one line: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if msg := tt.check(got); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func TestDeployPrinter(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	events := []rollout.Event{
		{Time: at, Type: rollout.EventStarted, App: "web", Kind: "ReplicationController", Name: "web", Message: "rolling update of web"},
		{Time: at, Type: rollout.EventProgress, App: "web", Kind: "ReplicationController", Name: "web", Desired: 4, Updated: 1, Ready: 0, Serving: 4, Old: 4},
		{Time: at, Type: rollout.EventProgress, App: "web", Kind: "ReplicationController", Name: "web", Desired: 4, Updated: 2, Ready: 1, Serving: 4, Old: 3},
		{Time: at, Type: rollout.EventDone, App: "web", Kind: "ReplicationController", Name: "web", Message: "rolled out web"},
	}
	result := deploy.ObjectResult{Result: rollout.Result{Kind: "ReplicationController", Name: "web", Action: rollout.ActionRolledOut, Replicas: 4}, APIVersion: "v1", Namespace: "shop"}
	app := &deploy.Result{App: "web", Outcome: deploy.OutcomeDeployed, Image: "nginx:1.29", Objects: []deploy.ObjectResult{result}}

	t.Run("plain lines with timestamps", func(t *testing.T) {
		var buf bytes.Buffer
		p := newDeployPrinter(&buf, (&DeployOptions{Output: "text"}).output(), false, false, rollout.DryRunNone)
		for _, e := range events {
			p.Event(e)
		}
		p.Result("web", result)
		p.Finished(app)
		p.Close([]*deploy.Result{app})
		want := "2026-11-25T10:00:00Z ReplicationController/web started: rolling update of web\n" +
			"2026-11-25T10:00:00Z ReplicationController/web progress: 4 wanted: 4 ready (0 new, 4 old), 1 new starting, 4 old pods to replace\n" +
			"2026-11-25T10:00:00Z ReplicationController/web progress: 4 wanted: 4 ready (1 new, 3 old), 1 new starting, 3 old pods to replace\n" +
			"2026-11-25T10:00:00Z ReplicationController/web done: rolled out web\n" +
			"ReplicationController/web rolled out (4 replicas)\n"
		if buf.String() != want {
			t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
		}
	})
	t.Run("words from the cluster are escaped", func(t *testing.T) {
		var buf bytes.Buffer
		p := newDeployPrinter(&buf, (&DeployOptions{Output: "text"}).output(), false, true, rollout.DryRunNone)
		p.Event(rollout.Event{Time: at, Type: rollout.EventFailed, App: "web", Kind: "ReplicationController", Name: "web", Message: "pod web-x: ErrImagePull: bad\n::error::forged\x1b[2J"})
		if got := buf.String(); strings.Count(got, "\n") != 1 || strings.Contains(got, "\x1b") || strings.Contains(got, "\n::error::") {
			t.Errorf("a message from the cluster printed raw: %q", got)
		}
	})
	t.Run("a dry run says what would happen", func(t *testing.T) {
		var buf bytes.Buffer
		p := newDeployPrinter(&buf, (&DeployOptions{Output: "text"}).output(), false, false, rollout.DryRunServer)
		p.Result("web", result)
		if want := "ReplicationController/web would be rolled out (4 replicas) (server dry run)\n"; buf.String() != want {
			t.Errorf("got %q, want %q", buf.String(), want)
		}
	})
	t.Run("one rewritten progress line per app on a terminal", func(t *testing.T) {
		var buf bytes.Buffer
		p := newDeployPrinter(&buf, (&DeployOptions{Output: "text"}).output(), true, false, rollout.DryRunNone)
		for _, e := range events {
			p.Event(e)
		}
		p.Finished(app)
		p.Close([]*deploy.Result{app})
		want := "ReplicationController/web started: rolling update of web\n" +
			"ReplicationController/web: 4 wanted: 4 ready (0 new, 4 old), 1 new starting, 4 old pods to replace\n" +
			"\033[1A\033[JReplicationController/web: 4 wanted: 4 ready (1 new, 3 old), 1 new starting, 3 old pods to replace\n" +
			"\033[1A\033[JReplicationController/web done: rolled out web\n" +
			"ReplicationController/web: 4 wanted: 4 ready (1 new, 3 old), 1 new starting, 3 old pods to replace\n" +
			"\033[1A\033[J"
		if buf.String() != want {
			t.Errorf("got %q\nwant %q", buf.String(), want)
		}
	})
	t.Run("several apps end with a summary", func(t *testing.T) {
		var buf bytes.Buffer
		p := newDeployPrinter(&buf, (&DeployOptions{Output: "text"}).output(), false, true, rollout.DryRunNone)
		failed := &deploy.Result{App: "api", Outcome: deploy.OutcomeFailed, Image: "api:bad", Err: &rollout.FailedError{Kind: "ReplicationController", Name: "api", RolledBack: true, Err: errors.New("pod api-x: ErrImagePull")}}
		skipped := &deploy.Result{App: "front", Outcome: deploy.OutcomeNotStarted, Err: &deploy.NotStartedError{App: "front", Why: "needs api, which failed"}}
		p.Close([]*deploy.Result{app, failed, skipped})
		for _, want := range []string{
			"APP     RESULT                IMAGE        DURATION   NOTE",
			"web     deployed              nginx:1.29   -",
			"api     failed, rolled back   api:bad      -          update of ReplicationController \"api\" failed and was rolled back: pod api-x: ErrImagePull",
			"front   not started           -            -          needs api, which failed",
		} {
			if !strings.Contains(buf.String(), want) {
				t.Errorf("summary lacks %q:\n%s", want, buf.String())
			}
		}
	})
	t.Run("json lines", func(t *testing.T) {
		var buf bytes.Buffer
		p := newDeployPrinter(&buf, (&DeployOptions{Output: "jsonl"}).output(), false, false, rollout.DryRunNone)
		for _, e := range events {
			p.Event(e)
		}
		p.Result("web", result)
		p.Finished(app)
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != len(events)+2 {
			t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(events)+2, buf.String())
		}
		var res rollout.Event
		if err := json.Unmarshal([]byte(lines[len(lines)-2]), &res); err != nil {
			t.Fatal(err)
		}
		if res.Type != deploy.EventResult || res.Message != "rolled out" || res.Namespace != "shop" || res.Ready != 4 || res.App != "web" {
			t.Errorf("the result line decodes to %+v", res)
		}
		var sum appResult
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
			t.Fatal(err)
		}
		if sum.Type != "app" || sum.App != "web" || sum.Result != "deployed" || sum.Image != "nginx:1.29" {
			t.Errorf("the app's line decodes to %+v", sum)
		}
	})
}

// --diff shows the change cause the same deploy without --diff records.
func TestDiffRecordsTheDeploysChangeCause(t *testing.T) {
	causes := map[bool]string{}
	for _, diff := range []bool{false, true} {
		g, _ := writeDeployProject(t)
		cmd := NewCmdDeploy(g, func(o *DeployOptions) error { causes[diff] = o.cause; return nil })
		args := []string{"web", "--env", "dev", "--image", "nginx:1.28"}
		if diff {
			args = append(args, "--diff")
		}
		cmd.SetArgs(args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
	}
	if causes[true] != causes[false] || strings.Contains(causes[true], "diff") {
		t.Fatalf("change cause with --diff %q, without %q", causes[true], causes[false])
	}
}

// -o jsonpath= and -o go-template= print each event, the closing result
// included, as jsonl would; json, yaml and name are deploy's too.
func TestDeployTemplatesEachEvent(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	events := []rollout.Event{
		{Time: at, Type: rollout.EventStarted, Kind: "ReplicationController", Name: "web", Message: "rolling update of web"},
		{Time: at, Type: rollout.EventProgress, Kind: "ReplicationController", Name: "web", Desired: 4, Ready: 1, Message: "1/4 ready"},
	}
	result := deploy.ObjectResult{Result: rollout.Result{Kind: "ReplicationController", Name: "web", Action: rollout.ActionRolledOut, Replicas: 4}, Namespace: "shop"}
	for _, tc := range []struct{ format, want string }{
		{`jsonpath={.type} {.kind}/{.name} {.ready}{"\n"}`, "started ReplicationController/web 0\nprogress ReplicationController/web 1\nresult ReplicationController/web 4\n"},
		{`go-template={{.type}}: {{.message}}{{"\n"}}`, "started: rolling update of web\nprogress: 1/4 ready\nresult: rolled out (server dry run)\n"},
	} {
		g, _ := writeDeployProject(t)
		var got *DeployOptions
		cmd := NewCmdDeploy(g, func(o *DeployOptions) error { got = o; return nil })
		cmd.SetArgs([]string{"web", "--env", "dev", "-o", tc.format})
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%s: %v", tc.format, err)
		}
		var buf bytes.Buffer
		p := newDeployPrinter(&buf, got.output(), false, false, rollout.DryRunServer)
		for _, e := range events {
			p.Event(e)
		}
		p.Result("web", result)
		p.Close(nil)
		if buf.String() != tc.want || p.err != nil {
			t.Errorf("%s: got %q (err %v), want %q", tc.format, buf.String(), p.err, tc.want)
		}
	}

	var buf bytes.Buffer
	p := newDeployPrinter(&buf, (&DeployOptions{Output: "go-template={{.type.x}}"}).output(), false, false, rollout.DryRunNone)
	p.Event(events[0])
	if p.err == nil || ExitCode(p.err) != ExitUsage || !strings.Contains(p.err.Error(), "--output") {
		t.Errorf("a template that fails on an event: err = %v, want a usage error naming --output", p.err)
	}

	for _, format := range []string{"json", "yaml", "name"} {
		g, _ := writeDeployProject(t)
		cmd := NewCmdDeploy(g, func(*DeployOptions) error { return nil })
		cmd.SetArgs([]string{"web", "--env", "dev", "-o", format})
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		if err := cmd.Execute(); err != nil {
			t.Errorf("-o %s: %v", format, err)
		}
	}
}
