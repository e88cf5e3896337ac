package kube_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envops/kubectl-envops/pkg/kube"
	"github.com/envops/kubectl-envops/pkg/kube/kubetest"
)

// An answer larger than any object is one error, read no further than
// the limit, whether the server announces its length or streams it.
func TestAHugeAnswerIsOneError(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		name := map[bool]string{false: "with a length", true: "streamed"}[chunked]
		t.Run(name, func(t *testing.T) {
			srv := kubetest.Huge(t, 1<<30, chunked)
			client, err := clientFor(kubetest.Kubeconfig(t, kubetest.Context{Name: "huge", Server: srv.URL}), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			err = getSecret(t, client)
			var tooLarge *kube.ResponseTooLargeError
			if !errors.As(err, &tooLarge) {
				t.Fatalf("error %v, want a ResponseTooLargeError", err)
			}
			want := "the answer to GET " + srv.URL + "/api/v1/namespaces/default/secrets/environment is larger than 16 MiB"
			if !strings.HasPrefix(tooLarge.Error(), want) {
				t.Errorf("message %q, want it to start %q", tooLarge.Error(), want)
			}
		})
	}
}

func TestResponseLimits(t *testing.T) {
	for path, want := range map[string]int64{
		"/api/v1/namespaces/web/secrets/environment":         kube.MaxObjectBytes,
		"/api/v1/namespaces/kube-system":                     kube.MaxObjectBytes,
		"/apis/apps/v1/namespaces/web/deployments/web/scale": kube.MaxObjectBytes,
		"/api/v1/nodes/n1":                                   kube.MaxObjectBytes,
		"/api/v1/namespaces/web/secrets":                     kube.MaxListBytes,
		"/api/v1/namespaces":                                 kube.MaxListBytes,
		"/apis/apps/v1/deployments":                          kube.MaxListBytes,
		"/api/v1/namespaces/web/pods/web-1/log":              kube.MaxListBytes,
		"/apis":                                              kube.MaxListBytes,
		"/openapi/v3/apis/apps/v1":                           kube.MaxListBytes,
	} {
		if got := kube.ResponseLimit(path); got != want {
			t.Errorf("limit of %s: %d MiB, want %d MiB", path, got>>20, want>>20)
		}
	}
}

// A check that its caller bounds (deploy's environment check, by
// --timeout) waits for an API server that refuses connections while it
// restarts; any other request fails at once, as kubectl's do.
func TestRefusedConnectionsAreRetriedWhenTheCallerAsks(t *testing.T) {
	srv := kubetest.Restarting(t, 2*time.Second)
	client, err := clientFor(kubetest.Kubeconfig(t, kubetest.Context{Name: "restarting", Server: srv.URL}), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.CoreV1().Secrets("web").Get(context.Background(), "environment", metav1.GetOptions{})
	if err == nil || apierrors.IsNotFound(err) || srv.Requests() != 0 {
		t.Fatalf("error %v after %d requests answered, want a refused connection at once", err, srv.Requests())
	}
	ctx, cancel := context.WithTimeout(kube.RetryRefused(context.Background()), 20*time.Second)
	defer cancel()
	if _, err = client.CoreV1().Secrets("web").Get(ctx, "environment", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("error %v, want the answer of the server once it is back (not found)", err)
	}
}

func TestRefusedUntilTheDeadlineSaysSo(t *testing.T) {
	srv := kubetest.Refusing(t)
	client, err := clientFor(kubetest.Kubeconfig(t, kubetest.Context{Name: "down", Server: srv.URL}), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(kube.RetryRefused(context.Background()), 2*time.Second)
	defer cancel()
	_, err = client.CoreV1().Secrets("web").Get(ctx, "environment", metav1.GetOptions{})
	var refused *kube.RefusedError
	if !errors.As(err, &refused) || !strings.Contains(err.Error(), "connection refused (retried for ") {
		t.Fatalf("error %v, want the refused connection and how long it was retried", err)
	}
}
