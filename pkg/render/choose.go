package render

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// Choose returns the apps that render a workload (an object with a pod
// template) whose labels sel matches: the apps that the label convention
// puts in a tier, role or language, as they are rendered for one
// environment. The order of apps is kept.
func Choose(apps []AppObjects, sel labels.Selector) []AppObjects {
	var out []AppObjects
	for _, a := range apps {
		for _, obj := range a.Objects {
			if hasPodTemplate(obj) && sel.Matches(labels.Set(obj.GetLabels())) {
				out = append(out, a)
				break
			}
		}
	}
	return out
}

func hasPodTemplate(obj *unstructured.Unstructured) bool {
	_, found, _ := unstructured.NestedMap(obj.Object, "spec", "template")
	return found
}
