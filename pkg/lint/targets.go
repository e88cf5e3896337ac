package lint

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/envops/kubectl-envops/pkg/fleet"
	"github.com/envops/kubectl-envops/pkg/kube"
)

// DefaultLiveTimeout is how long lint --live waits for one cluster.
const DefaultLiveTimeout = time.Minute

// ContextTargets is one target per context of the kubeconfig, in name
// order, each in its context's namespace (every namespace with
// allNamespaces). overrides apply to every context; each client bounds and
// retries its requests as the plugin's own clients do.
func ContextTargets(raw clientcmdapi.Config, overrides *clientcmd.ConfigOverrides, allNamespaces bool) ([]LiveTarget, error) {
	if len(raw.Contexts) == 0 {
		return nil, errors.New("your kubeconfig has no contexts: add one, or point --kubeconfig at another file")
	}
	names := make([]string, 0, len(raw.Contexts))
	for name := range raw.Contexts {
		names = append(names, name)
	}
	sort.Strings(names)
	targets := make([]LiveTarget, 0, len(names))
	for _, name := range names {
		cc := clientcmd.NewNonInteractiveClientConfig(raw, name, overrides, nil)
		rc, err := cc.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("context %q: %w", name, err)
		}
		ns, _, err := cc.Namespace()
		if err != nil {
			return nil, fmt.Errorf("context %q: cannot determine the namespace: %w", name, err)
		}
		client, err := dynamic.NewForConfig(kube.WithTransientRetries(rc))
		if err != nil {
			return nil, fmt.Errorf("context %q: %w", name, err)
		}
		if allNamespaces {
			ns = ""
		}
		targets = append(targets, LiveTarget{Context: name, Namespace: ns, Client: client})
	}
	return targets, nil
}

// LintTargets reads every target concurrently into rep and returns how many
// were read; a context that fails is reported after the findings of the
// others. timeout bounds each context (0: DefaultLiveTimeout), so one
// cluster that does not answer never holds up the report of the others.
func (l *Linter) LintTargets(ctx context.Context, targets []LiveTarget, timeout time.Duration, rep *Report) (int, error) {
	names := make([]string, len(targets))
	byName := make(map[string]LiveTarget, len(targets))
	for i, t := range targets {
		names[i] = t.Context
		byName[t.Context] = t
	}
	if timeout <= 0 {
		timeout = DefaultLiveTimeout
	}
	results := fleet.Each(ctx, names, timeout, func(ctx context.Context, name string) (*Report, error) {
		var r Report
		err := l.LintLive(ctx, byName[name], &r)
		return &r, err
	})
	var failed []error
	for i, r := range results {
		switch {
		case r.Err != nil && r.Value == nil:
			failed = append(failed, fmt.Errorf("context %q: %s", names[i], fleet.Reason(r.Err, timeout)))
		case r.Err != nil:
			failed = append(failed, r.Err)
		case r.Value != nil:
			rep.Append(r.Value)
		default:
			rep.Append(&Report{})
		}
	}
	read := len(targets) - len(failed)
	switch len(failed) {
	case 0:
		return read, nil
	case 1:
		return read, failed[0]
	}
	return read, fmt.Errorf("%w (and %d more contexts that could not be read)", failed[0], len(failed)-1)
}

// DynamicClientGetter is the part of kubectl's client factory LiveTargets
// uses.
type DynamicClientGetter interface {
	DynamicClient() (dynamic.Interface, error)
}

// LiveTargets resolves what --live reads with kubectl's global flags: the
// namespace of the current context (every namespace with allNamespaces)
// through the factory, which honours every flag (--as, --token, --server,
// ...), or with allContexts every context of the kubeconfig.
func LiveTargets(flags *genericclioptions.ConfigFlags, factory DynamicClientGetter, allNamespaces, allContexts bool) ([]LiveTarget, error) {
	loader := flags.ToRawKubeConfigLoader()
	raw, err := loader.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("cannot load kubeconfig: %w", err)
	}
	if allContexts {
		// Every context gets the bound and the retries of the factory's clients.
		overrides := &clientcmd.ConfigOverrides{Timeout: *flags.Timeout}
		if ns := *flags.Namespace; ns != "" {
			overrides.Context = clientcmdapi.Context{Namespace: ns}
		}
		if as := flags.Impersonate; as != nil && *as != "" {
			overrides.AuthInfo.Impersonate = *as
		}
		return ContextTargets(raw, overrides, allNamespaces)
	}
	name := cmp.Or(*flags.Context, raw.CurrentContext)
	if name == "" {
		return nil, errors.New("no current context in your kubeconfig: pass --context, or set one with \"kubectl config use-context\"")
	}
	ns, _, err := loader.Namespace()
	if err != nil {
		return nil, fmt.Errorf("cannot determine the namespace: %w", err)
	}
	client, err := factory.DynamicClient()
	if err != nil {
		return nil, fmt.Errorf("cannot reach context %q: %w", name, err)
	}
	if allNamespaces {
		ns = ""
	}
	return []LiveTarget{{Context: name, Namespace: ns, Client: client}}, nil
}
