package environment

import (
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

func TestApplyRetriesAConflictOnAFreshRead(t *testing.T) {
	s := config.Default().Secret
	client := fake.NewClientset(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: "web"},
		Data:       map[string][]byte{s.Key: []byte("staging"), "db": []byte("old")},
	})
	changes, err := Plan(t.Context(), client, []string{"web"}, "dev", s, PlanOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	// Someone else changes another key between the read and the write:
	// the first update is refused as a conflict.
	conflicts := 0
	client.PrependReactor("update", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts > 0 {
			return false, nil, nil
		}
		conflicts++
		other, _ := client.Tracker().Get(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, "web", s.Name)
		sec := other.(*corev1.Secret).DeepCopy()
		sec.Data["db"] = []byte("new")
		if err := client.Tracker().Update(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, sec, "web"); err != nil {
			t.Fatal(err)
		}
		return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "secrets"}, s.Name, nil)
	})
	if _, err := Apply(t.Context(), client, changes, false, "kubectl-envops"); err != nil {
		t.Fatalf("a conflict was not retried: %v", err)
	}
	got, err := client.CoreV1().Secrets("web").Get(t.Context(), s.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Data[s.Key]) != "dev" || string(got.Data["db"]) != "new" || got.Labels[ManagedByLabel] != ManagedByValue {
		t.Errorf("after the retry: environment %q, db %q, labels %v; want dev, the other writer's new, managed-by", got.Data[s.Key], got.Data["db"], got.Labels)
	}
	if conflicts != 1 {
		t.Errorf("%d conflicts, want 1", conflicts)
	}
}
