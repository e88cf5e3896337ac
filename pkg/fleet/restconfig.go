package fleet

import (
	"fmt"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// NewConfig builds the REST configuration of a context whose every request
// ends after timeout, for clients of APIs beyond the core clientset (the
// metrics API); tests replace it.
type NewConfig func(contextName string, timeout time.Duration) (*rest.Config, error)

// ContextConfigs builds REST configurations for the contexts of raw, as
// ContextClients builds clients.
func ContextConfigs(raw clientcmdapi.Config) NewConfig {
	return func(name string, timeout time.Duration) (*rest.Config, error) {
		if _, ok := raw.Contexts[name]; !ok {
			return nil, fmt.Errorf("context %q not found in your kubeconfig", name)
		}
		rc, err := clientcmd.NewNonInteractiveClientConfig(raw, name, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
		if err != nil {
			return nil, err
		}
		return WithDeadline(rc, timeout), nil
	}
}
