package cmd

import (
	"errors"
	"fmt"
	"strings"

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
	if env == "" {
		return nil, usageError("--env is required: name the environment to act on (%s)", envChoices(cfg))
	}
	if err := config.ValidateEnvironmentName(env); err != nil {
		return nil, usageError("%v", err)
	}
	t := &Target{Env: env, Config: cfg, Warn: g.Streams.ErrOut}
	mapping, err := cfg.Environment(env)
	switch {
	case err == nil:
		t.Mapping, t.Mapped = mapping, true
	case errors.Is(err, config.ErrUnknownEnvironment) && len(cfg.Environments) == 0:
		// Without mappings the current context is used and the guard alone
		// decides whether it serves env.
	default:
		return nil, usageError("%v", err)
	}
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
	if _, ok := raw.Contexts[t.Context]; !ok {
		if t.Mapped && t.Context == t.Mapping.Context {
			return nil, inputError(fmt.Errorf("environment %q maps to context %q in %s, but your kubeconfig has no such context: fix the mapping or add the context", env, t.Context, cfg.Path))
		}
		if t.Context == "" {
			return nil, inputError(fmt.Errorf("no current context in your kubeconfig: pass --context, or map %q to a context in %s", env, config.FileName))
		}
		return nil, inputError(fmt.Errorf("context %q not found in your kubeconfig: check \"kubectl config get-contexts\"", t.Context))
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

func envChoices(cfg *config.Config) string {
	if names := cfg.EnvironmentNames(); len(names) > 0 {
		return "one of " + strings.Join(names, ", ")
	}
	return "for example dev or prod"
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
	ns, _, err := g.Factory.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", nil, inputError(fmt.Errorf("cannot determine the namespace: %w", err))
	}
	client, err := g.Factory.KubernetesClientSet()
	if err != nil {
		return "", nil, fmt.Errorf("cannot create a client: %w", err)
	}
	return ns, client, nil
}
