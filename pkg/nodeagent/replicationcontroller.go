package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/envops/kubectl-envops/pkg/rollout"
)

func (ap *Installer) applyReplicationController(ctx context.Context, spec Spec, opts InstallOptions, res *InstallResult) (*InstallResult, error) {
	rc, err := RenderReplicationController(spec, 0)
	if err != nil {
		return nil, err
	}
	nodeList, err := ap.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("cannot list nodes to count the agent's replicas: %w", err)
	}
	nodes := make([]*corev1.Node, 0, len(nodeList.Items))
	for i := range nodeList.Items {
		nodes = append(nodes, &nodeList.Items[i])
	}
	res.Nodes = ClassifyNodes(nodes, rc.Spec.Template)
	rc.Spec.Replicas = ptr.To(res.Nodes.Count())

	updater := &rollout.ReplicationControllers{Client: ap.Client, Namespace: spec.Namespace, Events: ap.Events}
	ro := rollout.Options{
		// One node at a time: the old agent must leave a node before the
		// new one can claim its host port.
		MaxSurge:       ptr.To(intstr.FromInt32(0)),
		MaxUnavailable: ptr.To(intstr.FromInt32(1)),
		Timeout:        opts.Timeout,
		DryRun:         opts.DryRun,
	}
	if opts.DryRun != rollout.DryRunNone {
		plan, err := updater.Plan(ctx, rc, ro)
		if err != nil {
			return nil, err
		}
		r, err := updater.Deploy(ctx, rc, ro)
		if err != nil {
			return nil, err
		}
		res.Action, res.Object = string(r.Action), plan.Desired
		return res, nil
	}
	obj, err := asUnstructured(rc, "v1", KindReplicationController)
	if err != nil {
		return nil, err
	}
	r, err := ap.Deploy(ctx, res.Environment, obj, ro)
	if err != nil {
		return nil, ap.explainPortFailure(ctx, spec, err)
	}
	res.Action = string(r.Action)
	live, err := ap.Client.CoreV1().ReplicationControllers(spec.Namespace).Get(ctx, spec.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("cannot read ReplicationController %q after applying it: %w", spec.Name, err)
	}
	live.APIVersion, live.Kind = "v1", KindReplicationController
	res.Object = live
	return res, nil
}

// explainPortFailure adds, to an update that failed because a pod cannot
// be scheduled for want of the host port, which node's port is taken by what.
func (ap *Installer) explainPortFailure(ctx context.Context, spec Spec, err error) error {
	var pf *rollout.PodFailure
	if !errors.As(err, &pf) || !strings.Contains(pf.Message, freePortsReason) {
		return err
	}
	a, ferr := find(ctx, ap.Client, spec.Namespace, spec.Name)
	if ferr != nil {
		return err
	}
	st, serr := GetStatus(ctx, ap.Client, a.Namespace, a.Name)
	if serr != nil {
		return err
	}
	var taken []string
	for _, n := range st.Nodes {
		if n.Schedulable && n.Pod == "" && strings.HasPrefix(n.Reason, "host port") {
			taken = append(taken, "node "+n.Node+": "+n.Reason)
		}
	}
	if len(taken) == 0 {
		return err
	}
	// Running the same command again cannot help while the port is taken,
	// so this is the pod's failure, not an update left for a resume.
	return fmt.Errorf("%w; %s", pf, strings.Join(taken, "; "))
}
