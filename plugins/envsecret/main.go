// Command envsecret is a kustomize exec KRM function that mounts the
// environment Secret read-only into every pod template, as
// "kubectl envops generate" does, for teams that build with plain
// "kustomize build --enable-alpha-plugins --enable-exec".
//
// Use it from a kustomization's transformers: list with a config such as
//
//	apiVersion: envops.github.io/v1alpha1
//	kind: EnvSecret
//	metadata:
//	  name: environment-secret
//	  annotations:
//	    config.kubernetes.io/function: |
//	      exec:
//	        path: /usr/local/bin/envsecret
//	secretName: environment   # default: environment
//	mountPath: /etc/secrets   # default: /etc/secrets
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
	transform.EnvSecret `json:",inline"`
}

// Default fills what the configuration leaves out with the defaults of
// .envops.yaml, so both tools agree on names.
func (c *functionConfig) Default() error {
	d := config.Default()
	if c.SecretName == "" {
		c.SecretName = d.Secret.Name
	}
	if c.MountPath == "" {
		c.MountPath = d.Secret.MountPath
	}
	return nil
}

func main() {
	cfg := &functionConfig{}
	p := framework.SimpleProcessor{
		Config: cfg,
		Filter: kio.FilterFunc(func(objs []*yaml.RNode) ([]*yaml.RNode, error) {
			return cfg.EnvSecret.Filter(objs)
		}),
	}
	if err := command.Build(p, command.StandaloneDisabled, false).Execute(); err != nil {
		os.Exit(1)
	}
}
