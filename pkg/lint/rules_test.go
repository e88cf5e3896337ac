package lint

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/envops/kubectl-envops/pkg/config"
)

// lintString lints a YAML stream read from "-" and returns its findings as
// "line rule: message" lines.
func lintString(t *testing.T, cfg *config.Config, src string, disable ...string) []string {
	t.Helper()
	l, err := New(cfg, disable...)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := l.LintFiles(context.Background(), []string{"-"}, strings.NewReader(src), &rep); err != nil {
		t.Fatalf("LintFiles: %v", err)
	}
	out := []string{}
	for _, f := range rep.Findings {
		out = append(out, fmt.Sprintf("%d %s: %s", f.Location.Line, f.Rule, f.Message))
	}
	return out
}

// workload writes a controller with the given parts, always on the same
// lines: controller labels on line 5, selector on line 7, template labels
// on line 10, containers from line 12, volumes after them.
func workload(apiVersion, kind, labels, selector, tmplLabels, containers, volumes string) string {
	return fmt.Sprintf(`apiVersion: %s
kind: %s
metadata:
  name: web
  labels: %s
spec:
  selector: %s
  template:
    metadata:
      labels: %s
    spec:
      containers: %s
      volumes: %s
`, apiVersion, kind, labels, selector, tmplLabels, containers, volumes)
}

const (
	goodLabels     = "{name: web-frontend, app: web, tier: frontend, role: frontend}"
	goodContainers = "[{name: web, image: web:1, volumeMounts: [{name: environment, mountPath: /etc/secrets}]}]"
	goodVolumes    = "[{name: environment, secret: {secretName: environment}}]"
)

func goodRC() string {
	return workload("v1", "ReplicationController", goodLabels, "{name: web-frontend}", goodLabels, goodContainers, goodVolumes)
}

// projectConfig is a convention with allowed values and recommended labels.
func projectConfig() *config.Config {
	cfg := config.Default()
	cfg.Labels.Allowed = map[string][]string{"tier": {"frontend", "backend"}}
	cfg.Labels.Recommended = map[string]string{"app": "app.kubernetes.io/name", "role": "app.kubernetes.io/component"}
	return cfg
}

func TestRules(t *testing.T) {
	tests := []struct {
		name    string
		cfg     *config.Config
		src     string
		disable []string
		want    []string
	}{
		{
			name: "well-labelled RC has no findings",
			src:  goodRC(),
			want: []string{},
		},
		{
			name: "missing labels are reported on controller and template, each once",
			src: workload("v1", "ReplicationController", "{app: web, tier: frontend}", "{app: web}",
				"{app: web, tier: frontend, role: frontend}", goodContainers, goodVolumes),
			want: []string{
				"5 required-labels: the controller is missing required labels name, role",
				"10 required-labels: the pod template is missing required label name",
			},
		},
		{
			name: "a controller without labels is pointed at its metadata",
			src: `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector: {matchLabels: {name: web-frontend}}
  template:
    metadata:
      labels: ` + goodLabels + `
    spec:
      containers: ` + goodContainers + `
      volumes: ` + goodVolumes + `
`,
			want: []string{"3 required-labels: the controller is missing required labels name, app, tier, role"},
		},
		{
			name: "required labels with empty values are missing",
			src: workload("v1", "ReplicationController", `{name: web-frontend, app: "", tier: frontend, role: frontend}`, "{name: web-frontend}",
				goodLabels, goodContainers, goodVolumes),
			want: []string{"5 required-labels: the controller is missing required label app"},
		},
		{
			name: "a bare pod is its own template",
			src: `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers: ` + goodContainers + `
  volumes: ` + goodVolumes + `
`,
			want: []string{"5 required-labels: the pod is missing required labels name, tier, role"},
		},
		{
			name: "tier outside the allowed values",
			cfg:  projectConfig(),
			src: workload("v1", "ReplicationController",
				"{name: web-frontend, app: web, tier: web, role: frontend, app.kubernetes.io/name: web, app.kubernetes.io/component: frontend}", "{name: web-frontend}",
				"{name: web-frontend, app: web, tier: web, role: frontend, app.kubernetes.io/name: web, app.kubernetes.io/component: frontend}", goodContainers, goodVolumes),
			want: []string{
				"5 allowed-values: label tier=web on the controller is not an allowed value",
				"10 allowed-values: label tier=web on the pod template is not an allowed value",
			},
		},
		{
			name: "name label that does not follow {app}-{role}",
			src: workload("v1", "ReplicationController", "{name: web, app: web, tier: frontend, role: frontend}", "{app: web}",
				"{name: web, app: web, tier: frontend, role: frontend}", goodContainers, goodVolumes),
			want: []string{
				"5 name-pattern: label name=web on the controller does not follow the pattern {app}-{role}",
				"10 name-pattern: label name=web on the pod template does not follow the pattern {app}-{role}",
			},
		},
		{
			name: "a custom name pattern is honoured",
			cfg: func() *config.Config {
				c := config.Default()
				c.Labels.Name = "{tier}-{app}"
				return c
			}(),
			src: workload("v1", "ReplicationController", "{name: frontend-web, app: web, tier: frontend, role: frontend}", "{app: web}",
				"{name: frontend-web, app: web, tier: frontend, role: frontend}", goodContainers, goodVolumes),
			want: []string{},
		},
		{
			name: "controller and template disagree on a value",
			src: workload("v1", "ReplicationController", "{name: web-frontend, app: web, tier: frontend, role: frontend}", "{app: web}",
				"{name: web-frontend, app: web, tier: backend, role: frontend}", goodContainers, goodVolumes),
			want: []string{"10 labels-match-template: label tier differs: the controller has tier=frontend, the pod template tier=backend"},
		},
		{
			name: "an optional label on only one side",
			src: workload("v1", "ReplicationController", "{name: web-frontend, app: web, tier: frontend, role: frontend, language: go}", "{app: web}",
				goodLabels, goodContainers, goodVolumes),
			want: []string{"10 labels-match-template: label language=go is on the controller but not on the pod template"},
		},
		{
			name: "RC selector that does not select the template",
			src: workload("v1", "ReplicationController", goodLabels, "{app: api}",
				goodLabels, goodContainers, goodVolumes),
			want: []string{"7 selector-matches-template: the selector (app=api) does not select the pod template's labels (app=web, name=web-frontend, role=frontend, tier=frontend)"},
		},
		{
			name: "RC without a selector defaults to its template labels",
			src: workload("v1", "ReplicationController", goodLabels, "null",
				goodLabels, goodContainers, goodVolumes),
			want: []string{},
		},
		{
			name: "empty RC selector",
			src: workload("v1", "ReplicationController", goodLabels, "{}",
				goodLabels, goodContainers, goodVolumes),
			want: []string{"7 selector-matches-template: the selector is empty"},
		},
		{
			name: "apps/v1 Deployment without a selector",
			src: workload("apps/v1", "Deployment", goodLabels, "null",
				goodLabels, goodContainers, goodVolumes),
			want: []string{"7 selector-matches-template: Deployment has no spec.selector"},
		},
		{
			name: "Deployment with an empty label selector",
			src: workload("apps/v1", "Deployment", goodLabels, "{matchLabels: {}}",
				goodLabels, goodContainers, goodVolumes),
			want: []string{"7 selector-matches-template: the selector is empty, so it would select every pod in the namespace"},
		},
		{
			name: "matchExpressions are evaluated",
			src: workload("apps/v1", "StatefulSet", goodLabels, "{matchExpressions: [{key: tier, operator: In, values: [backend]}]}",
				goodLabels, goodContainers, goodVolumes),
			want: []string{"7 selector-matches-template: the selector (tier in (backend)) does not select the pod template's labels (app=web, name=web-frontend, role=frontend, tier=frontend)"},
		},
		{
			name: "an invalid operator is reported, not a crash",
			src: workload("apps/v1", "DaemonSet", goodLabels, "{matchExpressions: [{key: tier, operator: Near}]}",
				goodLabels, goodContainers, goodVolumes),
			want: []string{`7 selector-matches-template: the selector is invalid: "Near" is not a valid label selector operator`},
		},
		{
			name: "Job selectors are generated unless manual",
			src: workload("batch/v1", "Job", goodLabels, "null",
				goodLabels, goodContainers, goodVolumes),
			want: []string{},
		},
		{
			name: "label keys and values must be valid, values strings",
			src: workload("v1", "ReplicationController", `{name: web-frontend, app: web, tier: frontend, role: frontend, "bad key!": x, version: 1.0, team: "a b"}`, "{name: web-frontend}",
				goodLabels, goodContainers, goodVolumes),
			want: []string{
				`5 label-syntax: label key "bad key!" on the controller is invalid: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
				"5 label-syntax: label version on the controller has a number value, not a string",
				`5 label-syntax: label team="a b" on the controller has an invalid value: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
			},
		},
		{
			name: "label syntax is checked on every kind",
			src: `apiVersion: v1
kind: Service
metadata:
  name: web
  labels:
    enabled: true
`,
			want: []string{"6 label-syntax: label enabled on the object has a boolean value, not a string"},
		},
		{
			name: "pod template without the environment Secret",
			src: workload("v1", "ReplicationController", goodLabels, "{name: web-frontend}",
				goodLabels, "[{name: web, image: web:1}]", "[]"),
			want: []string{`11 env-secret-mounted: the pod template does not mount the environment Secret "environment"`},
		},
		{
			name: "a container that does not mount the Secret, and one mounting it elsewhere",
			src: workload("v1", "ReplicationController", goodLabels, "{name: web-frontend}",
				goodLabels, "[{name: web, image: web:1, volumeMounts: [{name: env, mountPath: /etc/secrets/}]}, {name: sidecar, image: s:1}, {name: other, image: o:1, volumeMounts: [{name: env, mountPath: /secrets}]}]",
				"[{name: env, projected: {sources: [{secret: {name: environment}}]}}]"),
			want: []string{
				`12 env-secret-mounted: container "sidecar" does not mount the environment Secret "environment"`,
				`12 env-secret-mounted: container "other" mounts the environment Secret "environment" at /secrets, not at /etc/secrets`,
			},
		},
		{
			name: "an environment Secret volume whose items leave out the key",
			src: workload("v1", "ReplicationController", goodLabels, "{name: web-frontend}",
				goodLabels, "[{name: web, image: web:1, volumeMounts: [{name: environment, mountPath: /etc/secrets}]}]",
				"[{name: environment, secret: {secretName: environment, items: [{key: other, path: other}]}}]"),
			want: []string{`13 env-secret-mounted: volume "environment" projects only other as other of the environment Secret, so /etc/secrets/environment does not exist in the pod`},
		},
		{
			name: "an environment Secret key projected under another file name, in a projected volume",
			src: workload("v1", "ReplicationController", goodLabels, "{name: web-frontend}",
				goodLabels, "[{name: web, image: web:1, volumeMounts: [{name: env, mountPath: /etc/secrets}]}]",
				"[{name: env, projected: {sources: [{secret: {name: environment, items: [{key: environment, path: env.txt}]}}]}}]"),
			want: []string{`13 env-secret-mounted: volume "env" projects only environment as env.txt of the environment Secret, so /etc/secrets/environment does not exist in the pod`},
		},
		{
			name: "items that project the key to its own file name pass",
			src: workload("v1", "ReplicationController", goodLabels, "{name: web-frontend}",
				goodLabels, "[{name: web, image: web:1, volumeMounts: [{name: environment, mountPath: /etc/secrets}]}]",
				"[{name: environment, secret: {secretName: environment, items: [{key: other, path: other}, {key: environment, path: environment}]}}]"),
			want: []string{},
		},
		{
			name: "a CronJob's pod template is checked",
			src: `apiVersion: batch/v1
kind: CronJob
metadata:
  name: report
  labels: {name: report-batch, app: report, tier: backend, role: batch}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        metadata:
          labels: {app: report}
        spec:
          containers: ` + goodContainers + `
          volumes: ` + goodVolumes + `
`,
			want: []string{"12 required-labels: the pod template is missing required labels name, tier, role"},
		},
		{
			name: "recommended labels mirror the convention when configured",
			cfg: func() *config.Config {
				c := config.Default()
				c.Labels.Recommended = map[string]string{"app": "app.kubernetes.io/name"}
				return c
			}(),
			src: workload("v1", "ReplicationController", "{name: web-frontend, app: web, tier: frontend, role: frontend, app.kubernetes.io/name: api}", "{name: web-frontend}",
				goodLabels, goodContainers, goodVolumes),
			want: []string{
				"5 recommended-labels: the controller has app=web but app.kubernetes.io/name=api",
				"10 recommended-labels: the pod template has app=web but not app.kubernetes.io/name",
			},
		},
		{
			name: "the lint-ignore annotation opts out of the named rules",
			src: `apiVersion: v1
kind: Pod
metadata:
  name: debug
  annotations:
    envops.io/lint-ignore: required-labels, env-secret-mounted
spec:
  containers: [{name: debug, image: busybox}]
`,
			want: []string{},
		},
		{
			name:    "disabled rules do not run",
			src:     workload("v1", "ReplicationController", "{app: web}", "{app: web}", "{app: web}", "[{name: web, image: web:1}]", "[]"),
			disable: []string{RuleRequiredLabels, RuleEnvSecret},
			want:    []string{},
		},
		{
			name: "commonLabels in a kustomization",
			src: `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [rc.yaml]
commonLabels:
  app: web
`,
			want: []string{"4 kustomize-common-labels: commonLabels also rewrites selectors, so changing a label later fails with \"field is immutable\""},
		},
		{
			name: "objects that run no pods get no workload rules",
			src: `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data: {a: b}
`,
			want: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if cfg == nil {
				cfg = config.Default()
			}
			got := lintString(t, cfg, tt.src, tt.disable...)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestHints(t *testing.T) {
	tests := []struct {
		name string
		src  string
		rule string
		want string
	}{
		{
			name: "missing name is proposed from the pattern",
			src: workload("v1", "ReplicationController", "{app: redis, tier: backend, role: master}", "{app: redis}",
				"{app: redis, tier: backend, role: master}", goodContainers, goodVolumes),
			rule: RuleRequiredLabels,
			want: "add name: redis-master under metadata.labels",
		},
		{
			name: "a label missing on the template is proposed from the controller",
			src: workload("v1", "ReplicationController", goodLabels, "{app: web}",
				"{name: web-frontend, app: web, role: frontend}", goodContainers, goodVolumes),
			rule: RuleRequiredLabels,
			want: "add tier: frontend under spec.template.metadata.labels",
		},
		{
			name: "the name pattern is filled in as far as the labels allow",
			src: workload("v1", "ReplicationController", "{app: guestbook, tier: frontend}", "{app: guestbook}",
				"{app: guestbook, tier: frontend}", goodContainers, goodVolumes),
			rule: RuleRequiredLabels,
			want: "add name: guestbook-<role>, role: <role> under metadata.labels",
		},
		{
			name: "kustomize commonLabels are rewritten as labels",
			src:  "kind: Kustomization\ncommonLabels: {app: web, tier: frontend}\n",
			rule: RuleKustomizeCommonLabel,
			want: "replace commonLabels with labels: [{pairs: {app: web, tier: frontend}, includeTemplates: true, includeSelectors: false}]",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := New(config.Default())
			if err != nil {
				t.Fatal(err)
			}
			var rep Report
			if err := l.LintFiles(context.Background(), []string{"-"}, strings.NewReader(tt.src), &rep); err != nil {
				t.Fatal(err)
			}
			if len(rep.Findings) == 0 || rep.Findings[0].Rule != tt.rule {
				t.Fatalf("want a %s finding first, got %+v", tt.rule, rep.Findings)
			}
			if got := rep.Findings[0].Hint; got != tt.want {
				t.Errorf("hint %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewRejectsUnknownRules(t *testing.T) {
	_, err := New(config.Default(), "required-label")
	if err == nil || !strings.Contains(err.Error(), `unknown rule "required-label"`) {
		t.Fatalf("err = %v, want unknown rule", err)
	}
}

func TestGuestbookLintsAsAUserExpects(t *testing.T) {
	// The classic guestbook labels its controllers app, tier and role, but
	// has no name label and no environment Secret; its selectors are left
	// to default, which is fine.
	l, err := New(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	in, err := ExpandPaths([]string{"testdata/guestbook"})
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := l.LintFiles(context.Background(), in.Files, nil, &rep); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, fmt.Sprintf("%s:%d %s %s: %s", f.Location.File, f.Location.Line, f.Rule, f.Object, f.Message))
	}
	want := []string{
		"testdata/guestbook/frontend-controller.yaml:5 required-labels ReplicationController/frontend: the controller is missing required labels name, role",
		"testdata/guestbook/frontend-controller.yaml:12 required-labels ReplicationController/frontend: the pod template is missing required labels name, role",
		`testdata/guestbook/frontend-controller.yaml:15 env-secret-mounted ReplicationController/frontend: the pod template does not mount the environment Secret "environment"`,
		"testdata/guestbook/redis-master-controller.yaml:5 required-labels ReplicationController/redis-master: the controller is missing required label name",
		"testdata/guestbook/redis-master-controller.yaml:13 required-labels ReplicationController/redis-master: the pod template is missing required label name",
		`testdata/guestbook/redis-master-controller.yaml:17 env-secret-mounted ReplicationController/redis-master: the pod template does not mount the environment Secret "environment"`,
		"testdata/guestbook/redis-slave-controller.yaml:5 required-labels ReplicationController/redis-slave: the controller is missing required label name",
		"testdata/guestbook/redis-slave-controller.yaml:13 required-labels ReplicationController/redis-slave: the pod template is missing required label name",
		`testdata/guestbook/redis-slave-controller.yaml:17 env-secret-mounted ReplicationController/redis-slave: the pod template does not mount the environment Secret "environment"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if rep.Objects != 4 {
		t.Errorf("checked %d objects, want 4 (three controllers and the Service)", rep.Objects)
	}
}

func TestLabelSyntaxAgreesWithValidation(t *testing.T) {
	// The fast path must never accept what the validation package refuses.
	samples := []string{
		"", "a", "A", "0", "-", "a-", "-a", "a.b", "a_b", "a..b", "a/b", "/a", "a/", "a//b", "A/b", "example.com/app",
		"app.kubernetes.io/name", "Example.com/app", "ex-.com/a", "ex.-com/a", "ex..com/a", ".ex.com/a", "a b", "ä",
		strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a.", 126) + "a/b", strings.Repeat("a.", 127) + "a/b",
	}
	rng := rand.New(rand.NewPCG(7, 11))
	const alphabet = "aZ09-_./ "
	for range 20000 {
		b := make([]byte, rng.IntN(8))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		samples = append(samples, string(b))
	}
	for _, s := range samples {
		if got, want := len(labelValueErrors(s)) == 0, len(validation.IsValidLabelValue(s)) == 0; got != want {
			t.Errorf("label value %q: valid %v, validation says %v", s, got, want)
		}
		if got, want := len(qualifiedNameErrors(s)) == 0, len(validation.IsQualifiedName(s)) == 0; got != want {
			t.Errorf("label key %q: valid %v, validation says %v", s, got, want)
		}
	}
}
