package top

import (
	"context"
	"strconv"
	"time"

	"k8s.io/client-go/kubernetes"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/envops/kubectl-envops/pkg/fleet"
)

// NewClients builds the clients of a context whose every request ends
// after timeout; tests replace it with fakes.
type NewClients func(contextName string, timeout time.Duration) (Clients, error)

// ConfigClients builds both clients from the REST configurations configs
// gives.
func ConfigClients(configs fleet.NewConfig) NewClients {
	return func(name string, timeout time.Duration) (Clients, error) {
		rc, err := configs(name, timeout)
		if err != nil {
			return Clients{}, err
		}
		kube, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return Clients{}, err
		}
		metrics, err := metricsclient.NewForConfig(rc)
		if err != nil {
			return Clients{}, err
		}
		return Clients{Kube: kube, Metrics: metrics}, nil
	}
}

// Request is what to measure in every cluster and how to group it.
type Request struct {
	// By are the grouping labels, in order.
	By []string
	// Selector is a label selector in kubectl's syntax.
	Selector string
	// AllNamespaces measures every namespace instead of each target's.
	AllNamespaces bool
	// SortBy orders each cluster's groups.
	SortBy SortBy
	// Timeout bounds each cluster.
	Timeout time.Duration
	Clients NewClients
}

// Result is one cluster's answer.
type Result struct {
	Target fleet.Target
	// Namespace is where the pods were read; "" for every namespace.
	Namespace string
	Groups    []Group
	// Unmeasured are running pods without metrics yet.
	Unmeasured []string
	// Err is why the cluster could not be measured: no answer within the
	// timeout, no metrics API, a refusal.
	Err error
}

// Collect asks every target at once, each within r.Timeout, and returns
// one result per target in their order: a cluster that does not answer,
// or has no metrics API, never delays the others.
func Collect(ctx context.Context, targets []fleet.Target, r Request) []Result {
	// Targets are told apart by position: two environments may share a
	// context.
	names := make([]string, len(targets))
	for i := range targets {
		names[i] = strconv.Itoa(i)
	}
	ns := func(t fleet.Target) string {
		if r.AllNamespaces {
			return ""
		}
		return t.Namespace
	}
	answers := fleet.Each(ctx, names, r.Timeout, func(ctx context.Context, name string) (*Measurement, error) {
		t := targets[mustAtoi(name)]
		c, err := r.Clients(t.Context, r.Timeout)
		if err != nil {
			return nil, err
		}
		return Read(ctx, c, Query{Namespace: ns(t), Selector: r.Selector})
	})
	out := make([]Result, len(targets))
	for i, a := range answers {
		res := Result{Target: targets[i], Namespace: ns(targets[i]), Err: a.Err}
		if a.Err == nil {
			res.Groups = GroupPods(a.Value.Pods, r.By)
			Sort(res.Groups, r.SortBy)
			res.Unmeasured = a.Value.Unmeasured
		}
		out[i] = res
	}
	return out
}

func mustAtoi(s string) int {
	i, _ := strconv.Atoi(s)
	return i
}

// Watch collects every interval and hands each round to show, until ctx
// ends or show fails.
func Watch(ctx context.Context, targets []fleet.Target, r Request, interval time.Duration, show func([]Result) error) error {
	for {
		results := Collect(ctx, targets, r)
		if ctx.Err() != nil {
			return nil
		}
		if err := show(results); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// Row is one group of one cluster as scripts read it (-o json), or a
// cluster that could not be measured (Error set).
type Row struct {
	Environment string `json:"environment,omitempty"`
	Context     string `json:"context"`
	// Namespace is where pods were read; empty for every namespace.
	Namespace string `json:"namespace,omitempty"`
	Group
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Rows flattens results into rows, a failed cluster one row whose Error
// says why (fleet.Reason, within timeout).
func Rows(results []Result, timeout time.Duration) []Row {
	rows := []Row{}
	for _, r := range results {
		base := Row{Environment: r.Target.Env, Context: r.Target.Context, Namespace: r.Namespace}
		if r.Err != nil {
			base.Error = fleet.Reason(r.Err, timeout)
			rows = append(rows, base)
			continue
		}
		for _, g := range r.Groups {
			row := base
			row.Group = g
			row.CPU, row.Memory = FormatCPU(g.CPU), FormatMemory(g.Memory)
			rows = append(rows, row)
		}
	}
	return rows
}
