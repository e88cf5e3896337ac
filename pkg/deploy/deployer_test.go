package deploy

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/environment"
	"github.com/envops/kubectl-envops/pkg/rollout"
)

func rcObject(t *testing.T, name, ns string) *unstructured.Unstructured {
	return toUnstructured(t, &corev1.ReplicationController{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: KindReplicationController},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: new(int32(1)), Selector: map[string]string{"name": name},
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"name": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
			},
		},
	})
}

// testDeployer is a deployer to namespace shop of a cluster that declares
// environment dev there, on fakes; objs are the live objects.
func testDeployer(t *testing.T, objs ...runtime.Object) (*Deployer, *fake.Clientset) {
	t.Helper()
	cfg := config.Default()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "environment", Namespace: "shop"}, Data: map[string][]byte{"environment": []byte("dev")}}
	client := fake.NewClientset(append([]runtime.Object{secret}, objs...)...)
	mapper := meta.NewDefaultRESTMapper(nil)
	for _, gvk := range []schema.GroupVersionKind{{Version: "v1", Kind: "ReplicationController"}, {Version: "v1", Kind: "ConfigMap"}, {Group: "apps", Version: "v1", Kind: "Deployment"}} {
		mapper.Add(gvk, meta.RESTScopeNamespace)
	}
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	_ = appsv1.AddToScheme(scheme)
	dyn := dynamicfake.NewSimpleDynamicClient(scheme, objs...)
	d := &Deployer{
		Target:  &environment.Target{Env: "dev", Context: "envops-dev", Namespace: "shop", Config: cfg, Client: client},
		Tooling: "kubectl-envops/test",
		Guard:   func(context.Context, string, bool) (string, error) { return "tester", nil },
		Dynamic: dyn,
		Mapper:  mapper,
	}
	return d, client
}

func TestNamespacesOfAPlan(t *testing.T) {
	d, _ := testDeployer(t)
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "c", "namespace": "a"}}}
	p := &Plan{Controllers: []*unstructured.Unstructured{rcObject(t, "web", "")}, Others: []*unstructured.Unstructured{cm}}
	if got := d.Namespaces(p); !reflect.DeepEqual(got, []string{"a", "shop"}) {
		t.Errorf("namespaces %v, want [a shop]", got)
	}
	if got := d.Namespaces(&Plan{}); !reflect.DeepEqual(got, []string{"shop"}) {
		t.Errorf("an empty plan touches %v, want [shop]", got)
	}
}

// A controller of the other kind under the same name is refused before
// anything is written, and a Deployment cannot pause or continue.
func TestDeployRefusesBeforeWriting(t *testing.T) {
	deployment := toUnstructured(t, &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: KindDeployment},
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"name": "web"}}},
	})
	for _, tc := range []struct {
		name     string
		live     []runtime.Object
		plan     *unstructured.Unstructured
		opts     rollout.Options
		want     string
		usageErr bool
	}{
		{name: "an RC beside a Deployment", live: []runtime.Object{&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}}},
			plan: rcObject(t, "web", ""), opts: rollout.Options{DryRun: rollout.DryRunClient},
			want: `a Deployment named "web" already runs in namespace "shop", and a ReplicationController beside it would run a second set of pods: deploy with --kind Deployment`},
		{name: "a Deployment asked to pause", plan: deployment, opts: rollout.Options{DryRun: rollout.DryRunClient, PauseAfter: 1}, want: `Deployment "web" pauses with "kubectl rollout pause"`, usageErr: true},
		{name: "a Deployment asked to continue", plan: deployment, opts: rollout.Options{DryRun: rollout.DryRunClient, Continue: true}, want: `--pause-after and --continue apply to ReplicationControllers`, usageErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, client := testDeployer(t, tc.live...)
			client.ClearActions()
			var results []ObjectResult
			d.Done = func(_ string, r ObjectResult) { results = append(results, r) }
			res := d.Deploy(t.Context(), Request{App: "web", Plan: &Plan{Controllers: []*unstructured.Unstructured{tc.plan}}, Options: tc.opts})
			err := res.Err
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, ErrNotPausable) != tc.usageErr || res.Outcome != OutcomeFailed {
				t.Fatalf("outcome %s, err = %v, want %q", res.Outcome, err, tc.want)
			}
			for _, a := range client.Actions() {
				if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
					t.Errorf("the refused deploy sent %s %s", a.GetVerb(), a.GetResource().Resource)
				}
			}
			if len(results) != 0 {
				t.Errorf("results %v for a refused deploy", results)
			}
		})
	}
}

// The environment guard runs before anything else is read or written: a
// namespace that declares another environment stops the deploy.
func TestDeployRefusesTheWrongEnvironment(t *testing.T) {
	d, client := testDeployer(t)
	d.Target.Env = "prod"
	client.ClearActions()
	res := d.Deploy(t.Context(), Request{App: "web", Plan: &Plan{Controllers: []*unstructured.Unstructured{rcObject(t, "web", "")}}, Options: rollout.Options{}})
	var ge *environment.GuardError
	if !errors.As(res.Err, &ge) || ge.Found != "dev" {
		t.Fatalf("err = %v, want the guard to refuse a namespace declaring dev", res.Err)
	}
	for _, a := range client.Actions() {
		if a.GetVerb() != "get" {
			t.Errorf("the refused deploy sent %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
}

func TestParseKind(t *testing.T) {
	for in, want := range map[string]string{"": "", "rc": KindReplicationController, "ReplicationController": KindReplicationController, "deploy": KindDeployment, "DEPLOYMENT": KindDeployment} {
		if got, ok := ParseKind(in); !ok || got != want {
			t.Errorf("ParseKind(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if _, ok := ParseKind("StatefulSet"); ok {
		t.Error("StatefulSet parsed as a controller kind deploy rolls")
	}
}
