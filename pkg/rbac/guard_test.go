package rbac

import (
	"errors"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// The guard asks who the user is once, checks each namespace, and names
// the user in a refusal.
func TestGuardAsksWhoOnceAndChecksEachNamespace(t *testing.T) {
	client := fake.NewClientset()
	reviews := 0
	client.PrependReactor("create", "selfsubjectreviews", func(k8stesting.Action) (bool, runtime.Object, error) {
		reviews++
		return true, &authenticationv1.SelfSubjectReview{Status: authenticationv1.SelfSubjectReviewStatus{UserInfo: authenticationv1.UserInfo{Username: "ci"}}}, nil
	})
	client.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		r.Status.Allowed = r.Spec.ResourceAttributes.Namespace != "prod"
		return true, r, nil
	})
	g := NewGuard(client, Deploy)
	for _, ns := range []string{"web", "shop"} {
		if user, err := g.Check(t.Context(), ns, false); err != nil || user != "ci" {
			t.Fatalf("namespace %s: user %q, err %v", ns, user, err)
		}
	}
	_, err := g.Check(t.Context(), "prod", false)
	var denied *DeniedError
	if !errors.As(err, &denied) || denied.User != "ci" || denied.Namespace != "prod" {
		t.Errorf("err = %v, want a refusal in prod naming ci", err)
	}
	if reviews != 1 {
		t.Errorf("asked who the user is %d times, want once", reviews)
	}
}
