// Package transform holds the project's own changes to rendered objects, as
// kustomize kyaml filters: the environment Secret volume and mount, the label
// convention, and the image override. The same filters back the kustomize
// plugins under plugins/, so plain kustomize users get identical output.
package transform

import (
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// templatePaths locates the pod template of each workload kind; a Pod is
// its own template.
var templatePaths = map[string][]string{
	"ReplicationController": {"spec", "template"},
	"Deployment":            {"spec", "template"},
	"ReplicaSet":            {"spec", "template"},
	"StatefulSet":           {"spec", "template"},
	"DaemonSet":             {"spec", "template"},
	"Job":                   {"spec", "template"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template"},
	"PodTemplate":           {"template"},
	"Pod":                   {},
}

// podTemplate returns the pod template (metadata + spec) of a workload, or
// nil when the object has none.
func podTemplate(obj *yaml.RNode) (*yaml.RNode, error) {
	path, ok := templatePaths[obj.GetKind()]
	if !ok {
		return nil, nil
	}
	if len(path) == 0 {
		return obj, nil
	}
	tmpl, err := obj.Pipe(yaml.Lookup(path...))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the pod template: %w", describe(obj), err)
	}
	return tmpl, nil
}

// describe names an object the way kubectl does, e.g. ReplicationController/web.
func describe(obj *yaml.RNode) string {
	return obj.GetKind() + "/" + obj.GetName()
}

// stringField returns the string value at field of a mapping node, or "".
func stringField(n *yaml.RNode, field string) string {
	f := n.Field(field)
	if f == nil || f.Value == nil {
		return ""
	}
	return yaml.GetValue(f.Value)
}

// elements returns the items of the sequence at path below n; a missing
// field is an empty list.
func elements(n *yaml.RNode, path ...string) ([]*yaml.RNode, error) {
	seq, err := n.Pipe(yaml.Lookup(path...))
	if err != nil || seq == nil {
		return nil, err
	}
	return seq.Elements()
}

// stringMap builds a mapping of string values, in the order given; the
// values are tagged as strings so that "true" or "0123" stay strings.
func stringMap(kv ...string) *yaml.RNode {
	m := yaml.NewRNode(&yaml.Node{Kind: yaml.MappingNode})
	for i := 0; i+1 < len(kv); i += 2 {
		m.YNode().Content = append(m.YNode().Content, yaml.NewStringRNode(kv[i]).YNode(), yaml.NewStringRNode(kv[i+1]).YNode())
	}
	return m
}

// eachPodTemplate calls fn with every object that has a pod template, and
// that template, in order; the first error stops it.
func eachPodTemplate(objs []*yaml.RNode, fn func(obj, tmpl *yaml.RNode) error) error {
	for _, obj := range objs {
		tmpl, err := podTemplate(obj)
		if err != nil {
			return err
		}
		if tmpl == nil {
			continue
		}
		if err := fn(obj, tmpl); err != nil {
			return err
		}
	}
	return nil
}
