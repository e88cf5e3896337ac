package deploy

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Preview is one object as it is and as the deploy would leave it, which
// the server computes without persisting it. It is an object of kubectl's
// differ (k8s.io/kubectl/pkg/cmd/diff).
type Preview struct {
	name         string
	live, merged runtime.Object
}

// Name is KIND.NAMESPACE.NAME, as kubectl diff names its files.
func (p *Preview) Name() string { return p.name }

// Live is the object in the cluster, nil when there is none.
func (p *Preview) Live() runtime.Object { return withoutManagedFields(p.live) }

// Merged is the object the deploy would leave.
func (p *Preview) Merged() (runtime.Object, error) { return withoutManagedFields(p.merged), nil }

func withoutManagedFields(obj runtime.Object) runtime.Object {
	if obj == nil {
		return nil
	}
	obj = obj.DeepCopyObject()
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj
}

// Previews returns the preview of every object of the plan, the other
// objects first.
func (d *Deployer) Previews(ctx context.Context, p *Plan) ([]*Preview, error) {
	var out []*Preview
	add := func(obj *unstructured.Unstructured, live, merged runtime.Object) {
		name := fmt.Sprintf("%s.%s.%s", obj.GroupVersionKind().Kind, d.NamespaceOf(obj), obj.GetName())
		out = append(out, &Preview{name: name, live: live, merged: merged})
	}
	for _, obj := range p.Others {
		live, merged, err := d.Applier.Preview(ctx, obj)
		if err != nil {
			return nil, err
		}
		add(obj, live, merged)
	}
	for _, obj := range p.Controllers {
		live, merged, err := kindOf(obj, d.Client, d.NamespaceOf(obj), d.App, nil).preview(ctx, obj, d.Options)
		if err != nil {
			return nil, err
		}
		add(obj, live, merged)
	}
	return out, nil
}
