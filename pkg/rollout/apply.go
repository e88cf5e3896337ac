package rollout

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
)

// ServerSideApplier applies the objects that go with a controller (Services,
// ConfigMaps, ...) with server-side apply under FieldManager.
type ServerSideApplier struct {
	Dynamic dynamic.Interface
	Mapper  meta.RESTMapper
	// Namespace is given to namespaced objects that name none.
	Namespace string
}

// Namespaced returns obj's namespace as it will be applied: its own, the
// applier's when it has none, or "" for a cluster-scoped kind.
func (a *ServerSideApplier) Namespaced(obj *unstructured.Unstructured) (string, error) {
	m, err := a.mapping(obj)
	if err != nil {
		return "", err
	}
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		return "", nil
	}
	if ns := obj.GetNamespace(); ns != "" {
		return ns, nil
	}
	return a.Namespace, nil
}

func (a *ServerSideApplier) mapping(obj *unstructured.Unstructured) (*meta.RESTMapping, error) {
	gvk := obj.GroupVersionKind()
	m, err := a.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("%s %q: the cluster does not serve %s: %w", obj.GetKind(), obj.GetName(), gvk.GroupVersion(), err)
	}
	return m, nil
}

func (a *ServerSideApplier) resource(obj *unstructured.Unstructured) (dynamic.ResourceInterface, string, error) {
	m, err := a.mapping(obj)
	if err != nil {
		return nil, "", err
	}
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		return a.Dynamic.Resource(m.Resource), "", nil
	}
	ns := obj.GetNamespace()
	if ns == "" {
		ns = a.Namespace
	}
	return a.Dynamic.Resource(m.Resource).Namespace(ns), ns, nil
}

// Apply applies obj and tells whether that created or changed it.
func (a *ServerSideApplier) Apply(ctx context.Context, obj *unstructured.Unstructured, dryRun DryRun) (Action, error) {
	ri, ns, err := a.resource(obj)
	if err != nil {
		return "", err
	}
	obj = obj.DeepCopy()
	obj.SetNamespace(ns)
	live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		live, err = nil, nil
	}
	if err != nil {
		return "", fmt.Errorf("cannot read %s %q: %w", obj.GetKind(), obj.GetName(), err)
	}
	if dryRun == DryRunClient {
		switch {
		case live == nil:
			return ActionCreated, nil
		case equality.Semantic.DeepDerivative(withoutStatus(obj).Object, live.Object):
			return ActionUnchanged, nil
		}
		return ActionUpdated, nil
	}
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
	if dryRun == DryRunServer {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if err := fence(ctx, ns); err != nil {
		return "", err
	}
	out, err := ri.Apply(ctx, obj.GetName(), withoutStatus(obj), opts)
	if err != nil {
		return "", fmt.Errorf("cannot apply %s %q: %w", obj.GetKind(), obj.GetName(), err)
	}
	switch {
	case live == nil:
		return ActionCreated, nil
	case dryRun == DryRunServer:
		// A dry run keeps the live resourceVersion whatever it would change,
		// so the content tells.
		if equality.Semantic.DeepEqual(contentOf(out), contentOf(live)) {
			return ActionUnchanged, nil
		}
	case out.GetResourceVersion() == live.GetResourceVersion():
		return ActionUnchanged, nil
	}
	return ActionUpdated, nil
}

// contentOf is obj without what the server changes on every write.
func contentOf(obj *unstructured.Unstructured) map[string]any {
	c := withoutStatus(obj)
	for _, f := range []string{"managedFields", "resourceVersion", "generation"} {
		unstructured.RemoveNestedField(c.Object, "metadata", f)
	}
	return c.Object
}

// Preview returns obj as it is now (nil when missing) and as applying it
// would leave it, computed by the server without persisting anything.
func (a *ServerSideApplier) Preview(ctx context.Context, obj *unstructured.Unstructured) (live, merged runtime.Object, err error) {
	ri, ns, err := a.resource(obj)
	if err != nil {
		return nil, nil, err
	}
	obj = obj.DeepCopy()
	obj.SetNamespace(ns)
	l, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, nil, fmt.Errorf("cannot read %s %q: %w", obj.GetKind(), obj.GetName(), err)
	default:
		live = l
	}
	m, err := ri.Apply(ctx, obj.GetName(), withoutStatus(obj), metav1.ApplyOptions{FieldManager: FieldManager, Force: true, DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return nil, nil, fmt.Errorf("the server rejected %s %q: %w", obj.GetKind(), obj.GetName(), err)
	}
	return live, m, nil
}

func withoutStatus(obj *unstructured.Unstructured) *unstructured.Unstructured {
	if _, ok := obj.Object["status"]; !ok {
		return obj
	}
	c := obj.DeepCopy()
	delete(c.Object, "status")
	return c
}

// Preview returns the ReplicationController as it is now (nil when
// missing) and as the deploy would write it, defaulted by the server
// through a dry-run request: the write Plan decides, annotations included.
func (u *ReplicationControllers) Preview(ctx context.Context, want *corev1.ReplicationController, o Options) (live, merged runtime.Object, err error) {
	p, err := u.Plan(ctx, want, o)
	if err != nil {
		return nil, nil, err
	}
	r := u.newRun(want.Name, o)
	out, err := r.serverDryRun(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	if p.Live != nil {
		live = typed(p.Live, "v1", kindRC)
	}
	return live, typed(out, "v1", kindRC), nil
}

// Preview returns the Deployment as it is now (nil when missing) and as
// applying obj would leave it, computed by the server without persisting.
func (d *Deployments) Preview(ctx context.Context, obj *unstructured.Unstructured, o Options) (live, merged runtime.Object, err error) {
	obj = obj.DeepCopy()
	obj.SetNamespace(d.Namespace)
	if _, err := applyStrategy(obj, o); err != nil {
		return nil, nil, err
	}
	deployments := d.Client.AppsV1().Deployments(d.Namespace)
	l, err := deployments.Get(ctx, obj.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, nil, fmt.Errorf("cannot read Deployment %q in namespace %q: %w", obj.GetName(), d.Namespace, err)
	default:
		live = typed(l, "apps/v1", kindDeployment)
	}
	m, err := ForceApply(ctx, deployments, obj.GetName(), withoutStatus(obj).Object, DryRunServer)
	if err != nil {
		return nil, nil, fmt.Errorf("the server rejected Deployment %q: %w", obj.GetName(), err)
	}
	return live, typed(m, "apps/v1", kindDeployment), nil
}

// typed sets the apiVersion and kind that clients leave empty on decoded
// objects, so printed objects say what they are.
func typed(obj runtime.Object, apiVersion, kind string) runtime.Object {
	c := obj.DeepCopyObject()
	c.GetObjectKind().SetGroupVersionKind(schema.FromAPIVersionAndKind(apiVersion, kind))
	return c
}

// Patcher is the Patch of a typed client, such as a clientset's Deployments
// or DaemonSets.
type Patcher[T any] interface {
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
}

// ForceApply server-side applies obj, a typed object or its map, under
// FieldManager, taking over fields someone changed by hand as "kubectl apply
// --server-side --force-conflicts" does: the objects this tool applies are
// its own to define. DryRunServer makes it a server dry run.
func ForceApply[T any](ctx context.Context, c Patcher[T], name string, obj any, dryRun DryRun) (T, error) {
	body, err := json.Marshal(obj)
	if err != nil {
		var zero T
		return zero, err
	}
	opts := dryRun.PatchOptions()
	opts.Force = ptr.To(true)
	return c.Patch(ctx, name, types.ApplyPatchType, body, opts)
}

// PatchOptions are the options of a patch this tool sends: under
// FieldManager, and only validated by the server for DryRunServer.
func (d DryRun) PatchOptions() metav1.PatchOptions {
	opts := metav1.PatchOptions{FieldManager: FieldManager}
	if d == DryRunServer {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return opts
}
