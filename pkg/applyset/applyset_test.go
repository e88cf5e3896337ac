package applyset

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kubectl/pkg/cmd/apply"
)

// The id must be the one kubectl computes for the same parent, or kubectl
// would not see the set.
func TestIDIsKubectls(t *testing.T) {
	s := Set{App: "web", Namespace: "shop"}
	parent := &apply.ApplySetParentRef{Name: s.ParentName(), Namespace: s.Namespace, RESTMapping: &meta.RESTMapping{
		GroupVersionKind: schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
		Resource:         schema.GroupVersionResource{Version: "v1", Resource: "configmaps"},
		Scope:            meta.RESTScopeNamespace,
	}}
	want := apply.NewApplySet(parent, apply.ApplySetTooling{Name: ToolingName, Version: "v1"}, nil, nil).ID()
	if got := s.ID(); got != want {
		t.Errorf("id %q, kubectl computes %q", got, want)
	}
	if other := (Set{App: "web", Namespace: "other"}).ID(); other == s.ID() {
		t.Error("the sets of one app in two namespaces share an id")
	}
}

func TestUnionKeepsEveryKindAndNamespaceOnce(t *testing.T) {
	cm := schema.GroupKind{Kind: "ConfigMap"}
	rc := schema.GroupKind{Kind: "ReplicationController"}
	dep := schema.GroupKind{Group: "apps", Kind: "Deployment"}
	u := Union(&Parent{Kinds: []schema.GroupKind{cm, rc}, Namespaces: []string{"shop"}}, &Parent{Kinds: []schema.GroupKind{rc, dep}, Namespaces: []string{"shop", "jobs"}})
	if len(u.Kinds) != 3 || len(u.Namespaces) != 2 {
		t.Errorf("union %+v", u)
	}
	if Union(nil, nil) == nil {
		t.Error("the union of no parents is nil")
	}
}
