package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/cmd/diff"
	"k8s.io/utils/exec"
	"sigs.k8s.io/yaml"

	"github.com/envops/kubectl-envops/pkg/applyset"
	"github.com/envops/kubectl-envops/pkg/audit"
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
func (p *Preview) Live() runtime.Object { return readable(p.live) }

// Merged is the object the deploy would leave, nil when it would delete it.
func (p *Preview) Merged() (runtime.Object, error) { return readable(p.merged), nil }

// changed tells whether the deploy would change the object.
func (p *Preview) changed() bool {
	if p.live == nil || p.merged == nil {
		return p.live != p.merged
	}
	a, err1 := yaml.Marshal(readable(p.live))
	b, err2 := yaml.Marshal(readable(p.merged))
	return err1 != nil || err2 != nil || !bytes.Equal(a, b)
}

// readable is obj without managed fields, its annotations that hold JSON
// (the revisions a ReplicationController records) laid out one field per
// line, so that a diff shows what changed in them.
func readable(obj runtime.Object) runtime.Object {
	if obj == nil {
		return nil
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return obj
	}
	out := &unstructured.Unstructured{Object: u}
	out.SetManagedFields(nil)
	a := out.GetAnnotations()
	for k, v := range a {
		if !strings.HasPrefix(v, "{") && !strings.HasPrefix(v, "[") {
			continue
		}
		var data any
		if json.Unmarshal([]byte(v), &data) != nil {
			continue
		}
		if b, err := yaml.Marshal(data); err == nil {
			a[k] = string(b)
		}
	}
	if len(a) > 0 {
		out.SetAnnotations(a)
	}
	return out
}

// previews returns the preview of every object the deploy would write,
// the other objects first, then the set's members it would prune.
func (d *Deployer) previews(ctx context.Context, req Request, marked *Plan, stale []*unstructured.Unstructured) ([]*Preview, error) {
	var out []*Preview
	add := func(obj *unstructured.Unstructured, ns string, live, merged runtime.Object) {
		name := fmt.Sprintf("%s.%s.%s", obj.GroupVersionKind().Kind, ns, obj.GetName())
		out = append(out, &Preview{name: name, live: live, merged: merged})
	}
	if len(marked.Others) > 0 {
		a, err := d.applier()
		if err != nil {
			return nil, err
		}
		for _, obj := range marked.Others {
			live, merged, err := a.Preview(ctx, obj)
			if err != nil {
				return nil, err
			}
			add(obj, d.namespaceOf(obj), live, merged)
		}
	}
	for _, obj := range marked.Controllers {
		ns := d.namespaceOf(obj)
		live, merged, err := kindOf(obj, d.kube(), ns, req.App, nil).preview(ctx, obj, req.Options)
		if err != nil {
			return nil, err
		}
		add(obj, ns, live, merged)
	}
	for _, obj := range stale {
		add(obj, obj.GetNamespace(), obj, nil)
	}
	return out, nil
}

// Diff shows, as kubectl diff does (through KUBECTL_EXTERNAL_DIFF or
// diff -u), each object of the app as it is and as the deploy would leave
// it, audit record and update state included, and the members of its set
// the deploy would prune. It tells whether there were differences; an app
// whose objects already match has none.
func (d *Deployer) Diff(ctx context.Context, req Request, streams genericiooptions.IOStreams) (bool, error) {
	p := req.Plan
	checkCtx, cancel := checkTimeout(ctx, req.Options.Timeout)
	defer cancel()
	if err := d.checkNamespaces(checkCtx, d.Namespaces(p), true); err != nil {
		return false, err
	}
	cancel()
	set := applyset.Set{App: req.App, Namespace: d.Target.Namespace}
	marked := Mark(p, set, req.Image)
	st, err := d.standing(ctx, req, set, marked)
	if err != nil {
		return false, err
	}
	if st.unchanged() {
		return false, nil
	}
	// Objects already in sync are not written, so they show no change.
	write, _ := st.split(marked)
	// The diff shows the audit record the deploy would write; it asks who
	// the user is, but checks no access, since it changes nothing.
	user, err := audit.WhoAmI(ctx, d.kube())
	if err != nil {
		return false, err
	}
	audit.StampControllers(write.Controllers, audit.Record{User: user, Time: time.Now(), Environment: d.Target.Env, Cause: req.Cause})
	var stale []*unstructured.Unstructured
	if req.Prune {
		stale = st.stale
	}
	previews, err := d.previews(ctx, req, write, stale)
	if err != nil {
		return false, err
	}
	changed := false
	for _, p := range previews {
		changed = changed || p.changed()
	}
	if !changed {
		return false, nil
	}
	return true, showDiff(previews, streams)
}

// showDiff runs the diff program over the previews.
func showDiff(previews []*Preview, streams genericiooptions.IOStreams) error {
	differ, err := diff.NewDiffer("LIVE", "MERGED")
	if err != nil {
		return err
	}
	defer differ.TearDown()
	for _, p := range previews {
		if p.merged == nil {
			// kubectl's differ expects both sides; a pruned object has
			// only its live side, as kubectl diff --prune writes it.
			if err := differ.From.Print(p.Name(), p.Live(), diff.Printer{}); err != nil {
				return err
			}
			continue
		}
		if err := differ.Diff(p, diff.Printer{}, false, false); err != nil {
			return err
		}
	}
	err = differ.Run(&diff.DiffProgram{Exec: exec.New(), IOStreams: streams})
	// diff(1) exits 1 when it found differences, which is the answer.
	var ee exec.ExitError
	if errors.As(err, &ee) && ee.ExitStatus() == 1 {
		return nil
	}
	return err
}
