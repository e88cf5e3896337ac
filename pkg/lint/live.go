package lint

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/pager"

	"github.com/envops/kubectl-envops/pkg/rbac"
)

// LiveResources are the workload resources read from a live cluster, in
// report order.
var LiveResources = []schema.GroupVersionResource{
	{Version: "v1", Resource: "replicationcontrollers"},
	{Group: "apps", Version: "v1", Resource: "deployments"},
	{Group: "apps", Version: "v1", Resource: "daemonsets"},
	{Group: "apps", Version: "v1", Resource: "statefulsets"},
	{Group: "apps", Version: "v1", Resource: "replicasets"},
	{Group: "batch", Version: "v1", Resource: "jobs"},
	{Group: "batch", Version: "v1", Resource: "cronjobs"},
	{Version: "v1", Resource: "pods"},
}

// livePageSize bounds how many objects one list call returns, so a large
// cluster is read in pages rather than all at once.
const livePageSize = 500

// LiveTarget is one cluster (context) and namespace to read.
type LiveTarget struct {
	Context string
	// Namespace is the namespace to read; "" reads all namespaces.
	Namespace string
	// Selector, when set, reads only the objects whose labels it selects.
	Selector string
	Client   dynamic.Interface
}

func (t LiveTarget) where() string {
	if t.Namespace == "" {
		return fmt.Sprintf("all namespaces of context %q", t.Context)
	}
	return fmt.Sprintf("namespace %q of context %q", t.Namespace, t.Context)
}

// LintLive checks the workloads of a live namespace (or all namespaces),
// page by page. Objects a controller owns (a Deployment's ReplicaSets, a
// ReplicaSet's pods, a CronJob's Jobs) are skipped: their owner is checked.
func (l *Linter) LintLive(ctx context.Context, t LiveTarget, rep *Report) error {
	src := Source{Context: t.Context, Namespace: t.Namespace}
	rep.AddSource(src)
	for _, gvr := range LiveResources {
		ri := t.Client.Resource(gvr).Namespace(t.Namespace)
		p := pager.New(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return ri.List(ctx, opts)
		})
		p.PageSize = livePageSize
		err := p.EachListItem(ctx, metav1.ListOptions{LabelSelector: t.Selector}, func(obj runtime.Object) error {
			u, ok := obj.(*unstructured.Unstructured)
			if !ok || metav1.GetControllerOf(u) != nil {
				return nil
			}
			// Status and field ownership are never checked; dropping them
			// keeps the conversion cheap.
			unstructured.RemoveNestedField(u.Object, "status")
			unstructured.RemoveNestedField(u.Object, "metadata", "managedFields")
			if u.GetAPIVersion() == "" {
				u.SetAPIVersion(gvr.GroupVersion().String())
			}
			o, err := FromUnstructured(u, src)
			if err != nil {
				return err
			}
			l.LintObjects([]*Object{o}, rep)
			return nil
		})
		var urlErr *url.Error
		switch {
		case err == nil:
		case apierrors.IsNotFound(err):
			// The cluster does not serve this resource; nothing to check.
		case errors.As(err, &urlErr):
			return fmt.Errorf("cannot reach the cluster of context %q at %s: %w; check it with \"kubectl cluster-info --context %s\"", t.Context, serverOf(urlErr.URL), urlErr.Err, t.Context)
		case apierrors.IsForbidden(err):
			return &rbac.ExplainedError{Err: fmt.Errorf("cannot list %s in %s: access denied; grant read access to workloads (kubectl envops rbac --for lint prints a role): %w",
				gvr.GroupResource(), t.where(), err)}
		default:
			return fmt.Errorf("cannot list %s in %s: %w", gvr.GroupResource(), t.where(), err)
		}
	}
	return nil
}

// serverOf is the scheme and host of a request's URL: the server, without
// the path (or anything else) of the request.
func serverOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "its API server"
	}
	return u.Scheme + "://" + u.Host
}
