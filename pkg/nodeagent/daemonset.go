package nodeagent

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/kubectl/pkg/polymorphichelpers"

	"github.com/envops/kubectl-envops/pkg/kube/watcher"
	"github.com/envops/kubectl-envops/pkg/rollout"
)

// ServesDaemonSets tells, from discovery, whether the cluster serves
// daemonsets in apps/v1.
func ServesDaemonSets(d discovery.DiscoveryInterface) (bool, error) {
	list, err := d.ServerResourcesForGroupVersion(appsv1.SchemeGroupVersion.String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cannot discover the resources of apps/v1: %w", err)
	}
	for _, r := range list.APIResources {
		if r.Name == "daemonsets" {
			return true, nil
		}
	}
	return false, nil
}

func (ap *Installer) applyDaemonSet(ctx context.Context, spec Spec, opts InstallOptions, res *InstallResult) (*InstallResult, error) {
	ds, err := RenderDaemonSet(spec)
	if err != nil {
		return nil, err
	}
	dsClient := ap.Client.AppsV1().DaemonSets(spec.Namespace)
	live, err := dsClient.Get(ctx, spec.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return nil, fmt.Errorf("cannot read DaemonSet %q in namespace %q: %w", spec.Name, spec.Namespace, err)
	}
	if opts.DryRun == rollout.DryRunClient {
		res.Object, res.Action = ds, ActionConfigured
		if live == nil {
			res.Action = ActionCreated
		}
		return res, nil
	}
	if ap.Deploy != nil && opts.DryRun == rollout.DryRunNone {
		return ap.deployDaemonSet(ctx, ds, opts, res)
	}
	out, err := rollout.ForceApply(ctx, dsClient, spec.Name, ds, opts.DryRun)
	if err != nil {
		return nil, fmt.Errorf("cannot apply DaemonSet %q in namespace %q: %w", spec.Name, spec.Namespace, err)
	}
	out.APIVersion, out.Kind = "apps/v1", KindDaemonSet
	res.Object = out
	switch {
	case live == nil:
		res.Action = ActionCreated
	case unchangedDaemonSet(live, out, opts.DryRun != rollout.DryRunNone):
		res.Action = ActionUnchanged
	default:
		res.Action = ActionConfigured
	}
	if opts.DryRun != rollout.DryRunNone {
		return res, nil
	}
	if err := ap.waitDaemonSet(ctx, out, opts.Timeout); err != nil {
		return nil, err
	}
	return res, nil
}

// deployDaemonSet applies the agent's DaemonSet through Deploy and reads
// it back for the summary.
func (ap *Installer) deployDaemonSet(ctx context.Context, ds *appsv1.DaemonSet, opts InstallOptions, res *InstallResult) (*InstallResult, error) {
	obj, err := asUnstructured(ds, "apps/v1", KindDaemonSet)
	if err != nil {
		return nil, err
	}
	r, err := ap.Deploy(ctx, res.Environment, obj, rollout.Options{Timeout: opts.Timeout})
	if err != nil {
		return nil, err
	}
	switch r.Action {
	case rollout.ActionCreated:
		res.Action = ActionCreated
	case rollout.ActionUnchanged:
		res.Action = ActionUnchanged
	default:
		res.Action = ActionConfigured
	}
	live, err := ap.Client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("cannot read DaemonSet %q after applying it: %w", ds.Name, err)
	}
	live.APIVersion, live.Kind = "apps/v1", KindDaemonSet
	res.Object = live
	return res, nil
}

// unchangedDaemonSet tells whether an apply left the DaemonSet as it was. A
// real apply that changes nothing keeps the resourceVersion; a dry run
// never bumps it, so there the spec's generation and the metadata tell.
func unchangedDaemonSet(before, after *appsv1.DaemonSet, dryRun bool) bool {
	if !dryRun {
		return before.ResourceVersion == after.ResourceVersion
	}
	return before.Generation == after.Generation && maps.Equal(before.Labels, after.Labels) && maps.Equal(before.Annotations, after.Annotations)
}

// waitDaemonSet waits, as "kubectl rollout status" does, until every node
// the DaemonSet should cover runs an available pod of its latest template.
func (ap *Installer) waitDaemonSet(ctx context.Context, ds *appsv1.DaemonSet, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = rollout.DefaultTimeout
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := ap.untilDaemonSetDone(wctx, ds)
	if err == nil {
		return nil
	}
	if wctx.Err() != nil && ctx.Err() == nil {
		return fmt.Errorf("timed out after %s waiting for the pods of daemonset.apps/%s: %s", timeout, ds.Name, ap.coverage(ctx, ds.Namespace, ds.Name))
	}
	return fmt.Errorf("waiting for the pods of daemonset.apps/%s: %w", ds.Name, err)
}

// untilDaemonSetDone watches the DaemonSet until kubectl's status viewer
// says it is rolled out, or ctx ends.
func (ap *Installer) untilDaemonSetDone(ctx context.Context, ds *appsv1.DaemonSet) error {
	w := watcher.New(ap.Client)
	daemonSets := w.DaemonSets(ds.Namespace, ds.Name)
	if err := w.Start(ctx); err != nil {
		return err
	}
	defer w.Stop()
	viewer := &polymorphichelpers.DaemonSetStatusViewer{}
	for {
		if err := w.Failed(); err != nil {
			return err
		}
		cur, err := daemonSets.Get(ds.Name)
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("DaemonSet %q was deleted while its pods were starting", ds.Name)
		}
		if err != nil {
			return err
		}
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(cur)
		if err != nil {
			return err
		}
		if _, done, err := viewer.Status(&unstructured.Unstructured{Object: u}, 0); done || err != nil {
			return err
		}
		if err := w.Wait(ctx, time.Time{}); err != nil {
			return err
		}
	}
}

// coverage summarises the agent's status for an error message.
func (ap *Installer) coverage(ctx context.Context, namespace, name string) string {
	st, err := GetStatus(ctx, ap.Client, namespace, name)
	if err != nil {
		return "its status cannot be read: " + err.Error()
	}
	ready, total := st.Covered()
	var missing []string
	for _, n := range st.Nodes {
		if n.Schedulable && !n.Ready {
			missing = append(missing, n.Node+" ("+n.Reason+")")
		}
	}
	return fmt.Sprintf("%d of %d nodes have a Ready agent; missing on %s", ready, total, strings.Join(missing, ", "))
}
