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

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envops/kubectl-envops/pkg/config"
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
			if o.App != "web" || o.DryRun != rollout.DryRunNone || o.Options.MaxSurge != nil || o.Options.MaxUnavailable != nil || o.Timeout != rollout.DefaultTimeout || o.Output != "text" {
				return fmt.Sprintf("unexpected defaults: %+v", o)
			}
			if o.target.Context != "envops-dev" || o.target.Namespace != "shop" {
				return fmt.Sprintf("environment dev resolved to context %q namespace %q, want envops-dev and shop", o.target.Context, o.target.Namespace)
			}
			return ""
		}},
		{name: "strategy as counts and percentages", args: []string{"web", "--env", "dev", "--image", "nginx:1.28", "--max-surge", "50%", "--max-unavailable", "0", "--timeout", "90s", "--update-period", "2s", "--min-ready-seconds", "5"}, check: func(o *DeployOptions) string {
			if *o.Options.MaxSurge != *pct("50%") || *o.Options.MaxUnavailable != *count(0) || o.Timeout != 90*time.Second || o.UpdatePeriod != 2*time.Second || o.MinReadySeconds != 5 || o.Image != "nginx:1.28" {
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
			if ro := o.deployer().Options; ro.PauseAfter != 2 || ro.FailureGrace != 10*time.Second || ro.Continue {
				return fmt.Sprintf("rollout options %+v", ro)
			}
			return ""
		}},
		{name: "continue", args: []string{"web", "--env", "dev", "--continue"}, check: func(o *DeployOptions) string {
			if ro := o.deployer().Options; !ro.Continue || ro.FailureGrace != rollout.DefaultFailureGrace {
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
		{name: "no app", args: []string{"--env", "dev"}, wantErr: "exactly one app name"},
		{name: "two apps", args: []string{"web", "api", "--env", "dev"}, wantErr: "exactly one app name"},
		{name: "malformed surge", args: []string{"web", "--env", "dev", "--max-surge", "lots"}, wantErr: "invalid --max-surge"},
		{name: "negative unavailable", args: []string{"web", "--env", "dev", "--max-unavailable", "-1"}, wantErr: "invalid --max-unavailable"},
		{name: "surge and unavailable both zero", args: []string{"web", "--env", "dev", "--max-surge", "0", "--max-unavailable", "0%"}, wantErr: "both 0"},
		{name: "unavailable above 100%", args: []string{"web", "--env", "dev", "--max-unavailable", "120%"}, wantErr: "100%"},
		{name: "unknown dry-run", args: []string{"web", "--env", "dev", "--dry-run=maybe"}, wantErr: "invalid --dry-run"},
		{name: "unknown output", args: []string{"web", "--env", "dev", "-o", "yaml"}, wantErr: "unknown output format"},
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

func TestDeployRefusesTheWrongClusterBeforeAnyChange(t *testing.T) {
	tests := []struct {
		name    string
		secret  *corev1.Secret
		wantErr string
	}{
		{name: "the namespace declares another environment", secret: &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "environment", Namespace: "shop"},
			Data:       map[string][]byte{"environment": []byte("prod")},
		}, wantErr: `"prod"`},
		{name: "the namespace declares no environment", wantErr: "declares no environment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _ := writeDeployProject(t)
			cfg, err := config.Load(g.ConfigPath)
			if err != nil {
				t.Fatal(err)
			}
			shop := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}
			client := fake.NewClientset(shop)
			if tt.secret != nil {
				client = fake.NewClientset(shop, tt.secret)
			}
			o := &DeployOptions{App: "web", Env: "dev", Image: "nginx:1.28", Output: "text", Options: rollout.Options{Timeout: time.Minute},
				cfg: cfg, fsys: filesys.MakeFsOnDisk(), IOStreams: g.Streams,
				target: &Target{Env: "dev", Context: "envops-dev", Namespace: "shop", Config: cfg, Client: client},
				applier: func() (*rollout.ServerSideApplier, error) {
					return nil, errors.New("the guard must run before any other object is looked at")
				},
			}
			err = o.Run(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "envops-dev") {
				t.Fatalf("err = %v, want the guard to refuse, naming the context and %s", err, tt.wantErr)
			}
			for _, a := range client.Actions() {
				if a.GetVerb() != "get" && a.GetVerb() != "list" {
					t.Errorf("the refused deploy sent %s %s", a.GetVerb(), a.GetResource().Resource)
				}
			}
		})
	}
}

func TestDeployPrinter(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	events := []rollout.Event{
		{Time: at, Type: rollout.EventStarted, Kind: "ReplicationController", Name: "web", Message: "rolling update of web"},
		{Time: at, Type: rollout.EventProgress, Kind: "ReplicationController", Name: "web", Desired: 4, Updated: 1, Ready: 0, Old: 4, Message: "0/4 ready"},
		{Time: at, Type: rollout.EventProgress, Kind: "ReplicationController", Name: "web", Desired: 4, Updated: 2, Ready: 1, Old: 3, Message: "1/4 ready"},
		{Time: at, Type: rollout.EventDone, Kind: "ReplicationController", Name: "web", Message: "rolled out web"},
	}
	result := rollout.Result{Kind: "ReplicationController", Name: "web", Action: rollout.ActionRolledOut, Replicas: 4}

	t.Run("plain lines with timestamps", func(t *testing.T) {
		var buf bytes.Buffer
		p := newDeployPrinter(&buf, (&DeployOptions{Output: "text"}).output(), false)
		for _, e := range events {
			p.Event(e)
		}
		p.Result(result, "shop", rollout.DryRunNone)
		p.Close()
		want := "2026-11-25T10:00:00Z ReplicationController/web started: rolling update of web\n" +
			"2026-11-25T10:00:00Z ReplicationController/web progress: 0/4 ready\n" +
			"2026-11-25T10:00:00Z ReplicationController/web progress: 1/4 ready\n" +
			"2026-11-25T10:00:00Z ReplicationController/web done: rolled out web\n" +
			"ReplicationController/web rolled out (4 replicas)\n"
		if buf.String() != want {
			t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
		}
	})
	t.Run("one rewritten progress line on a terminal", func(t *testing.T) {
		var buf bytes.Buffer
		p := newDeployPrinter(&buf, (&DeployOptions{Output: "text"}).output(), true)
		for _, e := range events {
			p.Event(e)
		}
		p.Close()
		want := "ReplicationController/web started: rolling update of web\n" +
			"\r\033[KReplicationController/web: 0/4 ready, 1 updated, 4 old" +
			"\r\033[KReplicationController/web: 1/4 ready, 2 updated, 3 old" +
			"\r\033[KReplicationController/web done: rolled out web\n"
		if buf.String() != want {
			t.Errorf("got %q\nwant %q", buf.String(), want)
		}
	})
	t.Run("json lines", func(t *testing.T) {
		var buf bytes.Buffer
		p := newDeployPrinter(&buf, (&DeployOptions{Output: "jsonl"}).output(), false)
		for _, e := range events {
			p.Event(e)
		}
		p.Result(result, "shop", rollout.DryRunNone)
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != len(events)+1 {
			t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(events)+1, buf.String())
		}
		var last rollout.Event
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
			t.Fatal(err)
		}
		if last.Type != deploy.EventResult || last.Message != "rolled out" || last.Namespace != "shop" || last.Ready != 4 {
			t.Errorf("the result line decodes to %+v", last)
		}
	})
}

// --diff shows the change cause the same deploy without --diff records.
func TestDiffRecordsTheDeploysChangeCause(t *testing.T) {
	causes := map[bool]string{}
	for _, diff := range []bool{false, true} {
		g, _ := writeDeployProject(t)
		cmd := NewCmdDeploy(g, func(o *DeployOptions) error { causes[diff] = o.trail.Record.Cause; return nil })
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
// included, as jsonl would; json and yaml are not deploy's formats.
func TestDeployTemplatesEachEvent(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	events := []rollout.Event{
		{Time: at, Type: rollout.EventStarted, Kind: "ReplicationController", Name: "web", Message: "rolling update of web"},
		{Time: at, Type: rollout.EventProgress, Kind: "ReplicationController", Name: "web", Desired: 4, Ready: 1, Message: "1/4 ready"},
	}
	result := rollout.Result{Kind: "ReplicationController", Name: "web", Action: rollout.ActionRolledOut, Replicas: 4}
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
		p := newDeployPrinter(&buf, got.output(), false)
		for _, e := range events {
			p.Event(e)
		}
		p.Result(result, "shop", rollout.DryRunServer)
		p.Close()
		if buf.String() != tc.want || p.err != nil {
			t.Errorf("%s: got %q (err %v), want %q", tc.format, buf.String(), p.err, tc.want)
		}
	}

	var buf bytes.Buffer
	p := newDeployPrinter(&buf, (&DeployOptions{Output: "go-template={{.type.x}}"}).output(), false)
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
		if err := cmd.Execute(); ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), `unknown output format "`+format+`" for --output: use text, jsonl, jsonpath=TEMPLATE or go-template=TEMPLATE`) {
			t.Errorf("-o %s: err = %v, want the unknown-format usage error", format, err)
		}
	}
}
