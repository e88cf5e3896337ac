package cmd

import (
	"fmt"

	"k8s.io/client-go/kubernetes"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/environment"
)

// Target is the cluster and namespace a command acts on.
type Target = environment.Target

// SelectEnv resolves env against the project file: when --context is not
// given, the environment's mapped context is used, and when -n is not
// given, its mapped namespace. It must run before anything else reads the
// kubeconfig, because the client factory caches what it loads first.
func (g *Globals) SelectEnv(cfg *config.Config, env string) (*Target, error) {
	t, err := environment.NewTarget(cfg, env)
	if err != nil {
		return nil, usageError("%v", err)
	}
	t.Warn = g.Streams.ErrOut
	if t.Mapped {
		if *g.ConfigFlags.Context == "" {
			*g.ConfigFlags.Context = t.Mapping.Context
		}
		if *g.ConfigFlags.Namespace == "" && t.Mapping.Namespace != "" {
			*g.ConfigFlags.Namespace = t.Mapping.Namespace
		}
	}
	raw, err := g.kubeconfig(&t.Context)
	if err != nil {
		return nil, err
	}
	if err := t.CheckContext(raw); err != nil {
		return nil, inputError(err)
	}
	if t.Namespace, _, err = g.namespace(); err != nil {
		return nil, err
	}
	t.Client, err = g.Factory.KubernetesClientSet()
	if err != nil {
		return nil, fmt.Errorf("cannot create a client for context %q: %w", t.Context, err)
	}
	return t, nil
}

// target loads the project file and resolves env against it.
func (g *Globals) target(env string) (*Target, error) {
	cfg, err := g.LoadConfig()
	if err != nil {
		return nil, err
	}
	return g.SelectEnv(cfg, env)
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
