package transform

import (
	"fmt"
	"sort"
	"strings"

	"github.com/distribution/reference"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// ValidateImage checks that ref is an image reference a container runtime
// accepts: a repository name with an optional tag and/or digest.
func ValidateImage(ref string) error {
	if _, err := reference.ParseNormalizedNamed(ref); err != nil {
		return fmt.Errorf("invalid image reference %q: %w; use a reference such as registry.example.com/team/web:1.4.2", ref, err)
	}
	return nil
}

// Image sets the image of the app's container. The app's containers are,
// across all pod templates of the app, the first non-empty of: the
// containers whose image is from the same repository as Image; the
// containers named App; the only container of the app.
type Image struct {
	// Image is the new image reference.
	Image string `json:"image" yaml:"image"`
	// App is the app's name, which its main container is expected to carry.
	App string `json:"app,omitempty" yaml:"app,omitempty"`
}

// container is one container of a pod template, with its owner for messages.
type container struct {
	owner string
	node  *yaml.RNode
}

// Filter implements kio.Filter.
func (f Image) Filter(objs []*yaml.RNode) ([]*yaml.RNode, error) {
	named, err := reference.ParseNormalizedNamed(f.Image)
	if err != nil {
		return nil, ValidateImage(f.Image)
	}
	var all []container
	err = eachPodTemplate(objs, func(obj, tmpl *yaml.RNode) error {
		cs, err := elements(tmpl, "spec", "containers")
		if err != nil {
			return fmt.Errorf("%s: reading containers: %w", describe(obj), err)
		}
		for _, c := range cs {
			all = append(all, container{owner: describe(obj), node: c})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	targets := f.match(all, named.Name())
	if len(targets) == 0 {
		return nil, fmt.Errorf("no container to give image %q: none uses repository %s, none is named %q, and the app has %d containers (%s); name the app's container %q",
			f.Image, reference.FamiliarName(named), f.App, len(all), summary(all), f.App)
	}
	for _, c := range targets {
		if err := c.node.PipeE(yaml.SetField("image", yaml.NewStringRNode(f.Image))); err != nil {
			return nil, fmt.Errorf("%s: setting the image of container %q: %w", c.owner, stringField(c.node, "name"), err)
		}
	}
	return objs, nil
}

func (f Image) match(all []container, repo string) []container {
	var sameRepo, named []container
	for _, c := range all {
		if n, err := reference.ParseNormalizedNamed(stringField(c.node, "image")); err == nil && n.Name() == repo {
			sameRepo = append(sameRepo, c)
		}
		if f.App != "" && stringField(c.node, "name") == f.App {
			named = append(named, c)
		}
	}
	switch {
	case len(sameRepo) > 0:
		return sameRepo
	case len(named) > 0:
		return named
	case len(all) == 1:
		return all
	}
	return nil
}

// summary lists containers as Kind/name:container=image, for messages.
func summary(all []container) string {
	parts := make([]string, 0, len(all))
	for _, c := range all {
		parts = append(parts, c.owner+":"+stringField(c.node, "name")+"="+stringField(c.node, "image"))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
