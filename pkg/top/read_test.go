package top

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsfake "k8s.io/metrics/pkg/client/clientset/versioned/fake"

	"github.com/envops/kubectl-envops/pkg/fleet"
)

func runningPod(ns, name string, lbls map[string]string, requests ...string) *corev1.Pod {
	c := corev1.Container{Name: "app", Image: "app:1"}
	if len(requests) == 2 {
		c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(requests[0]), corev1.ResourceMemory: resource.MustParse(requests[1])}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{c}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

func usage(ns, name string, lbls map[string]string, containers ...string) metricsv1beta1.PodMetrics {
	m := metricsv1beta1.PodMetrics{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls}}
	for i := 0; i+1 < len(containers); i += 2 {
		m.Containers = append(m.Containers, metricsv1beta1.ContainerMetrics{Name: "c", Usage: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(containers[i]), corev1.ResourceMemory: resource.MustParse(containers[i+1]),
		}})
	}
	return m
}

// metricsServing is a fake metrics API serving items, filtered by namespace
// and label selector as metrics-server does. The fake clientset's own
// tracker files PodMetrics under another resource name than the client
// lists, so a reactor answers instead.
func metricsServing(items ...metricsv1beta1.PodMetrics) *metricsfake.Clientset {
	c := metricsfake.NewSimpleClientset()
	c.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		l := a.(k8stesting.ListAction)
		sel := l.GetListRestrictions().Labels
		out := &metricsv1beta1.PodMetricsList{}
		for _, m := range items {
			if (l.GetNamespace() == "" || l.GetNamespace() == m.Namespace) && (sel == nil || sel.Matches(labels.Set(m.Labels))) {
				out.Items = append(out.Items, m)
			}
		}
		return true, out, nil
	})
	return c
}

func metricsFailing(err error) *metricsfake.Clientset {
	c := metricsfake.NewSimpleClientset()
	c.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, err })
	return c
}

func TestReadJoinsUsageWithLabelsAndRequests(t *testing.T) {
	web := map[string]string{"app": "web", "tier": "frontend"}
	api := map[string]string{"app": "api", "tier": "backend"}
	kube := fake.NewClientset(
		runningPod("shop", "web-1", web, "100m", "128Mi"),
		runningPod("shop", "api-1", api),
		runningPod("shop", "api-2", api), // not scraped yet
		runningPod("other", "web-9", web),
	)
	metrics := metricsServing(
		// Two containers; CPU in nanocores as metrics-server reports it.
		usage("shop", "web-1", web, "250003632n", "64Mi", "50m", "16Mi"),
		usage("shop", "api-1", api, "1", "1Gi"),
		usage("other", "web-9", web, "5m", "1Mi"),
	)
	m, err := Read(t.Context(), Clients{Kube: kube, Metrics: metrics}, Query{Namespace: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Pods) != 2 {
		t.Fatalf("pods = %+v, want web-1 and api-1 of namespace shop", m.Pods)
	}
	byName := map[string]Pod{}
	for _, p := range m.Pods {
		byName[p.Name] = p
	}
	if w := byName["web-1"]; w.CPU != 300 || w.Memory != 80*mi || w.CPURequest != 100 || w.MemoryRequest != 128*mi || w.Labels["tier"] != "frontend" {
		t.Errorf("web-1 = %+v, want 300m (both containers, rounded), 80Mi, requests 100m/128Mi, tier frontend", w)
	}
	if a := byName["api-1"]; a.CPU != 1000 || a.Memory != 1024*mi || a.CPURequest != 0 {
		t.Errorf("api-1 = %+v", a)
	}
	if strings.Join(m.Unmeasured, ",") != "shop/api-2" {
		t.Errorf("unmeasured = %v, want the running pod without metrics", m.Unmeasured)
	}

	sel, err := Read(t.Context(), Clients{Kube: kube, Metrics: metrics}, Query{Selector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(sel.Pods) != 2 || len(sel.Unmeasured) != 0 {
		t.Errorf("every namespace, app=web: %+v", sel)
	}
}

func TestReadSaysWhatIsMissingWithoutAMetricsAPI(t *testing.T) {
	gr := schema.GroupResource{Group: "metrics.k8s.io", Resource: "pods"}
	for _, tt := range []struct {
		name string
		err  error
		want []string
	}{
		{"not served at all", apierrors.NewNotFound(gr, ""), []string{"no metrics API", "metrics.k8s.io", "install metrics-server"}},
		{"registered, not answering", apierrors.NewServiceUnavailable("the server is currently unable to handle the request"), []string{"does not answer", "metrics-server is not running", "kubectl get apiservice v1beta1.metrics.k8s.io"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			kube := fake.NewClientset()
			_, err := Read(t.Context(), Clients{Kube: kube, Metrics: metricsFailing(tt.err)}, Query{Namespace: "shop"})
			if !IsMetricsAPIError(err) {
				t.Fatalf("err = %v, want a MetricsAPIError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("not one line: %q", err)
			}
			if len(kube.Actions()) != 0 {
				t.Errorf("pods were listed on a cluster without metrics: %v", kube.Actions())
			}
		})
	}
}

// Every cluster is asked at once; one that never answers is a result that
// says so after the timeout, one without a metrics API says that, and
// neither holds up the others.
func TestCollectFansOutAndReportsEachCluster(t *testing.T) {
	tier := map[string]string{"tier": "backend"}
	healthy := func() Clients {
		return Clients{Kube: fake.NewClientset(runningPod("shop", "a", tier)), Metrics: metricsServing(usage("shop", "a", tier, "100m", "10Mi"))}
	}
	stuck := metricsfake.NewSimpleClientset()
	stuck.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		time.Sleep(10 * time.Second) // ignores its context, as a hung connection may
		return true, &metricsv1beta1.PodMetricsList{}, nil
	})
	clients := map[string]Clients{
		"dev":     healthy(),
		"prod":    healthy(),
		"bare":    {Kube: fake.NewClientset(), Metrics: metricsFailing(apierrors.NewNotFound(schema.GroupResource{Group: "metrics.k8s.io", Resource: "pods"}, ""))},
		"frozen":  {Kube: fake.NewClientset(), Metrics: stuck},
		"invalid": {},
	}
	targets := []fleet.Target{{Env: "dev", Context: "dev", Namespace: "shop"}, {Env: "frozen", Context: "frozen", Namespace: "shop"},
		{Env: "bare", Context: "bare", Namespace: "shop"}, {Env: "prod", Context: "prod", Namespace: "shop"}, {Env: "gone", Context: "invalid"}}
	start := time.Now()
	results := Collect(context.Background(), targets, Request{By: []string{"tier"}, Timeout: 500 * time.Millisecond,
		Clients: func(name string, _ time.Duration) (Clients, error) {
			if name == "invalid" {
				return Clients{}, errors.New(`context "invalid" not found in your kubeconfig`)
			}
			return clients[name], nil
		}})
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Collect took %s: the frozen cluster held up the rest", took)
	}
	if len(results) != 5 {
		t.Fatalf("%d results, want one per target", len(results))
	}
	for _, i := range []int{0, 3} {
		r := results[i]
		if r.Err != nil || len(r.Groups) != 1 || r.Groups[0].CPU != 100 || r.Namespace != "shop" {
			t.Errorf("%s: %+v", r.Target.Env, r)
		}
	}
	if r := results[1]; !fleet.Unreachable(r.Err) || !strings.Contains(fleet.Reason(r.Err, 500*time.Millisecond), "no answer within 500ms") {
		t.Errorf("frozen: %v", r.Err)
	}
	if r := results[2]; !IsMetricsAPIError(r.Err) {
		t.Errorf("bare: %v", r.Err)
	}
	if r := results[4]; r.Err == nil || !strings.Contains(r.Err.Error(), "not found in your kubeconfig") {
		t.Errorf("invalid: %v", r.Err)
	}
}

func TestCollectAllNamespaces(t *testing.T) {
	tier := map[string]string{"tier": "backend"}
	c := Clients{Kube: fake.NewClientset(runningPod("a", "p", tier), runningPod("b", "q", tier)),
		Metrics: metricsServing(usage("a", "p", tier, "1m", "1Mi"), usage("b", "q", tier, "2m", "1Mi"))}
	results := Collect(t.Context(), []fleet.Target{{Context: "x", Namespace: "a"}}, Request{By: []string{"tier"}, AllNamespaces: true, Timeout: time.Second,
		Clients: func(string, time.Duration) (Clients, error) { return c, nil }})
	if r := results[0]; r.Err != nil || r.Namespace != "" || r.Groups[0].Pods != 2 || r.Groups[0].CPU != 3 {
		t.Errorf("%+v", r)
	}
}
