package cluster

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// The certificates of the aggregation layer verify as each peer checks
// them: metrics-server's for its Service name (the API server's check) and
// 127.0.0.1, kwok's for 127.0.0.1 (metrics-server's check, against the
// cluster CA), and the API server's proxy client against the front-proxy CA
// that metrics-server trusts for the user named in the headers.
func TestPKIOfTheAggregationLayer(t *testing.T) {
	p, err := generatePKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	load := func(name string) *x509.Certificate {
		t.Helper()
		b, err := os.ReadFile(p.path(name))
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(b)
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	pool := func(name string) *x509.CertPool {
		cp := x509.NewCertPool()
		cp.AddCert(load(name))
		return cp
	}
	for _, c := range []struct {
		cert, ca, host string
		usage          x509.ExtKeyUsage
	}{
		{"metrics-server.crt", "ca.crt", MetricsServerHost, x509.ExtKeyUsageServerAuth},
		{"metrics-server.crt", "ca.crt", "127.0.0.1", x509.ExtKeyUsageServerAuth},
		{"kwok.crt", "ca.crt", "127.0.0.1", x509.ExtKeyUsageServerAuth},
		{"front-proxy-client.crt", "front-proxy-ca.crt", "", x509.ExtKeyUsageClientAuth},
	} {
		if _, err := load(c.cert).Verify(x509.VerifyOptions{Roots: pool(c.ca), DNSName: c.host, KeyUsages: []x509.ExtKeyUsage{c.usage}}); err != nil {
			t.Errorf("%s for %q against %s: %v", c.cert, c.host, c.ca, err)
		}
	}
	// The proxy client must not pass as a user of the cluster CA.
	if _, err := load("front-proxy-client.crt").Verify(x509.VerifyOptions{Roots: pool("ca.crt"), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("the front-proxy client certificate verifies against the cluster CA; it must have a CA of its own")
	}
}

// On a real control plane, a pod's emulated usage (kwok's annotations)
// reaches the metrics API through metrics-server and the aggregation
// layer; a cluster started without metrics serves no metrics API.
func TestMetricsAPIServesEmulatedPodUsage(t *testing.T) {
	ctx := context.Background()
	binDir, err := Build(ctx, BuildOptions{Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Up(ctx, Options{Name: "metrics", Nodes: 1, StateDir: t.TempDir(), BinDir: binDir, Log: testLog{t}, StopWithParent: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Down()
	bare, err := Up(ctx, Options{Name: "bare", Nodes: 1, StateDir: t.TempDir(), BinDir: binDir, Log: testLog{t}, StopWithParent: true, NoMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Down()
	client, err := c.httpClient()
	if err != nil {
		t.Fatal(err)
	}
	pod := map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "busy", "namespace": "default",
			"annotations": map[string]string{UsageCPUAnnotation: "250m", UsageMemoryAnnotation: "64Mi"}},
		"spec": map[string]any{"containers": []any{map[string]any{"name": "c", "image": "busy:1"}}},
	}
	if err := c.do(ctx, client, http.MethodPost, "/api/v1/namespaces/default/pods", pod, nil); err != nil {
		t.Fatal(err)
	}
	created := time.Now()
	var got struct {
		Containers []struct {
			Usage map[string]string `json:"usage"`
		} `json:"containers"`
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		err := c.do(wctx, client, http.MethodGet, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/busy", nil, &got)
		if err == nil && len(got.Containers) == 1 {
			break
		}
		if wctx.Err() != nil {
			t.Fatalf("the pod's metrics never appeared: %v", err)
		}
		time.Sleep(time.Second)
	}
	t.Logf("pod metrics after %s: %v", time.Since(created).Round(time.Second), got.Containers[0].Usage)
	if mem := got.Containers[0].Usage["memory"]; mem != "64Mi" && mem != "65536Ki" {
		t.Errorf("memory = %q, want 64Mi as emulated", mem)
	}
	// CPU is a rate over the scrape window: near 250m.
	cpu := got.Containers[0].Usage["cpu"]
	if !strings.HasSuffix(cpu, "n") && !strings.HasSuffix(cpu, "m") {
		t.Fatalf("cpu = %q", cpu)
	}
	if v := milliCPU(t, cpu); v < 240 || v > 260 {
		t.Errorf("cpu = %s (%.1fm), want about 250m as emulated", cpu, v)
	}

	bareClient, err := bare.httpClient()
	if err != nil {
		t.Fatal(err)
	}
	err = bare.do(ctx, bareClient, http.MethodGet, "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("a cluster without metrics: err = %v, want 404", err)
	}
	if bare.process(MetricsServer) != nil {
		t.Error("a cluster without metrics runs metrics-server")
	}
}

// milliCPU reads a CPU quantity in nanocores ("n") or millicores ("m").
func milliCPU(t *testing.T, q string) float64 {
	t.Helper()
	unit := q[len(q)-1]
	var v float64
	for _, r := range q[:len(q)-1] {
		if r < '0' || r > '9' {
			t.Fatalf("cpu quantity %q", q)
		}
		v = v*10 + float64(r-'0')
	}
	if unit == 'n' {
		return v / 1e6
	}
	return v
}
