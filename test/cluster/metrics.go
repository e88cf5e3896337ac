package cluster

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Pods report CPU and memory through the metrics API (metrics.k8s.io): kwok
// emulates each pod's usage and serves it per node the way a kubelet serves
// /metrics/resource, metrics-server scrapes those endpoints, and the API
// server's aggregation layer serves metrics-server's API.
//
// A pod's usage is read from its annotations (kwok's own
// usage-from-annotation rule, per container); a pod without them uses 1m of
// CPU and 1Mi of memory per container. Tests may also create kwok
// ResourceUsage or ClusterResourceUsage objects of their own.
const (
	UsageCPUAnnotation    = "kwok.x-k8s.io/usage-cpu"
	UsageMemoryAnnotation = "kwok.x-k8s.io/usage-memory"
)

// MetricResolution is how often metrics-server scrapes the nodes (its
// lowest allowed value): a new pod shows in the metrics API after one or
// two scrapes.
const MetricResolution = 10 * time.Second

// MetricsAPIService is the APIService that routes metrics.k8s.io to
// metrics-server.
const MetricsAPIService = "v1beta1.metrics.k8s.io"

// kwokUsageKinds are the kwok kinds read from the API server as CRDs when
// metrics are on; the harness registers their CRDs.
var kwokUsageKinds = []string{"Metric", "ClusterResourceUsage", "ResourceUsage"}

// writeKwokMetrics collects, from the kwok module, the CRDs of its emulated
// resource usage (kwokCRDsFile) and the objects that turn it on
// (kwokUsageFile): the Metric serving kubelet-style resource metrics per
// node, and the ClusterResourceUsage reading usage from pod annotations.
func writeKwokMetrics(modJSON []byte, dir string) error {
	mod, err := moduleDir(modJSON)
	if err != nil {
		return err
	}
	if err := concatYAML(filepath.Join(dir, kwokCRDsFile), mod,
		"kustomize/crd/bases/kwok.x-k8s.io_metrics.yaml",
		"kustomize/crd/bases/kwok.x-k8s.io_clusterresourceusages.yaml",
		"kustomize/crd/bases/kwok.x-k8s.io_resourceusages.yaml"); err != nil {
		return err
	}
	return concatYAML(filepath.Join(dir, kwokUsageFile), mod,
		"kustomize/metrics/resource/metrics-resource.yaml",
		"kustomize/metrics/usage/usage-from-annotation.yaml")
}

// kwokMetricsArgs are kwok's flags for emulated usage: its usage kinds
// read from the API server, and the address every simulated node reports
// for its kubelet (kwok's own server), where metrics-server scrapes.
func (c *Cluster) kwokMetricsArgs(port int) []string {
	return []string{
		"--enable-crds=" + strings.Join(kwokUsageKinds, ","),
		"--node-ip=127.0.0.1", "--node-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + c.pki.path("kwok.crt"), "--tls-private-key-file=" + c.pki.path("kwok.key"),
	}
}

// aggregationArgs are the API server's flags for the aggregation layer:
// the client certificate it proxies with, and the CA and headers that
// aggregated servers trust for the user it names.
func (c *Cluster) aggregationArgs() []string {
	return []string{
		"--requestheader-client-ca-file=" + c.pki.path("front-proxy-ca.crt"),
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + c.pki.path("front-proxy-client.crt"),
		"--proxy-client-key-file=" + c.pki.path("front-proxy-client.key"),
	}
}

// registerKwokUsage registers kwok's usage CRDs, waits until the API server
// serves them, and creates the objects that turn usage on. kwok reads them
// at its start, so this runs before kwok does.
func (c *Cluster) registerKwokUsage(ctx context.Context) error {
	if err := c.kubectl(ctx, "apply", "--server-side", "-f", filepath.Join(c.BinDir, kwokCRDsFile)); err != nil {
		return fmt.Errorf("register kwok's resource usage CRDs: %w", err)
	}
	crds := []string{"crd/metrics.kwok.x-k8s.io", "crd/clusterresourceusages.kwok.x-k8s.io", "crd/resourceusages.kwok.x-k8s.io"}
	if err := c.kubectl(ctx, append([]string{"wait", "--for=condition=Established", "--timeout=60s"}, crds...)...); err != nil {
		return fmt.Errorf("wait for kwok's resource usage CRDs: %w", err)
	}
	if err := c.kubectl(ctx, "apply", "--server-side", "-f", filepath.Join(c.BinDir, kwokUsageFile)); err != nil {
		return fmt.Errorf("turn on kwok's resource usage: %w", err)
	}
	return nil
}

// startMetricsServer starts metrics-server on port, registers it with the
// aggregation layer (a Service naming 127.0.0.1 and the APIService, its
// serving certificate checked against the cluster CA), grants the metrics
// to the built-in view, edit and admin roles, and waits until the API
// server serves metrics.k8s.io.
func (c *Cluster) startMetricsServer(ctx context.Context, port int) error {
	if err := c.start(MetricsServer, port,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(port),
		"--tls-cert-file="+c.pki.path("metrics-server.crt"), "--tls-private-key-file="+c.pki.path("metrics-server.key"),
		"--kubeconfig="+c.Kubeconfig, "--authentication-kubeconfig="+c.Kubeconfig, "--authorization-kubeconfig="+c.Kubeconfig,
		// Every kwok node reports 127.0.0.1 and kwok's port; kwok's serving
		// certificate is signed by the cluster CA.
		"--kubelet-preferred-address-types=InternalIP", "--kubelet-use-node-status-port",
		"--kubelet-certificate-authority="+c.pki.path("ca.crt"),
		// The resolution must exceed the kubelet timeout by a tenth.
		"--metric-resolution="+MetricResolution.String(), "--kubelet-request-timeout=5s",
		"--cert-dir="+filepath.Join(c.Dir, "metrics-server-certs")); err != nil {
		return err
	}
	client, err := c.httpClient()
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(c.pki.path("ca.crt"))
	if err != nil {
		return err
	}
	host, _, _ := strings.Cut(MetricsServerHost, ".")
	objects := []struct {
		path string
		obj  map[string]any
	}{
		{"/api/v1/namespaces/kube-system/services", map[string]any{
			"apiVersion": "v1", "kind": "Service",
			"metadata": map[string]any{"name": host, "namespace": "kube-system"},
			"spec": map[string]any{"type": "ExternalName", "externalName": "127.0.0.1",
				"ports": []any{map[string]any{"name": "https", "port": port, "protocol": "TCP"}}},
		}},
		{"/apis/apiregistration.k8s.io/v1/apiservices", map[string]any{
			"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
			"metadata": map[string]any{"name": MetricsAPIService},
			"spec": map[string]any{"group": "metrics.k8s.io", "version": "v1beta1",
				"groupPriorityMinimum": 100, "versionPriority": 100,
				"service":  map[string]any{"namespace": "kube-system", "name": host, "port": port},
				"caBundle": base64.StdEncoding.EncodeToString(ca)},
		}},
		{"/apis/rbac.authorization.k8s.io/v1/clusterroles", map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
			"metadata": map[string]any{"name": "system:aggregated-metrics-reader", "labels": map[string]string{
				"rbac.authorization.k8s.io/aggregate-to-view":  "true",
				"rbac.authorization.k8s.io/aggregate-to-edit":  "true",
				"rbac.authorization.k8s.io/aggregate-to-admin": "true",
			}},
			"rules": []any{map[string]any{"apiGroups": []string{"metrics.k8s.io"}, "resources": []string{"pods", "nodes"}, "verbs": []string{"get", "list", "watch"}}},
		}},
	}
	for _, o := range objects {
		if err := c.do(ctx, client, http.MethodPost, o.path, o.obj, nil); err != nil {
			return fmt.Errorf("register metrics-server: %w", err)
		}
	}
	return c.waitHTTP(ctx, MetricsServer, client, c.Server+"/apis/metrics.k8s.io/v1beta1")
}

// kubectl runs the cluster's kubectl against it, logging to kubectl.log in
// the cluster's directory.
func (c *Cluster) kubectl(ctx context.Context, args ...string) error {
	logPath := filepath.Join(c.Dir, "kubectl.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	args = append([]string{"--kubeconfig=" + c.Kubeconfig, "--cache-dir=" + filepath.Join(c.Dir, "kubectl-cache")}, args...)
	fmt.Fprintf(logf, "$ kubectl %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, Kubectl), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = c.Dir
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl %s: %v; log: %s", args[2], err, logPath)
	}
	return nil
}
