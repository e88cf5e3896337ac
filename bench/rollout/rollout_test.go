// Package rollout measures the plugin's ReplicationController update against
// the Deployment controller on a local control plane (make bench-rollout).
package rollout

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/envops/kubectl-envops/pkg/rollout"
	"github.com/envops/kubectl-envops/test/cluster"
)

// kubeconfig and kubeContext name the cluster the benchmark runs on.
var kubeconfig, kubeContext string

// TestMain starts one local cluster for the run, or reuses the dev cluster
// of "make cluster-up" when ENVOPS_E2E_KUBECONFIG names its kubeconfig.
func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		// Not benchmarking (go test ./...): no cluster to start.
		return m.Run()
	}
	if kc := os.Getenv("ENVOPS_E2E_KUBECONFIG"); kc != "" {
		kubeconfig, kubeContext = kc, cluster.ContextName("dev")
		return m.Run()
	}
	state, err := os.MkdirTemp("", "envops-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	defer os.RemoveAll(state)
	s, err := cluster.StartSet(context.Background(), cluster.SetOptions{
		Names: []string{"bench"}, StateDir: filepath.Join(state, "clusters"), Log: os.Stderr,
		StopWithParent: true, // a benchmark killed by its -timeout leaves no cluster behind
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: start cluster:", err)
		return 1
	}
	defer s.Down()
	kubeconfig, kubeContext = s.Kubeconfig, cluster.ContextName("bench")
	return m.Run()
}

var labels = map[string]string{"app": "web", "role": "api"}

func podTemplate(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(labels)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
	}
}

// replicationController is the app as a render produces it.
func replicationController(replicas int32, image string) *corev1.ReplicationController {
	tpl := podTemplate(image)
	return &corev1.ReplicationController{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ReplicationController"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: maps.Clone(labels)},
		Spec:       corev1.ReplicationControllerSpec{Replicas: ptr.To(replicas), Selector: maps.Clone(labels), Template: &tpl},
	}
}

// deployment is the same app as a Deployment, beside it under another name.
func deployment(replicas int32, image string) *unstructured.Unstructured {
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web-deployment", Labels: maps.Clone(labels)},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web-deployment"}},
			Template: podTemplate(image),
		},
	}
	d.Spec.Template.Labels["app"] = "web-deployment"
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
	if err != nil {
		panic(err)
	}
	obj := &unstructured.Unstructured{Object: u}
	unstructured.RemoveNestedField(obj.Object, "status")
	unstructured.RemoveNestedField(obj.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(obj.Object, "spec", "template", "metadata", "creationTimestamp")
	return obj
}

// countingTransport counts the requests a client sends.
type countingTransport struct {
	base http.RoundTripper
	n    *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

// runs is how many updates of each kind every size is measured over
// (BENCH_COUNT, default 3): the benchmark runs once (-benchtime 1x) and
// loops itself, so no warm-up iteration is silently added.
func runs(b *testing.B) int {
	n := 3
	if v := os.Getenv("BENCH_COUNT"); v != "" {
		c, err := strconv.Atoi(v)
		if err != nil || c < 1 {
			b.Fatalf("BENCH_COUNT=%q: want a positive count", v)
		}
		n = c
	}
	return n
}

// BenchmarkRollingUpdate rolls a ReplicationController with the plugin's
// updater, then the equivalent Deployment through its controller, at 30
// replicas (max surge 3) and 300 (max surge 30), max unavailable 0, and
// reports the mean wall times, their ratio and the requests the plugin
// sent for each.
func BenchmarkRollingUpdate(b *testing.B) {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []struct {
		replicas int32
		surge    string
	}{{30, "3"}, {300, "30"}} {
		b.Run(fmt.Sprintf("replicas=%d/surge=%s", size.replicas, size.surge), func(b *testing.B) {
			bench(b, cfg, size.replicas, size.surge)
		})
	}
}

func bench(b *testing.B, cfg *rest.Config, replicas int32, surge string) {
	var requests atomic.Int64
	cfg = rest.CopyConfig(cfg)
	// The plugin's own clients allow kubectl's request rate; client-go's
	// default (5 per second) would measure the throttle, not the updater.
	cfg.QPS, cfg.Burst = 50, 300
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{base: rt, n: &requests} })
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	o := rollout.Options{MaxSurge: ptr.To(intstr.Parse(surge)), MaxUnavailable: ptr.To(intstr.FromInt32(0)), Timeout: 10 * time.Minute}
	var rcTime, deployTime time.Duration
	var rcRequests, deployRequests int64
	n := b.N * runs(b)
	b.ResetTimer()
	for i := 0; i < n; i++ {
		b.StopTimer()
		ns := namespace(b, cs)
		rcs := &rollout.ReplicationControllers{Client: cs, Namespace: ns}
		deps := &rollout.Deployments{Client: cs, Namespace: ns}
		if _, err := rcs.Deploy(ctx, replicationController(replicas, "nginx:1.27"), o); err != nil {
			b.Fatal(err)
		}
		if _, err := deps.Deploy(ctx, deployment(replicas, "nginx:1.27"), o); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()

		requests.Store(0)
		start := time.Now()
		if _, err := rcs.Deploy(ctx, replicationController(replicas, "nginx:1.28"), o); err != nil {
			b.Fatal(err)
		}
		rcTime += time.Since(start)
		rcRequests += requests.Load()

		requests.Store(0)
		start = time.Now()
		if _, err := deps.Deploy(ctx, deployment(replicas, "nginx:1.28"), o); err != nil {
			b.Fatal(err)
		}
		deployTime += time.Since(start)
		deployRequests += requests.Load()

		b.StopTimer()
		deleteNamespace(b, cs, ns)
		b.StartTimer()
	}
	b.ReportMetric(rcTime.Seconds()/float64(n), "rc-s/op")
	b.ReportMetric(deployTime.Seconds()/float64(n), "deployment-s/op")
	b.ReportMetric(rcTime.Seconds()/deployTime.Seconds(), "rc/deployment")
	b.ReportMetric(float64(rcRequests)/float64(n), "rc-requests/op")
	b.ReportMetric(float64(deployRequests)/float64(n), "deployment-requests/op")
	b.ReportMetric(float64(n), "runs")
}

// namespace creates a namespace and waits for its default ServiceAccount,
// without which pods cannot be created.
func namespace(b *testing.B, cs kubernetes.Interface) string {
	ctx := context.Background()
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-rollout-"}}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if _, err := cs.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			return ns.Name
		} else if time.Now().After(deadline) {
			b.Fatalf("no default ServiceAccount in %s: %v", ns.Name, err)
		}
	}
}

// deleteNamespace deletes a namespace and waits until it is gone, so the
// next run does not share the cluster with hundreds of terminating pods.
func deleteNamespace(b *testing.B, cs kubernetes.Interface, ns string) {
	ctx := context.Background()
	if err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("namespace %s still exists 5 minutes after its deletion", ns)
		}
	}
}
