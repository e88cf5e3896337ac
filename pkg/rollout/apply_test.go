package rollout

import (
	"context"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/scheme"
	k8stesting "k8s.io/client-go/testing"
)

var (
	serviceResource   = corev1.SchemeGroupVersion.WithResource("services")
	namespaceResource = corev1.SchemeGroupVersion.WithResource("namespaces")
)

// applyServer is a dynamic client over a tracker that applies as the API
// server does, with a REST mapper that knows Services (namespaced) and
// Namespaces (cluster-scoped); it records every patch sent.
type applyServer struct {
	applier *ServerSideApplier
	tracker k8stesting.ObjectTracker
	mu      sync.Mutex
	patches []k8stesting.PatchActionImpl
}

func newApplyServer(t *testing.T, objs ...runtime.Object) *applyServer {
	t.Helper()
	s := &applyServer{tracker: newFieldTracker()}
	for _, o := range objs {
		if err := s.tracker.Add(o); err != nil {
			t.Fatal(err)
		}
	}
	dyn := dynamicfake.NewSimpleDynamicClient(scheme.Scheme)
	dyn.PrependReactor("*", "*", asUnstructured(k8stesting.ObjectReaction(s.tracker)))
	dyn.PrependReactor("*", "*", asUnstructured(serverWriteReaction(s.tracker, &s.mu)))
	dyn.PrependReactor("patch", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		s.patches = append(s.patches, a.(k8stesting.PatchActionImpl))
		return false, nil, nil
	})
	mapper := meta.NewDefaultRESTMapper([]schema.GroupVersion{corev1.SchemeGroupVersion})
	mapper.Add(corev1.SchemeGroupVersion.WithKind("Service"), meta.RESTScopeNamespace)
	mapper.Add(corev1.SchemeGroupVersion.WithKind("Namespace"), meta.RESTScopeRoot)
	s.applier = &ServerSideApplier{Dynamic: dyn, Mapper: mapper, Namespace: "shop"}
	return s
}

func (s *applyServer) service(t *testing.T, ns, name string) *corev1.Service {
	t.Helper()
	obj, err := s.tracker.Get(serviceResource, ns, name)
	if err != nil {
		return nil
	}
	return obj.(*corev1.Service)
}

func webService(port int64) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "web", "labels": map[string]any{"app": "web"}},
		"spec": map[string]any{
			"selector": map[string]any{"name": "web-server"},
			"ports":    []any{map[string]any{"name": "http", "port": port, "protocol": "TCP"}},
		},
		"status": map[string]any{"loadBalancer": map[string]any{}},
	}}
}

func clusterNamespace(label string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": "shop", "labels": map[string]any{"team": label}},
	}}
}

func TestApplierAppliesANamespacedObject(t *testing.T) {
	s := newApplyServer(t)
	ctx := context.Background()
	act, err := s.applier.Apply(ctx, webService(80), DryRunNone)
	if err != nil || act != ActionCreated {
		t.Fatalf("first apply: %q, %v", act, err)
	}
	svc := s.service(t, "shop", "web")
	if svc == nil || svc.Spec.Ports[0].Port != 80 {
		t.Fatalf("the Service is not in the ServerSideApplier's namespace as applied: %+v", svc)
	}
	if len(svc.ManagedFields) == 0 || svc.ManagedFields[0].Manager != FieldManager || svc.ManagedFields[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Fatalf("managed fields %+v, want an apply by %s", svc.ManagedFields, FieldManager)
	}
	// The status of a rendered object is never sent: apply does not own it.
	if body := string(s.patches[0].Patch); strings.Contains(body, "status") {
		t.Fatalf("the apply sent a status: %s", body)
	}

	if act, err = s.applier.Apply(ctx, webService(80), DryRunNone); err != nil || act != ActionUnchanged {
		t.Fatalf("same apply: %q, %v", act, err)
	}
	if act, err = s.applier.Apply(ctx, webService(8080), DryRunNone); err != nil || act != ActionUpdated {
		t.Fatalf("new port: %q, %v", act, err)
	}
	if got := s.service(t, "shop", "web").Spec.Ports[0].Port; got != 8080 {
		t.Fatalf("port %d after the update", got)
	}

	// An object naming its own namespace keeps it.
	other := webService(80)
	other.SetNamespace("billing")
	if ns, err := s.applier.Namespaced(other); err != nil || ns != "billing" {
		t.Fatalf("Namespaced = %q, %v", ns, err)
	}
	if act, err = s.applier.Apply(ctx, other, DryRunNone); err != nil || act != ActionCreated || s.service(t, "billing", "web") == nil {
		t.Fatalf("apply to its own namespace: %q, %v", act, err)
	}
	if ns, err := s.applier.Namespaced(webService(80)); err != nil || ns != "shop" {
		t.Fatalf("Namespaced = %q, %v; want the ServerSideApplier's", ns, err)
	}
}

func TestApplierAppliesAClusterScopedObject(t *testing.T) {
	s := newApplyServer(t)
	ns := clusterNamespace("shop")
	ns.SetNamespace("ignored")
	if got, err := s.applier.Namespaced(ns); err != nil || got != "" {
		t.Fatalf("Namespaced = %q, %v; want none for a cluster-scoped kind", got, err)
	}
	act, err := s.applier.Apply(context.Background(), clusterNamespace("shop"), DryRunNone)
	if err != nil || act != ActionCreated {
		t.Fatalf("apply: %q, %v", act, err)
	}
	obj, err := s.tracker.Get(namespaceResource, "", "shop")
	if err != nil || obj.(*corev1.Namespace).Labels["team"] != "shop" {
		t.Fatalf("stored namespace %v, %v", obj, err)
	}
	if s.patches[0].GetNamespace() != "" {
		t.Fatalf("a cluster-scoped object was applied in namespace %q", s.patches[0].GetNamespace())
	}
}

func TestApplierDryRunsChangeNothing(t *testing.T) {
	s := newApplyServer(t)
	ctx := context.Background()
	for _, mode := range []DryRun{DryRunClient, DryRunServer} {
		if act, err := s.applier.Apply(ctx, webService(80), mode); err != nil || act != ActionCreated {
			t.Fatalf("dry run %d of a new Service: %q, %v", mode, act, err)
		}
		if s.service(t, "shop", "web") != nil {
			t.Fatalf("dry run %d created the Service", mode)
		}
	}
	if _, err := s.applier.Apply(ctx, webService(80), DryRunNone); err != nil {
		t.Fatal(err)
	}
	rv := s.service(t, "shop", "web").ResourceVersion
	for _, mode := range []DryRun{DryRunClient, DryRunServer} {
		if act, err := s.applier.Apply(ctx, webService(80), mode); err != nil || act != ActionUnchanged {
			t.Fatalf("dry run %d of the same Service: %q, %v", mode, act, err)
		}
		if act, err := s.applier.Apply(ctx, webService(9090), mode); err != nil || (mode == DryRunClient && act != ActionUpdated) {
			// The server dry run's answer is TestApplierServerDryRunOfAChangeSaysUpdated's.
			t.Fatalf("dry run %d of a new port: %q, %v", mode, act, err)
		}
		if svc := s.service(t, "shop", "web"); svc.ResourceVersion != rv || svc.Spec.Ports[0].Port != 80 {
			t.Fatalf("dry run %d changed the Service", mode)
		}
	}
	// Client dry runs send nothing; server dry runs ask for dryRun=All.
	var kinds []string
	for _, p := range s.patches {
		kind := "real"
		if len(p.PatchOptions.DryRun) == 1 && p.PatchOptions.DryRun[0] == metav1.DryRunAll {
			kind = "dry"
		}
		kinds = append(kinds, kind)
	}
	if got := strings.Join(kinds, ","); got != "dry,real,dry,dry" {
		t.Fatalf("applies sent: %s; want the server dry runs and the one real apply", got)
	}
}

// A server dry run answers with the object as it would be, under the live
// resourceVersion (the API server does not bump it for a dry run), so the
// resourceVersion cannot tell a change from none there.
func TestApplierServerDryRunOfAChangeSaysUpdated(t *testing.T) {
	s := newApplyServer(t)
	ctx := context.Background()
	if _, err := s.applier.Apply(ctx, webService(80), DryRunNone); err != nil {
		t.Fatal(err)
	}
	if act, err := s.applier.Apply(ctx, webService(9090), DryRunServer); err != nil || act != ActionUpdated {
		t.Fatalf("server dry run of a new port: %q, %v; want %q", act, err, ActionUpdated)
	}
	if act, err := s.applier.Apply(ctx, webService(80), DryRunServer); err != nil || act != ActionUnchanged {
		t.Fatalf("server dry run of the same Service: %q, %v; want %q", act, err, ActionUnchanged)
	}
}

func TestApplierPreview(t *testing.T) {
	s := newApplyServer(t)
	ctx := context.Background()
	live, merged, err := s.applier.Preview(ctx, webService(80))
	if err != nil || live != nil {
		t.Fatalf("preview of a new Service: %v, %v", live, err)
	}
	if port, _, _ := unstructured.NestedSlice(merged.(*unstructured.Unstructured).Object, "spec", "ports"); len(port) != 1 {
		t.Fatalf("merged %v", merged)
	}
	if s.service(t, "shop", "web") != nil {
		t.Fatal("a preview created the Service")
	}
	if _, err := s.applier.Apply(ctx, webService(80), DryRunNone); err != nil {
		t.Fatal(err)
	}
	live, merged, err = s.applier.Preview(ctx, webService(8080))
	if err != nil {
		t.Fatal(err)
	}
	lp, _, _ := unstructured.NestedSlice(live.(*unstructured.Unstructured).Object, "spec", "ports")
	mp, _, _ := unstructured.NestedSlice(merged.(*unstructured.Unstructured).Object, "spec", "ports")
	if lp[0].(map[string]any)["port"] != int64(80) || mp[0].(map[string]any)["port"] != int64(8080) {
		t.Fatalf("live ports %v, merged ports %v", lp, mp)
	}
	if got := s.service(t, "shop", "web").Spec.Ports[0].Port; got != 80 {
		t.Fatalf("a preview changed the port to %d", got)
	}
}

func TestApplierRefusesAKindTheClusterDoesNotServe(t *testing.T) {
	s := newApplyServer(t)
	widget := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "w"}}}
	for name, call := range map[string]func() error{
		"Namespaced": func() error { _, err := s.applier.Namespaced(widget); return err },
		"Apply":      func() error { _, err := s.applier.Apply(context.Background(), widget, DryRunNone); return err },
		"Preview":    func() error { _, _, err := s.applier.Preview(context.Background(), widget); return err },
	} {
		if err := call(); err == nil || !strings.Contains(err.Error(), `Widget "w": the cluster does not serve example.com/v1`) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if len(s.patches) != 0 {
		t.Fatalf("%d patches sent for a kind the cluster does not serve", len(s.patches))
	}
}
