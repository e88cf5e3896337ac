package environment

import (
	"context"
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/config"
)

func TestCheckMapping(t *testing.T) {
	cfg := config.Default()
	cfg.Path = "/p/.envops.yaml"
	cfg.Environments = map[string]config.Environment{"dev": {Context: "c-dev"}, "prod": {Context: "c-prod"}}
	for _, tc := range []struct{ env, context, want string }{
		{"dev", "c-dev", ""},
		{"qa", "c-qa", ""},
		{"prod", "c-dev", `refusing to declare environment "prod" in context "c-dev": /p/.envops.yaml maps "prod" to context "c-prod"; use --context c-prod, or --force if the mapping is wrong`},
		{"qa", "c-prod", `refusing to declare environment "qa" in context "c-prod": /p/.envops.yaml maps that context to environment "prod"; use the context of "qa", or --force if the mapping is wrong`},
	} {
		got := ""
		if err := CheckMapping(cfg, tc.env, tc.context); err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s in %s: %q\nwant %q", tc.env, tc.context, got, tc.want)
		}
	}
}

// A client dry run returns the Secrets it would write and sends nothing;
// not being allowed to list Secrets cluster-wide is a note, not a failure.
func TestInitClientDryRunWithoutClusterWideList(t *testing.T) {
	client := fake.NewClientset(namespace("web"), namespace("api"), namespace("kube-system"))
	client.PrependReactor("list", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", errors.New("no"))
	})
	res, err := Init(context.Background(), client, InitRequest{Env: "dev", Context: "c-dev", AllNamespaces: true, DryRun: cmdutil.DryRunClient,
		Secret: defaultSecret, Record: audit.Record{Environment: "dev", User: "ann"}, FieldManager: "test"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range res.Written {
		got = append(got, s.Namespace+"="+string(s.Data["environment"]))
	}
	if strings.Join(got, " ") != "api=dev web=dev" {
		t.Errorf("would write %v, want api=dev web=dev", got)
	}
	if !strings.Contains(res.Note, `other namespaces of context "c-dev" were not checked`) {
		t.Errorf("note = %q", res.Note)
	}
	for _, a := range client.Actions() {
		if a.GetVerb() == "create" || a.GetVerb() == "update" {
			t.Errorf("a client dry run sent %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
}

func TestInitWithOnlySystemNamespaces(t *testing.T) {
	client := fake.NewClientset(namespace("kube-system"), namespace("kube-public"))
	_, err := Init(context.Background(), client, InitRequest{Env: "dev", Context: "c-dev", AllNamespaces: true, Secret: defaultSecret})
	if !errors.Is(err, ErrNoNamespaces) || !strings.HasPrefix(err.Error(), `context "c-dev" has no namespaces besides the system ones`) {
		t.Errorf("err = %v", err)
	}
}

func TestViewNamespaces(t *testing.T) {
	webDev := Reading{Namespace: "web", Environment: "dev", Source: "web"}
	for _, tc := range []struct {
		report Report
		want   string
	}{
		{Report{webDev, Survey{Declared: map[string][]string{"dev": {"api", "web"}}, Missing: []string{"jobs"}}},
			`2 namespaces declare "dev"; 1 lacks the Secret: jobs`},
		{Report{webDev, Survey{Declared: map[string][]string{"dev": {"web"}, "prod": {"api", "db"}}}},
			`disagree: "dev" in web; "prod" in api, db`},
		{Report{webDev, Survey{Unchecked: "cannot list secrets"}}, "not checked (cannot list secrets)"},
	} {
		v, err := NewView(&tc.report, "c", "cl", defaultSecret)
		if err != nil || v.Namespaces() != tc.want {
			t.Errorf("%+v: %q, %v; want %q", tc.report, v.Namespaces(), err, tc.want)
		}
	}
	if _, err := NewView(&Report{Reading: Reading{Namespace: "web"}}, "c", "cl", defaultSecret); err == nil || !strings.Contains(err.Error(), `declare it with "kubectl envops init-env ENV --context c -n web"`) {
		t.Errorf("nothing declared: %v", err)
	}
	v := View{Reading: Reading{Namespace: "web", Source: "api"}, Secret: "environment", Key: "environment"}
	if got := v.ReadFrom(); got != `Secret api/environment, key "environment" (namespace "web" has no Secret "environment")` {
		t.Errorf("read from %q", got)
	}
}
