package environment

import (
	"context"
	"errors"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/kube"
	"github.com/envops/kubectl-envops/pkg/kube/kubetest"
)

// The guard before a deploy waits, within its caller's bound, for an API
// server that refuses connections while it restarts, and then reads the
// namespace's answer; it does not fail at the first refusal.
func TestTheGuardWaitsForARestartingServer(t *testing.T) {
	srv := kubetest.Restarting(t, 2*time.Second)
	kubeconfig := kubetest.Kubeconfig(t, kubetest.Context{Name: "prod", Server: srv.URL})
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	rc.Timeout = 30 * time.Second
	client, err := kubernetes.NewForConfig(kube.WithTransientRetries(rc))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = CheckIn(ctx, client, "prod", "web", "prod", config.Default().Secret)
	// The server, once back, knows neither the namespace nor its Secret:
	// the guard says so, rather than that it could not connect.
	var ne *NamespaceError
	if !errors.As(err, &ne) || ne.Terminating {
		t.Fatalf("error %v, want the answer of the server once back: namespace web not found", err)
	}
}
