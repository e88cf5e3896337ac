package render

import (
	"fmt"
	"strings"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/envops/kubectl-envops/pkg/text"
)

// nameRule is what the API server asks of the names of one kind, and how
// to say it.
type nameRule struct {
	check func(name string, prefix bool) []string
	what  string
}

var (
	subdomain = nameRule{apivalidation.NameIsDNSSubdomain, "a DNS-1123 subdomain: at most 253 lowercase letters, digits, '-' and '.'"}
	label     = nameRule{apivalidation.NameIsDNSLabel, "a DNS-1123 label: at most 63 lowercase letters, digits and '-'"}
	segment   = nameRule{path.ValidatePathSegmentName, "a path segment: no '/' or '%', and not '.' or '..'"}
)

// nameRules are the kinds whose names the API server checks otherwise than
// as a DNS-1123 subdomain, which every other built-in kind and every
// custom resource must be. A Service's name is a DNS-1123 label since
// Kubernetes 1.37 (a DNS-1035 label before).
var nameRules = map[string]nameRule{
	"Service":            label,
	"Namespace":          label,
	"StatefulSet":        label,
	"Role":               segment,
	"ClusterRole":        segment,
	"RoleBinding":        segment,
	"ClusterRoleBinding": segment,
}

// maxCronJobName leaves room for the 11 characters of the Jobs a CronJob
// names after itself; the API server refuses a longer CronJob name.
const maxCronJobName = 52

// checkNames refuses an object whose name, namespace or labels the API
// server would refuse, naming the object and the limit: a namePrefix of
// 300 characters renders a name kubectl would only find out about at
// apply time, after the other objects were written.
func checkNames(app, env string, objs []*unstructured.Unstructured) error {
	for _, obj := range objs {
		kind, name := obj.GetKind(), obj.GetName()
		what := fmt.Sprintf("app %q, environment %q: %s %q", app, env, kind, text.Clip(name, 80))
		rule, ok := nameRules[kind]
		if !ok {
			rule = subdomain
		}
		if msgs := rule.check(name, false); name != "" && len(msgs) > 0 {
			return inputError{fmt.Errorf("%s: the API server refuses this name (%d characters): %s; a %s name is %s: shorten the name, namePrefix or nameSuffix", what, len(name), brief(msgs[0]), kind, rule.what)}
		}
		if kind == "CronJob" && len(name) > maxCronJobName {
			return inputError{fmt.Errorf("%s: the API server refuses this name (%d characters): a CronJob name is at most %d characters, to leave room for its Jobs' names: shorten the name, namePrefix or nameSuffix", what, len(name), maxCronJobName)}
		}
		if ns := obj.GetNamespace(); ns != "" {
			if msgs := apivalidation.ValidateNamespaceName(ns, false); len(msgs) > 0 {
				return inputError{fmt.Errorf("%s: the API server refuses namespace %q: %s; a namespace name is %s: fix the namespace in the kustomization", what, text.Clip(ns, 80), brief(msgs[0]), label.what)}
			}
		}
		labelSets := map[string]map[string]string{"metadata.labels": obj.GetLabels()}
		if l, found, _ := unstructured.NestedStringMap(obj.Object, "spec", "template", "metadata", "labels"); found {
			labelSets["spec.template.metadata.labels"] = l
		}
		for field, labels := range labelSets {
			if errs := metavalidation.ValidateLabels(labels, fieldPath(field)); len(errs) > 0 {
				return inputError{fmt.Errorf("%s: the API server refuses %s: %s", what, field, brief(errs[0].Error()))}
			}
		}
	}
	return nil
}

// fieldPath is the field.Path of a dotted path.
func fieldPath(dotted string) *field.Path {
	parts := strings.Split(dotted, ".")
	return field.NewPath(parts[0], parts[1:]...)
}

// brief is a validation message without the regular expression the API
// server adds to it, which says nothing more to a reader.
func brief(msg string) string {
	if i := strings.Index(msg, " (e.g. "); i >= 0 {
		msg = msg[:i]
	}
	if i := strings.Index(msg, ", regex used"); i >= 0 {
		msg = msg[:i]
	}
	return text.Clip(msg, 300)
}
