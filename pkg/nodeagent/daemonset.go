package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"

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
	if opts.DryRun == rollout.DryRunNone {
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
	case unchangedDaemonSet(live, out):
		res.Action = ActionUnchanged
	default:
		res.Action = ActionConfigured
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
		return nil, ap.explainDaemonSetFailure(ctx, ds, err)
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

// unchangedDaemonSet tells whether a server dry run of an apply would leave
// the DaemonSet as it is: a dry run never bumps the resourceVersion, so
// the spec's generation and the metadata tell.
func unchangedDaemonSet(before, after *appsv1.DaemonSet) bool {
	return before.Generation == after.Generation && maps.Equal(before.Labels, after.Labels) && maps.Equal(before.Annotations, after.Annotations)
}

// explainDaemonSetFailure adds to a DaemonSet's failed wait which nodes
// lack a Ready agent, and why: the rollout counts pods, the user fixes nodes.
func (ap *Installer) explainDaemonSetFailure(ctx context.Context, ds *appsv1.DaemonSet, err error) error {
	var failed *rollout.FailedError
	if !errors.As(err, &failed) || ctx.Err() != nil {
		return err
	}
	st, serr := GetStatus(ctx, ap.Client, ds.Namespace, ds.Name)
	if serr != nil {
		return err
	}
	var missing []string
	for _, n := range st.Nodes {
		if n.Schedulable && !n.Ready {
			missing = append(missing, n.Node+" ("+n.Reason+")")
		}
	}
	if len(missing) == 0 {
		return err
	}
	return fmt.Errorf("%w; no Ready agent on %s", err, strings.Join(missing, ", "))
}
