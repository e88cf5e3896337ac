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

// A role that may not read kube-system still declares the environment, unbound, and says so.
func TestInitEnvWithoutTheIdentityReadWritesUnboundAndSaysSo(t *testing.T) {
	client := fake.NewClientset(envNamespace("web"), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system", UID: types.UID("uid-1")}})
	client.PrependReactor("get", "namespaces", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "kube-system", nil)
	})
	o, _, errOut := initEnvOptions(client, config.Default(), "dev")
	if err := o.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	s, err := client.CoreV1().Secrets("web").Get(t.Context(), "environment", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Annotations[environment.IdentityAnnotation]; ok || string(s.Data["environment"]) != "dev" {
		t.Errorf("want an unbound Secret declaring dev, got annotations %v data %q", s.Annotations, s.Data["environment"])
	}
	if !strings.Contains(errOut.String(), "was not bound to the cluster") || !strings.Contains(errOut.String(), "rbac --for init-env") {
		t.Errorf("stderr should say the Secret is unbound and how to fix it:\n%s", errOut)
	}
}
