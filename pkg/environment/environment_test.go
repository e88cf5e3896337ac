package environment

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/envops/kubectl-envops/pkg/config"
)

var defaultSecret = config.Default().Secret

func secret(ns, name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func TestRead(t *testing.T) {
	custom := config.Secret{Name: "cluster-env", Key: "env", MountPath: "/etc/env"}
	tests := []struct {
		name    string
		objects []runtime.Object
		secret  config.Secret
		want    string
		wantErr string
		notDecl bool
	}{
		{name: "declared", objects: []runtime.Object{secret("web", "environment", map[string]string{"environment": "prod"})}, secret: defaultSecret, want: "prod"},
		{name: "trailing newline from echo is trimmed", objects: []runtime.Object{secret("web", "environment", map[string]string{"environment": "dev\n"})}, secret: defaultSecret, want: "dev"},
		{name: "custom name and key", objects: []runtime.Object{secret("web", "cluster-env", map[string]string{"env": "staging"})}, secret: custom, want: "staging"},
		{name: "no Secret", secret: defaultSecret, notDecl: true, wantErr: `no environment declared: namespace "web" has no Secret "environment"`},
		{name: "Secret without the key", objects: []runtime.Object{secret("web", "environment", map[string]string{"password": "hunter2"})}, secret: defaultSecret, notDecl: true,
			wantErr: `no environment declared: Secret "environment" in namespace "web" has no key "environment"`},
		{name: "Secret in another namespace does not count", objects: []runtime.Object{secret("api", "environment", map[string]string{"environment": "prod"})}, secret: defaultSecret, notDecl: true,
			wantErr: `no environment declared: namespace "web" has no Secret "environment"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(tt.objects...)
			got, err := Read(context.Background(), client, "web", tt.secret)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %s", err, tt.wantErr)
				}
				if errors.Is(err, ErrNotDeclared) != tt.notDecl {
					t.Errorf("errors.Is(err, ErrNotDeclared) = %v, want %v", !tt.notDecl, tt.notDecl)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Read = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestReadForbidden(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "environment", errors.New("user cannot get"))
	})
	_, err := Read(context.Background(), client, "web", defaultSecret)
	if err == nil || errors.Is(err, ErrNotDeclared) || !apierrors.IsForbidden(err) {
		t.Fatalf("a denied read must be a forbidden error, not a missing declaration: %v", err)
	}
	if !strings.HasPrefix(err.Error(), `cannot read Secret "environment" in namespace "web": `) {
		t.Errorf("error = %v", err)
	}
}

func TestVerify(t *testing.T) {
	tests := []struct {
		name     string
		objects  []runtime.Object
		expected string
		context  string
		want     string // "" = success
	}{
		{name: "matching environment passes", objects: []runtime.Object{secret("web", "environment", map[string]string{"environment": "prod"})}, expected: "prod"},
		{
			name:     "prod overlay onto dev cluster is refused, naming context, namespace and both values",
			objects:  []runtime.Object{secret("web", "environment", map[string]string{"environment": "dev"})},
			expected: "prod", context: "dev-cluster",
			want: `environment mismatch: context "dev-cluster" namespace "web" holds environment "dev", not "prod"; check with "kubectl envops env --context dev-cluster -n web" and pick the cluster that serves "prod" with --context or --env`,
		},
		{
			name:     "mismatch without a context still names the namespace",
			objects:  []runtime.Object{secret("web", "environment", map[string]string{"environment": "staging"})},
			expected: "prod",
			want:     `environment mismatch: namespace "web" holds environment "staging", not "prod"; check with "kubectl envops env -n web" and pick the cluster that serves "prod" with --context or --env`,
		},
		{
			name:     "missing Secret says how to declare it",
			objects:  []runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "web"}}},
			expected: "dev", context: "kind-dev",
			want: `context "kind-dev" namespace "web" declares no environment (no Secret "environment" with key "environment"), expected "dev"; if this cluster serves "dev" run "kubectl envops init-env dev --context kind-dev -n web", otherwise pick the right cluster with --context or --env`,
		},
		{
			name:     "values differing only by case are different environments",
			objects:  []runtime.Object{secret("web", "environment", map[string]string{"environment": "Prod"})},
			expected: "prod", context: "c",
			want: `environment mismatch: context "c" namespace "web" holds environment "Prod", not "prod"; check with "kubectl envops env --context c -n web" and pick the cluster that serves "prod" with --context or --env`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(context.Background(), fake.NewClientset(tt.objects...), "web", tt.expected, defaultSecret)
			if tt.context != "" {
				err = WithContext(err, tt.context)
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Verify = %v, want success", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Verify error:\n got %v\nwant %s", err, tt.want)
			}
			var ge *GuardError
			if !errors.As(err, &ge) {
				t.Errorf("error is not a *GuardError")
			}
		})
	}
}

func TestWithContextLeavesOtherErrorsAlone(t *testing.T) {
	plain := errors.New("boom")
	if got := WithContext(plain, "ctx"); got != plain {
		t.Errorf("WithContext changed an unrelated error: %v", got)
	}
	if WithContext(nil, "ctx") != nil {
		t.Errorf("WithContext(nil) must stay nil")
	}
}

func TestPlan(t *testing.T) {
	managed := func(ns, env string) *corev1.Secret {
		s := secret(ns, "environment", map[string]string{"environment": env})
		s.Labels = map[string]string{ManagedByLabel: ManagedByValue}
		return s
	}
	tests := []struct {
		name        string
		objects     []runtime.Object
		namespaces  []string
		env         string
		opts        PlanOptions
		wantActions []Action
		wantErr     string
	}{
		{name: "new namespace gets a Secret", namespaces: []string{"web"}, env: "dev", wantActions: []Action{Create}},
		{name: "second run changes nothing", objects: []runtime.Object{managed("web", "dev")}, namespaces: []string{"web"}, env: "dev", wantActions: []Action{Unchanged}},
		{name: "unlabelled Secret with the same value gets the label", objects: []runtime.Object{secret("web", "environment", map[string]string{"environment": "dev"})}, namespaces: []string{"web"}, env: "dev", wantActions: []Action{Update}},
		{name: "Secret without the key gets it", objects: []runtime.Object{secret("web", "environment", map[string]string{"other": "x"})}, namespaces: []string{"web"}, env: "dev", wantActions: []Action{Update}},
		{
			name:    "target holding another environment is refused",
			objects: []runtime.Object{managed("web", "dev")}, namespaces: []string{"web"}, env: "prod",
			wantErr: `refusing to declare environment "prod" in namespace "web": the cluster already declares "dev" in namespace web (Secret "environment"); one cluster serves one environment, so pick the right cluster with --context, or pass --force to overwrite`,
		},
		{name: "force overwrites", objects: []runtime.Object{managed("web", "dev")}, namespaces: []string{"web"}, env: "prod", opts: PlanOptions{Force: true}, wantActions: []Action{Update}},
		{
			name:       "another namespace of the cluster declaring another environment is refused",
			namespaces: []string{"web"}, env: "prod",
			opts:    PlanOptions{Declared: map[string]string{"api": "dev", "db": "dev", "cache": "staging", "web2": "prod"}},
			wantErr: `refusing to declare environment "prod" in namespace "web": the cluster already declares "dev" in namespaces api, db; "staging" in namespace cache (Secret "environment"); one cluster serves one environment, so pick the right cluster with --context, or pass --force to overwrite`,
		},
		{name: "declarations of the same environment are fine", namespaces: []string{"web", "api"}, env: "prod", opts: PlanOptions{Declared: map[string]string{"db": "prod"}}, wantActions: []Action{Create, Create}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(tt.objects...)
			changes, err := Plan(context.Background(), client, tt.namespaces, tt.env, defaultSecret, tt.opts)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error:\n got %v\nwant %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(changes) != len(tt.wantActions) {
				t.Fatalf("got %d changes, want %d", len(changes), len(tt.wantActions))
			}
			for i, c := range changes {
				if c.Action != tt.wantActions[i] {
					t.Errorf("namespace %s: action %s, want %s", c.Namespace, c.Action, tt.wantActions[i])
				}
				if got := string(c.Secret.Data["environment"]); c.Action != Unchanged && got != tt.env {
					t.Errorf("namespace %s: planned value %q, want %q", c.Namespace, got, tt.env)
				}
				if c.Secret.Labels[ManagedByLabel] != ManagedByValue {
					t.Errorf("namespace %s: planned Secret lacks the managed-by label", c.Namespace)
				}
			}
			// Planning must not write.
			for _, a := range client.Actions() {
				if a.GetVerb() != "get" {
					t.Errorf("Plan sent a %s request", a.GetVerb())
				}
			}
		})
	}
}

func TestConflictErrorNamesTheContextAndShortensLongLists(t *testing.T) {
	found := map[string]string{}
	for _, ns := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		found[ns] = "dev"
	}
	err := WithContext(&ConflictError{Env: "prod", Found: found, Namespaces: []string{"x", "y"}, Secret: defaultSecret}, "envops-dev")
	want := `refusing to declare environment "prod" in 2 namespaces: context "envops-dev" already declares "dev" in namespaces a, b, c, d, e and 2 more (Secret "environment"); one cluster serves one environment, so pick the right cluster with --context, or pass --force to overwrite`
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
}

func TestApplyWritesAndKeepsOtherKeys(t *testing.T) {
	existing := secret("web", "environment", map[string]string{"environment": "dev", "token": "s3cr3t"})
	client := fake.NewClientset(existing)
	changes, err := Plan(context.Background(), client, []string{"web", "api"}, "prod", defaultSecret, PlanOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(context.Background(), client, changes, false, "kubectl-envops"); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"web", "api"} {
		got, err := client.CoreV1().Secrets(ns).Get(context.Background(), "environment", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("namespace %s: %v", ns, err)
		}
		if string(got.Data["environment"]) != "prod" || got.Labels[ManagedByLabel] != ManagedByValue {
			t.Errorf("namespace %s: data %q labels %v", ns, got.Data["environment"], got.Labels)
		}
	}
	web, _ := client.CoreV1().Secrets("web").Get(context.Background(), "environment", metav1.GetOptions{})
	if string(web.Data["token"]) != "s3cr3t" {
		t.Errorf("updating the environment key dropped another key of the Secret")
	}
}

func TestApplyExplainsAMissingNamespace(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("create", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "nope")
	})
	changes := []Change{{Namespace: "nope", Action: Create, Secret: Desired("nope", "dev", defaultSecret)}}
	_, err := Apply(context.Background(), client, changes, false, "kubectl-envops")
	want := `cannot create Secret "environment": namespaces "nope" not found; create the namespace with "kubectl create namespace nope" or pick another with -n`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestSanitizeKeepsOnlyTheEnvironmentKey(t *testing.T) {
	s := secret("web", "environment", map[string]string{"environment": "prod", "token": "s3cr3t"})
	s.StringData = map[string]string{"password": "hunter2"}
	s.Annotations = map[string]string{corev1.LastAppliedConfigAnnotation: `{"data":{"token":"czNjcjN0"}}`, "team": "web"}
	out := Sanitize(s, defaultSecret)
	if len(out.Data) != 1 || string(out.Data["environment"]) != "prod" {
		t.Errorf("sanitized data = %v, want only environment=prod", out.Data)
	}
	if out.StringData != nil {
		t.Errorf("sanitized stringData = %v, want none", out.StringData)
	}
	if _, ok := out.Annotations[corev1.LastAppliedConfigAnnotation]; ok || out.Annotations["team"] != "web" {
		t.Errorf("annotations = %v, want the last-applied one dropped and others kept", out.Annotations)
	}
	if string(s.Data["token"]) != "s3cr3t" {
		t.Errorf("Sanitize modified its input")
	}
}

func TestInspect(t *testing.T) {
	decl := func(ns, env string) runtime.Object {
		return secret(ns, "environment", map[string]string{"environment": env})
	}
	terminating := namespace("old")
	terminating.Status.Phase = corev1.NamespaceTerminating
	tests := []struct {
		name        string
		objects     []runtime.Object
		wantEnv     string
		wantSource  string
		wantMissing []string
		consistent  bool
	}{
		{
			name:    "all namespaces agree",
			objects: []runtime.Object{namespace("web"), namespace("api"), namespace("kube-system"), decl("web", "dev"), decl("api", "dev")},
			wantEnv: "dev", wantSource: "web", wantMissing: []string{}, consistent: true,
		},
		{
			name:    "namespaces lacking the Secret are listed, system and terminating ones aside",
			objects: []runtime.Object{namespace("web"), namespace("api"), namespace("jobs"), namespace("kube-public"), terminating, decl("web", "dev")},
			wantEnv: "dev", wantSource: "web", wantMissing: []string{"api", "jobs"}, consistent: true,
		},
		{
			name:    "asked namespace lacks it but the others agree",
			objects: []runtime.Object{namespace("web"), namespace("api"), decl("api", "prod")},
			wantEnv: "prod", wantSource: "api", wantMissing: []string{"web"}, consistent: true,
		},
		{
			name:    "disagreement is reported",
			objects: []runtime.Object{namespace("web"), namespace("api"), decl("web", "dev"), decl("api", "prod")},
			wantEnv: "dev", wantSource: "web", wantMissing: []string{}, consistent: false,
		},
		{
			name:    "asked namespace lacks it and the others disagree",
			objects: []runtime.Object{namespace("web"), namespace("a"), namespace("b"), decl("a", "dev"), decl("b", "prod")},
			wantEnv: "", wantSource: "", wantMissing: []string{"web"}, consistent: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Inspect(context.Background(), fake.NewClientset(tt.objects...), "web", defaultSecret)
			if err != nil {
				t.Fatal(err)
			}
			if r.Environment != tt.wantEnv || r.Source != tt.wantSource || r.Consistent() != tt.consistent || strings.Join(r.Missing, ",") != strings.Join(tt.wantMissing, ",") {
				t.Errorf("got env=%q source=%q consistent=%v missing=%v; want %q %q %v %v",
					r.Environment, r.Source, r.Consistent(), r.Missing, tt.wantEnv, tt.wantSource, tt.consistent, tt.wantMissing)
			}
		})
	}
}

func TestInspectWithoutListPermission(t *testing.T) {
	client := fake.NewClientset(namespace("web"), secret("web", "environment", map[string]string{"environment": "dev"}))
	client.PrependReactor("list", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", errors.New("no list"))
	})
	r, err := Inspect(context.Background(), client, "web", defaultSecret)
	if err != nil {
		t.Fatal(err)
	}
	if r.Environment != "dev" || r.Declared != nil || !strings.Contains(r.Unchecked, "cannot list Secrets") {
		t.Errorf("got %+v; want the namespace's value and a reason why others were not checked", r)
	}
}

func TestTargetNamespaces(t *testing.T) {
	terminating := namespace("leaving")
	terminating.Status.Phase = corev1.NamespaceTerminating
	client := fake.NewClientset(namespace("web"), namespace("default"), namespace("kube-system"), namespace("kube-public"), namespace("kube-node-lease"), terminating, namespace("api"))
	got, err := TargetNamespaces(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "api,default,web" {
		t.Errorf("TargetNamespaces = %v, want api, default, web", got)
	}
}

func TestDeclarationsIgnoreNamespacesBeingDeleted(t *testing.T) {
	leaving := namespace("leaving")
	leaving.Status.Phase = corev1.NamespaceTerminating
	client := fake.NewClientset(namespace("web"), leaving,
		secret("web", "environment", map[string]string{"environment": "dev"}),
		secret("leaving", "environment", map[string]string{"environment": "prod"}))
	got, err := Declarations(context.Background(), client, defaultSecret)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["web"] != "dev" {
		t.Errorf("Declarations = %v, want only web=dev", got)
	}
}
