package fleet

import (
	"context"
	"fmt"
	"sort"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/envops/kubectl-envops/pkg/appstate"
	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/kube"
)

// Target is one cluster to ask: an environment's context, or any context
// of the kubeconfig.
type Target struct {
	// Env is the environment the project file maps to the context ("" if none).
	Env       string
	Context   string
	Namespace string
}

// NewClient builds a client for a context whose every request ends after
// timeout; tests replace it with fakes.
type NewClient func(contextName string, timeout time.Duration) (kubernetes.Interface, error)

// ContextClients builds clients for the contexts of raw.
func ContextClients(raw clientcmdapi.Config) NewClient {
	return func(name string, timeout time.Duration) (kubernetes.Interface, error) {
		if _, ok := raw.Contexts[name]; !ok {
			return nil, fmt.Errorf("context %q not found in your kubeconfig", name)
		}
		rc, err := clientcmd.NewNonInteractiveClientConfig(raw, name, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
		if err != nil {
			return nil, err
		}
		return kubernetes.NewForConfig(kube.WithTransientRetries(WithDeadline(rc, timeout)))
	}
}

// Contexts lists the context names of raw, sorted.
func Contexts(raw clientcmdapi.Config) []string {
	names := make([]string, 0, len(raw.Contexts))
	for name := range raw.Contexts {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Namespace is the namespace to read env's app in through contextName:
// namespace when set, else the environment's mapping, else the context's,
// else "default".
func Namespace(raw clientcmdapi.Config, env config.Environment, contextName, namespace string) string {
	switch {
	case namespace != "":
		return namespace
	case env.Namespace != "":
		return env.Namespace
	case raw.Contexts[contextName] != nil && raw.Contexts[contextName].Namespace != "":
		return raw.Contexts[contextName].Namespace
	}
	return "default"
}

// Targets lists the clusters of the environments of cfg in promotion
// order, then those left out of it, or with allContexts every context of
// raw. namespace, when set, overrides every target's namespace.
func Targets(cfg *config.Config, raw clientcmdapi.Config, allContexts bool, namespace string) []Target {
	var out []Target
	if allContexts {
		envOf := map[string]string{}
		for _, env := range cfg.EnvironmentNames() {
			envOf[cfg.Environments[env].Context] = env
		}
		for _, name := range Contexts(raw) {
			env := envOf[name]
			out = append(out, Target{Env: env, Context: name, Namespace: Namespace(raw, cfg.Environments[env], name, namespace)})
		}
		return out
	}
	seen := map[string]bool{}
	for _, env := range append(cfg.PromotionOrder(), cfg.EnvironmentNames()...) {
		if seen[env] {
			continue
		}
		seen[env] = true
		m := cfg.Environments[env]
		out = append(out, Target{Env: env, Context: m.Context, Namespace: Namespace(raw, m, m.Context, namespace)})
	}
	return out
}

// App reads the controllers of app in the environment env of cfg, within
// timeout; the error says briefly why the cluster could not be read.
func App(ctx context.Context, cfg *config.Config, raw clientcmdapi.Config, env, app string, timeout time.Duration, newClient NewClient) ([]appstate.Controller, error) {
	mapping := cfg.Environments[env]
	results := Each(ctx, []string{mapping.Context}, timeout, func(ctx context.Context, name string) ([]appstate.Controller, error) {
		client, err := newClient(name, timeout)
		if err != nil {
			return nil, err
		}
		return appstate.Read(ctx, client, Namespace(raw, mapping, name, ""), app, "app", time.Now())
	})
	if err := results[0].Err; err != nil {
		return nil, fmt.Errorf("context %q: %s", mapping.Context, Reason(err, timeout))
	}
	return results[0].Value, nil
}
