package fleet

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/environment"
)

func TestTargets(t *testing.T) {
	cfg := config.Default()
	cfg.Environments = map[string]config.Environment{
		"dev": {Context: "c-dev"}, "staging": {Context: "c-stg", Namespace: "shop"}, "prod": {Context: "c-prod"}, "qa": {Context: "c-qa"},
	}
	cfg.Promotion = []string{"dev", "staging", "prod"}
	raw := clientcmdapi.Config{Contexts: map[string]*clientcmdapi.Context{
		"c-dev": {Namespace: "web"}, "c-stg": {}, "c-prod": {}, "c-qa": {}, "other": {Namespace: "tools"},
	}}
	show := func(ts []Target) string {
		var parts []string
		for _, t := range ts {
			parts = append(parts, t.Env+"@"+t.Context+"/"+t.Namespace)
		}
		return strings.Join(parts, " ")
	}
	for _, tc := range []struct {
		all       bool
		namespace string
		want      string
	}{
		// The promotion order first, then the environments left out of it;
		// a namespace from the mapping, else the context, else default.
		{false, "", "dev@c-dev/web staging@c-stg/shop prod@c-prod/default qa@c-qa/default"},
		{false, "ns", "dev@c-dev/ns staging@c-stg/ns prod@c-prod/ns qa@c-qa/ns"},
		// Every context by name, with the environment mapped to it.
		{true, "", "dev@c-dev/web prod@c-prod/default qa@c-qa/default staging@c-stg/shop @other/tools"},
	} {
		if got := show(Targets(cfg, raw, tc.all, tc.namespace)); got != tc.want {
			t.Errorf("all contexts %v, namespace %q:\n got %s\nwant %s", tc.all, tc.namespace, got, tc.want)
		}
	}
}

func TestSecretCheck(t *testing.T) {
	secret := func(env, binding string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "environment", Namespace: "web"}, Data: map[string][]byte{"environment": []byte(env)}}
		if binding != "" {
			s.Annotations = map[string]string{environment.IdentityAnnotation: binding}
		}
		return s
	}
	system := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system", UID: types.UID("uid-1")}}
	for _, tc := range []struct {
		name string
		env  string
		objs []corev1.Secret
		want string
	}{
		{"bound to this cluster", "dev", []corev1.Secret{*secret("dev", "kube-system:uid-1")}, "ok"},
		{"written by an earlier version", "dev", []corev1.Secret{*secret("dev", "")}, "unbound"},
		{"copied from another cluster", "dev", []corev1.Secret{*secret("dev", "kube-system:uid-2")}, "another cluster"},
		{"another environment", "prod", []corev1.Secret{*secret("dev", "kube-system:uid-1")}, "holds dev"},
		{"no Secret", "dev", nil, "missing"},
		{"no Secret, no environment expected", "", nil, "missing"},
		{"no namespace", "dev", nil, "no namespace"},
		{"no namespace, no environment expected", "", nil, "no namespace"},
		{"a namespace being deleted", "dev", []corev1.Secret{*secret("dev", "kube-system:uid-1")}, "terminating"},
		{"whatever it holds, without an environment expected", "", []corev1.Secret{*secret("qa", "kube-system:uid-1")}, "ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			web := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "web"}}
			if strings.HasPrefix(tc.name, "no namespace") {
				web.Name = "elsewhere"
			}
			if tc.want == "terminating" {
				web.Status.Phase = corev1.NamespaceTerminating
			}
			client := fake.NewClientset(system, web)
			for i := range tc.objs {
				_, _ = client.CoreV1().Secrets("web").Create(context.Background(), &tc.objs[i], metav1.CreateOptions{})
			}
			got, err := SecretCheck(context.Background(), client, Target{Env: tc.env, Context: "c", Namespace: "web"}, config.Default().Secret)
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestHealthy(t *testing.T) {
	if err := Healthy([]StatusRow{{Environment: "dev", App: "web", State: "steady", OK: true}}); err != nil {
		t.Errorf("every row ok: %v", err)
	}
	err := Healthy([]StatusRow{
		{Environment: "dev", App: "web", State: "steady", Ready: 1, Desired: 2},
		{Environment: "staging", App: "web", Secret: "holds dev", State: "steady"},
		{Context: "c-prod", State: "unreachable: no answer within 10s"},
		{Environment: "qa", App: "web", State: "failed", OK: false},
	})
	want := "not every environment is steady and healthy: dev/web 1/2 ready; staging/web environment Secret: holds dev; c-prod unreachable: no answer within 10s; qa/web failed"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}
