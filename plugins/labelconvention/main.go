// Command labelconvention is a kustomize exec KRM function that fills the
// label convention on every controller and its pod template and keeps
// selectors on the name label, as "kubectl envops generate" does, for teams
// that build with plain "kustomize build --enable-alpha-plugins --enable-exec".
//
// Use it from a kustomization's transformers: list with a config such as
//
//	apiVersion: envops.github.io/v1alpha1
//	kind: LabelConvention
//	metadata:
//	  name: labels
//	  annotations:
//	    config.kubernetes.io/function: |
//	      exec:
//	        path: /usr/local/bin/labelconvention
//	app: web                       # the app's name, for the app label
//	labels: [name, app, tier, role, language]  # default: the .envops.yaml defaults
//	namePattern: "{app}-{role}"    # default: {app}-{role}
package main

import (
	"os"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/fn/framework/command"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/transform"
)

// functionConfig is the transformer's configuration object.
type functionConfig struct {
	transform.LabelConvention `json:",inline"`
}

// Default fills what the configuration leaves out with the defaults of
// .envops.yaml, so both tools agree on the convention.
func (c *functionConfig) Default() error {
	d := config.Default()
	if len(c.Labels) == 0 {
		c.Labels = append(append([]string{}, d.Labels.Required...), d.Labels.Optional...)
	}
	if c.NamePattern == "" {
		c.NamePattern = d.Labels.Name
	}
	return nil
}

func main() {
	cfg := &functionConfig{}
	p := framework.SimpleProcessor{
		Config: cfg,
		Filter: kio.FilterFunc(func(objs []*yaml.RNode) ([]*yaml.RNode, error) {
			return cfg.LabelConvention.Filter(objs)
		}),
	}
	if err := command.Build(p, command.StandaloneDisabled, false).Execute(); err != nil {
		os.Exit(1)
	}
}
