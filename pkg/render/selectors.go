package render

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/envops/kubectl-envops/pkg/config"
)

// selectingKinds are the controllers that own pods by selector.
var selectingKinds = map[string]bool{
	"ReplicationController": true, "Deployment": true, "ReplicaSet": true, "StatefulSet": true, "DaemonSet": true,
}

// checkSelectors refuses an app whose controllers would manage each
// other's pods: two controllers in one namespace where the selector of one
// selects the pod template of the other. Controllers of one app that
// differ only in name (web and web-canary) get one name label from the
// convention, and so one selector.
func checkSelectors(app string, namePattern config.NamePattern, objs []*unstructured.Unstructured) error {
	type ctrl struct {
		obj  *unstructured.Unstructured
		sel  labels.Selector
		pods labels.Set
	}
	var ctrls []ctrl
	for _, o := range objs {
		if !selectingKinds[o.GetKind()] {
			continue
		}
		tmpl, _, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "labels")
		if len(tmpl) == 0 {
			continue
		}
		var sel labels.Selector
		if o.GetKind() == "ReplicationController" {
			m, _, _ := unstructured.NestedStringMap(o.Object, "spec", "selector")
			if len(m) == 0 {
				m = tmpl // defaulted from the template by the API server
			}
			sel = labels.SelectorFromSet(m)
		} else {
			raw, found, _ := unstructured.NestedMap(o.Object, "spec", "selector")
			if !found {
				continue
			}
			var ls metav1.LabelSelector
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &ls); err != nil {
				continue
			}
			s, err := metav1.LabelSelectorAsSelector(&ls)
			if err != nil || s.Empty() {
				continue
			}
			sel = s
		}
		ctrls = append(ctrls, ctrl{obj: o, sel: sel, pods: tmpl})
	}
	for i, a := range ctrls {
		for _, b := range ctrls[:i] {
			if a.obj.GetNamespace() != b.obj.GetNamespace() || (!a.sel.Matches(b.pods) && !b.sel.Matches(a.pods)) {
				continue
			}
			fix := "give each controller labels of its own in its selector and pod template"
			if namePattern.Uses("role") {
				fix = fmt.Sprintf("give each controller its own role label, so each gets its own name label (%s)", namePattern)
			}
			return fmt.Errorf("app %q renders %s/%s and %s/%s with overlapping selectors (%s and %s): both would manage the same pods; %s",
				app, b.obj.GetKind(), b.obj.GetName(), a.obj.GetKind(), a.obj.GetName(), b.sel, a.sel, fix)
		}
	}
	return nil
}
