package cmd

import (
	"errors"
	"fmt"

	"k8s.io/client-go/kubernetes"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/environment"
)

// Target is the cluster and namespace a command acts on.
type Target = environment.Target

// resolve resolves env against the project file and kubectl's flags into
// the target a command acts on: the environment's mapped context unless
// --context is given, its mapped namespace unless -n is. The flags are
// left as given, so several environments can be resolved in one command.
func (g *Globals) resolve(cfg *config.Config, env string) (*Target, error) {
	t, err := environment.NewTarget(cfg, env)
	if err != nil {
		return nil, usageError("%v", err)
	}
	t.Warn = g.Streams.ErrOut
	if err := g.checkKubeconfig(); err != nil {
		return nil, err
	}
	if err := t.Bind(g.ConfigFlags); err != nil {
		if errors.Is(err, environment.ErrInput) {
			return nil, inputError(err)
		}
		return nil, err
	}
	return t, nil
}

// target loads the project file and resolves env against it.
func (g *Globals) target(env string) (*Target, error) {
	cfg, err := g.LoadConfig()
	if err != nil {
		return nil, err
	}
	return g.resolve(cfg, env)
}

// currentTarget is the namespace and client of kubectl's flags and current
// context, for commands run without --env.
func (g *Globals) currentTarget() (string, kubernetes.Interface, error) {
	ns, _, err := g.namespace()
	if err != nil {
		return "", nil, err
	}
	client, err := g.Factory.KubernetesClientSet()
	if err != nil {
		return "", nil, fmt.Errorf("cannot create a client: %w", err)
	}
	return ns, client, nil
}
