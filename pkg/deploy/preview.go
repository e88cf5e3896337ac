package deploy

import (
	"context"
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/cmd/diff"
	"k8s.io/utils/exec"
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

// Diff shows, as kubectl diff does (through KUBECTL_EXTERNAL_DIFF or
// diff -u), each object of the plan as it is and as the deploy would leave
// it. Differences found are the answer, not a failure.
func (d *Deployer) Diff(ctx context.Context, p *Plan, streams genericiooptions.IOStreams) error {
	previews, err := d.Previews(ctx, p)
	if err != nil {
		return err
	}
	differ, err := diff.NewDiffer("LIVE", "MERGED")
	if err != nil {
		return err
	}
	defer differ.TearDown()
	for _, p := range previews {
		if err := differ.Diff(p, diff.Printer{}, false, false); err != nil {
			return err
		}
	}
	err = differ.Run(&diff.DiffProgram{Exec: exec.New(), IOStreams: streams})
	// diff(1) exits 1 when it found differences.
	var ee exec.ExitError
	if errors.As(err, &ee) && ee.ExitStatus() == 1 {
		return nil
	}
	return err
}
