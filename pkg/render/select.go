package render

import (
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envops/kubectl-envops/pkg/config"
)

// Matches reports whether one of the app's workloads (an object with a pod
// template, or a bare Pod) carries labels that sel selects: an app is
// chosen by the convention labels its controllers are deployed with.
func (a AppObjects) Matches(sel labels.Selector) bool {
	for _, o := range a.Objects {
		if isWorkload(o) && sel.Matches(labels.Set(o.GetLabels())) {
			return true
		}
	}
	return false
}

func isWorkload(o *unstructured.Unstructured) bool {
	if o.GetKind() == "Pod" {
		return true
	}
	for _, path := range [][]string{{"spec", "template"}, {"spec", "jobTemplate"}} {
		if _, found, _ := unstructured.NestedMap(o.Object, path...); found {
			return true
		}
	}
	return false
}

// Select returns those of apps (all apps when nil) whose workloads, as
// rendered for one of envs, carry labels that sel selects; an app without
// an overlay for an environment is not rendered for it. The order of apps
// is kept.
func Select(fsys filesys.FileSystem, cfg *config.Config, apps, envs []string, sel labels.Selector, opts Options) ([]string, error) {
	if apps == nil {
		var err error
		if apps, err = appNames(fsys, cfg.AppsDir()); err != nil {
			return nil, err
		}
	}
	chosen := map[string]bool{}
	for _, env := range envs {
		var withOverlay []string
		for _, app := range apps {
			if _, err := OverlayDir(fsys, cfg, app, env); err == nil && !chosen[app] {
				withOverlay = append(withOverlay, app)
			}
		}
		rendered, err := Each(fsys, cfg, withOverlay, []string{env}, opts)
		if err != nil {
			return nil, err
		}
		for _, a := range rendered[0].Apps {
			if a.Matches(sel) {
				chosen[a.App] = true
			}
		}
	}
	return slices.DeleteFunc(slices.Clone(apps), func(app string) bool { return !chosen[app] }), nil
}
