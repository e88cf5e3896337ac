package cmd

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/environment"
)

func TestInitEnvBindsTheSecretToItsCluster(t *testing.T) {
	client := fake.NewClientset(envNamespace("web"), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system", UID: types.UID("uid-1")}})
	o, _, _ := initEnvOptions(client, config.Default(), "dev")
	if err := o.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	s, err := client.CoreV1().Secrets("web").Get(t.Context(), "environment", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Annotations[environment.IdentityAnnotation]; got != "kube-system:uid-1" {
		t.Errorf("annotation %s = %q, want kube-system:uid-1", environment.IdentityAnnotation, got)
	}
}

// A role without the identity read is refused before anything is
// written, in one line naming the rbac fix.
func TestInitEnvWithoutTheIdentityReadIsRefused(t *testing.T) {
	client := fake.NewClientset(envNamespace("web"), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system", UID: types.UID("uid-1")}})
	client.PrependReactor("get", "namespaces", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "kube-system", nil)
	})
	o, _, _ := initEnvOptions(client, config.Default(), "dev")
	err := o.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "kube-system") || !strings.Contains(err.Error(), "rbac --for init-env") {
		t.Fatalf("err = %v, want a refusal naming kube-system and the rbac fix", err)
	}
	if n := writes(client); n != 0 {
		t.Errorf("the refused run wrote %d times", n)
	}
}
