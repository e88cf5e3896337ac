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
)

// The guard names a namespace that does not exist, or is being deleted,
// rather than a namespace without the Secret; a user who may not read
// namespaces gets the guard's usual answer.
func TestCheckNamesTheNamespace(t *testing.T) {
	terminating := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
	active := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "web"}}
	declared := secret("web", "environment", map[string]string{"environment": "dev"})
	for _, tc := range []struct {
		name       string
		objects    []runtime.Object
		forbidden  bool
		want       string
		notFound   bool
		guardError bool
	}{
		{name: "no such namespace", notFound: true,
			want: `context "c" namespace "web" not found: check the name given to -n (or the context's namespace; list them with "kubectl get namespaces --context c"), or, on a new cluster that serves "dev", create and declare it with "kubectl envops init-env dev --create-namespace --context c -n web"`},
		{name: "a Terminating namespace that still holds its Secret", objects: []runtime.Object{terminating, declared},
			want: `context "c" namespace "web" is being deleted (Terminating): nothing can run in it; pick another namespace with -n, or wait until "kubectl get namespaces --context c" no longer lists it and create it again`},
		{name: "a Terminating namespace that lost its Secret", objects: []runtime.Object{terminating}, want: "is being deleted (Terminating)"},
		{name: "an active namespace without the Secret", objects: []runtime.Object{active}, want: "declares no environment", guardError: true},
		{name: "namespaces the user may not read", objects: []runtime.Object{terminating}, forbidden: true, want: "declares no environment", guardError: true},
		{name: "an active namespace that declares the environment", objects: []runtime.Object{active, declared}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(tc.objects...)
			if tc.forbidden {
				client.PrependReactor("get", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "web", errors.New("no"))
				})
			}
			_, err := CheckIn(context.Background(), client, "c", "web", "dev", defaultSecret)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if got := errors.Is(err, ErrNamespaceNotFound); got != tc.notFound {
				t.Errorf("errors.Is(err, ErrNamespaceNotFound) = %v", got)
			}
			var ge *GuardError
			if errors.As(err, &ge) != tc.guardError {
				t.Errorf("err is a *GuardError: %v, want %v", !tc.guardError, tc.guardError)
			}
		})
	}
}

// env reads through Inspect: a namespace that does not exist is named as
// such, not as one without the Secret.
func TestInspectNamesAMissingNamespace(t *testing.T) {
	_, err := Inspect(context.Background(), fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "web"}}), "nosuch", defaultSecret)
	if !errors.Is(err, ErrNamespaceNotFound) || !strings.Contains(err.Error(), `namespace "nosuch" not found`) || !strings.Contains(err.Error(), "kubectl get namespaces") {
		t.Fatalf("err = %v, want namespace \"nosuch\" not found and how to list namespaces", err)
	}
	r, err := Inspect(context.Background(), fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "web"}}), "web", defaultSecret)
	if err != nil || r.Environment != "" {
		t.Fatalf("a namespace without the Secret: %+v, %v", r, err)
	}
}
