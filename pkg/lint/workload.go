package lint

import (
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// selectorKind is how a workload kind selects its pods.
type selectorKind int

const (
	// selectorNone: the kind has no selector to check (Pod, CronJob).
	selectorNone selectorKind = iota
	// selectorMap: a ReplicationController's plain map, defaulted from the
	// template's labels when left out.
	selectorMap
	// selectorLabelSelector: matchLabels/matchExpressions, required.
	selectorLabelSelector
	// selectorLabelSelectorDefaulted: matchLabels/matchExpressions, defaulted
	// from the template's labels when left out (extensions/v1beta1, apps/v1beta1/2).
	selectorLabelSelectorDefaulted
	// selectorJob: a Job's selector, generated unless spec.manualSelector is true.
	selectorJob
)

// workloadKind describes where a kind keeps its pod template.
type workloadKind struct {
	// template is the path to the pod template; nil when the object is a
	// Pod, its own template.
	template []string
	selector selectorKind
}

var (
	podTemplatePath     = []string{"spec", "template"}
	cronJobTemplatePath = []string{"spec", "jobTemplate", "spec", "template"}
)

// workloadOf reports the workload kind of an object from its apiVersion
// and kind; ok is false for objects that do not run pods.
func workloadOf(apiVersion, kind string) (workloadKind, bool) {
	group, version := "", apiVersion
	if i := strings.IndexByte(apiVersion, '/'); i >= 0 {
		group, version = apiVersion[:i], apiVersion[i+1:]
	}
	switch group {
	case "":
		switch kind {
		case "Pod":
			return workloadKind{selector: selectorNone}, true
		case "ReplicationController":
			return workloadKind{template: podTemplatePath, selector: selectorMap}, true
		}
	case "apps", "extensions":
		switch kind {
		case "Deployment", "DaemonSet", "ReplicaSet", "StatefulSet":
			sel := selectorLabelSelector
			if group == "extensions" || version != "v1" {
				sel = selectorLabelSelectorDefaulted
			}
			return workloadKind{template: podTemplatePath, selector: sel}, true
		}
	case "batch":
		switch kind {
		case "Job":
			return workloadKind{template: podTemplatePath, selector: selectorJob}, true
		case "CronJob":
			return workloadKind{template: cronJobTemplatePath, selector: selectorNone}, true
		}
	}
	return workloadKind{}, false
}

// isKustomization reports whether an object is a kustomization file's content.
func isKustomization(apiVersion, kind string) bool {
	return kind == "Kustomization" && (apiVersion == "" || strings.HasPrefix(apiVersion, "kustomize.config.k8s.io/"))
}

// labelSite is one place labels live on a workload: the controller's
// metadata, or its pod template's.
type labelSite struct {
	// what names the place in messages: "the controller", "the pod template", "the pod".
	what string
	// field is the path of the labels mapping.
	field  string
	labels labelSet
	// anchor is the node findings about this site point at.
	anchor *yaml.Node
}

// sites reads a workload's label sites: the controller and its pod
// template, or the pod alone.
func sites(obj *yaml.Node, wk workloadKind) []labelSite {
	if wk.template == nil {
		return []labelSite{newSite(obj, "the pod", nil)}
	}
	return []labelSite{
		newSite(obj, "the controller", nil),
		newSite(obj, "the pod template", wk.template),
	}
}

func newSite(obj *yaml.Node, what string, prefix []string) labelSite {
	path := append(append([]string{}, prefix...), "metadata", "labels")
	s := labelSite{what: what, field: strings.Join(path, "."), labels: readLabels(obj, path...)}
	s.anchor = s.labels.KeyNode
	// Point at the deepest part of the path that exists.
	for i := len(path) - 1; s.anchor == nil && i > 0; i-- {
		s.anchor, _ = lookup(obj, path[:i]...)
	}
	if s.anchor == nil {
		s.anchor = obj
	}
	return s
}
