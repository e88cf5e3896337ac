package top

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	resourcehelper "k8s.io/component-helpers/resource"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
)

// MetricsAPIService is the APIService a cluster registers to serve the
// metrics API; metrics-server is what usually answers it.
const MetricsAPIService = "v1beta1.metrics.k8s.io"

// Clients are what Read needs of one cluster.
type Clients struct {
	Kube    kubernetes.Interface
	Metrics metricsclient.Interface
}

// Query says which pods to measure.
type Query struct {
	// Namespace is where to look; "" means every namespace.
	Namespace string
	// Selector is a label selector in kubectl's syntax ("" for all pods).
	Selector string
}

// Measurement is what one cluster reports for a query.
type Measurement struct {
	Pods []Pod
	// Unmeasured are running pods that the metrics API does not report
	// yet, as namespace/name: a new pod shows after one or two scrapes.
	Unmeasured []string
}

// MetricsAPIError says that a cluster has no working metrics API, what is
// missing and how to get it.
type MetricsAPIError struct {
	// Registered is true when the API is registered but does not answer.
	Registered bool
	Err        error
}

func (e *MetricsAPIError) Error() string {
	if e.Registered {
		return fmt.Sprintf("the metrics API (APIService %s) does not answer: metrics-server is not running or not ready; check \"kubectl get apiservice %s\" and the metrics-server pods", MetricsAPIService, MetricsAPIService)
	}
	return fmt.Sprintf("no metrics API: the cluster does not serve metrics.k8s.io (APIService %s); install metrics-server (https://github.com/kubernetes-sigs/metrics-server) to see pod usage", MetricsAPIService)
}

func (e *MetricsAPIError) Unwrap() error { return e.Err }

// Read lists the pods of q with their use from the metrics API and their
// requests from their specs. A cluster without a working metrics API gives
// a *MetricsAPIError.
func Read(ctx context.Context, c Clients, q Query) (*Measurement, error) {
	opts := metav1.ListOptions{LabelSelector: q.Selector}
	// The metrics first: a cluster without them answers at once.
	usage, err := c.Metrics.MetricsV1beta1().PodMetricses(q.Namespace).List(ctx, opts)
	switch {
	case apierrors.IsNotFound(err):
		return nil, &MetricsAPIError{Err: err}
	case apierrors.IsServiceUnavailable(err):
		return nil, &MetricsAPIError{Registered: true, Err: err}
	case err != nil:
		return nil, fmt.Errorf("cannot read pod metrics: %w", err)
	}
	pods, err := c.Kube.CoreV1().Pods(q.Namespace).List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("cannot list pods: %w", err)
	}
	type use struct{ cpu, memory int64 }
	used := map[string]use{}
	for _, m := range usage.Items {
		var nanos, bytes int64
		for _, ct := range m.Containers {
			cpu, mem := ct.Usage[corev1.ResourceCPU], ct.Usage[corev1.ResourceMemory]
			nanos += cpu.ScaledValue(resource.Nano)
			bytes += mem.Value()
		}
		used[m.Namespace+"/"+m.Name] = use{cpu: (nanos + 500_000) / 1_000_000, memory: bytes}
	}
	out := &Measurement{}
	for i := range pods.Items {
		p := &pods.Items[i]
		key := p.Namespace + "/" + p.Name
		u, ok := used[key]
		if !ok {
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				out.Unmeasured = append(out.Unmeasured, key)
			}
			continue
		}
		req := resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{})
		cpuReq, memReq := req[corev1.ResourceCPU], req[corev1.ResourceMemory]
		out.Pods = append(out.Pods, Pod{
			Namespace: p.Namespace, Name: p.Name, Labels: p.Labels,
			CPU: u.cpu, Memory: u.memory,
			CPURequest: cpuReq.MilliValue(), MemoryRequest: memReq.Value(),
		})
	}
	return out, nil
}

// IsMetricsAPIError tells whether err says a cluster has no working
// metrics API.
func IsMetricsAPIError(err error) bool {
	var me *MetricsAPIError
	return errors.As(err, &me)
}

func validLabelKey(l string) error {
	if errs := validation.IsQualifiedName(l); len(errs) > 0 {
		return fmt.Errorf("invalid label %q in --by: %s", l, strings.Join(errs, "; "))
	}
	return nil
}
