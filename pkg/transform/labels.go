package transform

import (
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/envops/kubectl-envops/pkg/config"
)

// SelectorLabel is the one label controllers select their pods by. It is
// derived from the app and role only, so adding or changing any other label
// never changes a selector.
const SelectorLabel = "name"

// AppLabel is the label that carries the app's name.
const AppLabel = "app"

// LabelConvention fills the convention labels on every controller and its
// pod template where they are missing, and keeps controller selectors on
// the stable SelectorLabel only.
//
// A label's value is taken, in order, from the controller's labels, its
// pod template's labels, and App for the app label; the name label is built
// from NamePattern when neither carries it. Labels already present are never
// changed.
type LabelConvention struct {
	// App is the app's name: the value of the app label.
	App string `json:"app,omitempty" yaml:"app,omitempty"`
	// Labels are the convention's label keys, required and optional.
	Labels []string `json:"labels" yaml:"labels"`
	// NamePattern builds the name label, e.g. "{app}-{role}".
	NamePattern string `json:"namePattern,omitempty" yaml:"namePattern,omitempty"`
	// Recommended copies convention labels to other keys, e.g. app to
	// app.kubernetes.io/name.
	Recommended map[string]string `json:"recommended,omitempty" yaml:"recommended,omitempty"`
}

// Filter implements kio.Filter.
func (f LabelConvention) Filter(objs []*yaml.RNode) ([]*yaml.RNode, error) {
	err := eachPodTemplate(objs, func(obj, tmpl *yaml.RNode) error {
		if err := f.apply(obj, tmpl); err != nil {
			return fmt.Errorf("%s: %w", describe(obj), err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return objs, nil
}

func (f LabelConvention) apply(obj, tmpl *yaml.RNode) error {
	own, podLabels := obj.GetLabels(), tmpl.GetLabels()
	values := map[string]string{}
	for _, key := range f.Labels {
		switch {
		case own[key] != "":
			values[key] = own[key]
		case podLabels[key] != "":
			values[key] = podLabels[key]
		case key == AppLabel && f.App != "":
			values[key] = f.App
		}
	}
	if _, ok := values[SelectorLabel]; !ok && f.has(SelectorLabel) {
		if name, ok := f.name(values); ok {
			values[SelectorLabel] = name
		}
	}
	for key, to := range f.Recommended {
		if v, ok := values[key]; ok {
			values[to] = v
		}
	}

	targets := []*yaml.RNode{obj}
	if tmpl != obj {
		targets = append(targets, tmpl)
	}
	for _, t := range targets {
		labels := t.GetLabels()
		changed := false
		for k, v := range values {
			if _, ok := labels[k]; !ok {
				labels[k] = v
				changed = true
			}
		}
		if changed {
			if err := t.SetLabels(labels); err != nil {
				return fmt.Errorf("setting labels: %w", err)
			}
		}
	}
	return f.selectBy(obj, tmpl)
}

// selectBy points the controller's selector at the pod template's name
// label. A ReplicationController's selector is always replaced: left out,
// the API server would default it to every template label, so it would
// change whenever a label does. The selectors of other kinds are immutable
// in the API, so they are only filled in when absent.
func (f LabelConvention) selectBy(obj, tmpl *yaml.RNode) error {
	name := tmpl.GetLabels()[SelectorLabel]
	if name == "" || tmpl == obj {
		return nil
	}
	selector := stringMap(SelectorLabel, name)
	switch obj.GetKind() {
	case "ReplicationController":
		return obj.SetMapField(selector, "spec", "selector")
	case "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet":
		existing, err := obj.Pipe(yaml.Lookup("spec", "selector"))
		if err != nil {
			return fmt.Errorf("reading the selector: %w", err)
		}
		if existing == nil || yaml.IsEmptyMap(existing) {
			return obj.SetMapField(selector, "spec", "selector", "matchLabels")
		}
	}
	return nil
}

func (f LabelConvention) has(key string) bool {
	for _, k := range f.Labels {
		if k == key {
			return true
		}
	}
	return false
}

// name expands NamePattern; it fails when a placeholder has no value, in
// which case the label is left for lint to report.
func (f LabelConvention) name(values map[string]string) (string, bool) {
	if f.NamePattern == "" {
		return "", false
	}
	name, missing := config.ParseNamePattern(f.NamePattern).Format(config.Values(values))
	return name, len(missing) == 0
}
