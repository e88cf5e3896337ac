package completion

import (
	"context"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// KubeconfigNames are the names of kind ("context", "cluster" or "user")
// in cfg, each with its description: a context's cluster, a cluster's server.
func KubeconfigNames(cfg *clientcmdapi.Config, kind string) map[string]string {
	names := map[string]string{}
	switch kind {
	case "context":
		for name, ctx := range cfg.Contexts {
			names[name] = "cluster " + ctx.Cluster
		}
	case "cluster":
		for name, cluster := range cfg.Clusters {
			names[name] = cluster.Server
		}
	case "user":
		for name := range cfg.AuthInfos {
			names[name] = ""
		}
	}
	return names
}

// namespaceTimeout bounds the wait for an unreachable cluster, so that a
// TAB never hangs the shell.
const namespaceTimeout = 5 * time.Second

// Namespaces lists the namespaces of the cluster.
func Namespaces(ctx context.Context, cs kubernetes.Interface) (map[string]string, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, namespaceTimeout)
	defer cancel()
	list, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, ns := range list.Items {
		names[ns.Name] = ""
	}
	return names, nil
}

// WithPrefix returns the names that start with prefix, sorted, each with
// its description after a tab when it has one, as shells show choices.
func WithPrefix(names map[string]string, prefix string) []string {
	keys := make([]string, 0, len(names))
	for k := range names {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for i, k := range keys {
		if d := names[k]; d != "" {
			keys[i] = k + "\t" + d
		}
	}
	return keys
}
