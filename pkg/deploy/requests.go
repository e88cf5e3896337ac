package deploy

import (
	"errors"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/render"
)

// Selection says which apps of a project one deploy takes, and how each
// is rendered.
type Selection struct {
	// Apps are the apps named; All takes every app of the project, and
	// Selector those whose overlays render a workload it matches.
	Apps     []string
	All      bool
	Selector labels.Selector
	// Images gives apps their --image, by app name.
	Images map[string]string
	// Kind converts the controllers ("" keeps them as rendered).
	Kind string
	// Render are the options every app is rendered with (remote
	// resources); its images are set from Images.
	Render render.Options
}

// ErrSelection is wrapped by the errors of Requests that are the command
// line's: no app chosen, an image for an app not deployed, nothing to
// roll.
var ErrSelection = errors.New("bad selection of apps")

type selectionError struct{ error }

func (e selectionError) Unwrap() []error { return []error{e.error, ErrSelection} }

func selectionErr(format string, a ...any) error {
	return selectionError{fmt.Errorf(format, a...)}
}

// Requests renders the chosen apps of cfg for env and returns one request
// each, every field but the plan and the image copied from base. Every app
// is rendered before anything is sent, so that a broken overlay stops the
// command before any app is deployed; rendering errors are returned as
// they are (the input's), the others wrap ErrSelection.
func Requests(fsys filesys.FileSystem, cfg *config.Config, env string, sel Selection, base Request) ([]Request, error) {
	apps := sel.Apps
	if sel.All || sel.Selector != nil {
		var err error
		if apps, err = render.Apps(cfg); err != nil {
			return nil, err
		}
		if len(apps) == 0 {
			return nil, selectionErr("no apps to deploy: %s has no app directories", cfg.AppsDir())
		}
	}
	for app := range sel.Images {
		if !slices.Contains(apps, app) {
			return nil, selectionErr("--image names app %q, which is not deployed: deploy it, or drop its --image", app)
		}
	}
	opts := sel.Render
	opts.Images = sel.Images
	envs, err := render.Each(fsys, cfg, apps, []string{env}, opts)
	if err != nil {
		return nil, err
	}
	rendered := envs[0].Apps
	if sel.Selector != nil {
		rendered = slices.DeleteFunc(rendered, func(a render.AppObjects) bool { return !a.Matches(sel.Selector) })
		if len(rendered) == 0 {
			return nil, selectionErr("no app of %s renders a workload labelled %s for environment %q", cfg.AppsDir(), sel.Selector, env)
		}
	}
	reqs := make([]Request, 0, len(rendered))
	for _, r := range rendered {
		plan, err := Split(r.Objects, sel.Kind)
		if err != nil {
			return nil, err
		}
		if len(plan.Controllers) == 0 && (base.Rollback || sel.Kind != "") {
			return nil, selectionErr("app %q renders no ReplicationController or Deployment for environment %q, so there is nothing to roll", r.App, env)
		}
		req := base
		req.App, req.Plan, req.Image = r.App, plan, sel.Images[r.App]
		reqs = append(reqs, req)
	}
	return reqs, nil
}
