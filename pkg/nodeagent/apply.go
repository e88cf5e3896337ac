package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/polymorphichelpers"
	"k8s.io/utils/ptr"

	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/environment"
	"github.com/envops/kubectl-envops/pkg/kube/watcher"
	"github.com/envops/kubectl-envops/pkg/rollout"
)

// Actions reported for a DaemonSet; a ReplicationController reports the
// updater's rollout.Action.
const (
	ActionCreated    = "created"
	ActionConfigured = "configured"
	ActionUnchanged  = "unchanged"
)

// Installer renders an agent and installs or updates it on a cluster:
// as a DaemonSet, or as a ReplicationController rolled by the updater.
type Installer struct {
	Client    kubernetes.Interface
	Discovery discovery.DiscoveryInterface
	// Events receives the steps of a ReplicationController's create or
	// rolling update; nil discards them.
	Events rollout.EventFunc
}

// InstallOptions tunes one Install.
type InstallOptions struct {
	Mode   Mode
	DryRun rollout.DryRun
	// Timeout bounds the wait for the agent's pods to become Ready (for a
	// ReplicationController: without progress); zero means rollout.DefaultTimeout.
	Timeout time.Duration
}

// InstallResult is what Install did.
type InstallResult struct {
	// Mode is the kind of controller chosen, and Why says how it was chosen.
	Mode Mode
	Why  string
	// Action is what happened to the controller.
	Action string
	// Object is the controller as applied (or as it would be).
	Object runtime.Object
	// Nodes are the nodes a ReplicationController's replicas were counted from.
	Nodes NodeSet
	// Environment is what the namespace's environment Secret declares, ""
	// when it could not be read.
	Environment string
	DryRun      bool
}

// Install renders spec as the controller opts.Mode asks for (auto: a
// DaemonSet when the cluster serves them) and applies it: a DaemonSet by
// server-side apply, a ReplicationController through the rolling updater
// with max surge 0, since two agents cannot share a node's host port.
func (ap *Installer) Install(ctx context.Context, spec Spec, opts InstallOptions) (*InstallResult, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	res := &InstallResult{DryRun: opts.DryRun != rollout.DryRunNone}
	env, err := environment.Read(ctx, ap.Client, spec.Namespace, spec.Secret)
	switch {
	case errors.Is(err, environment.ErrNotDeclared):
		return nil, fmt.Errorf("the agent mounts the environment Secret, but %v: run \"kubectl envops init-env ENV -n %s\" first", err, spec.Namespace)
	case err != nil && !apierrors.IsForbidden(err):
		return nil, err
	}
	res.Environment = env

	if res.Mode, res.Why, err = ap.resolveMode(ctx, spec, opts.Mode); err != nil {
		return nil, err
	}
	if spec.Record != nil {
		r := *spec.Record
		r.Environment, r.Image = env, spec.Image
		spec.Record = &r
		spec.Record = ap.keepRecord(ctx, spec)
	}
	if res.Mode == ModeDaemonSet {
		return ap.applyDaemonSet(ctx, spec, opts, res)
	}
	return ap.applyReplicationController(ctx, spec, opts, res)
}

// keepRecord returns the running agent's audit record when it already
// runs spec.Image, so that applying the same agent again changes nothing;
// otherwise spec.Record.
func (ap *Installer) keepRecord(ctx context.Context, spec Spec) *audit.Record {
	running, err := find(ctx, ap.Client, spec.Namespace, spec.Name)
	if err != nil || running == nil {
		return spec.Record
	}
	if live, ok := audit.FromAnnotations(running.Annotations); ok && live.Image == spec.Image && live.Environment == spec.Record.Environment {
		return &live
	}
	return spec.Record
}

// resolveMode picks the controller kind. An agent that already runs keeps
// its kind under auto; asking for the other kind is refused, since both
// would claim the same host port on every node.
func (ap *Installer) resolveMode(ctx context.Context, spec Spec, mode Mode) (Mode, string, error) {
	ds, err := findDS(ctx, ap.Client, spec.Namespace, spec.Name)
	if err != nil {
		return "", "", err
	}
	rc, err := findRC(ctx, ap.Client, spec.Namespace, spec.Name)
	if err != nil {
		return "", "", err
	}
	other := func(running *agent, want Mode) error {
		return fmt.Errorf("agent %q already runs as %s in namespace %q, and a %s beside it would compete for host port %d on every node: delete it first, or pass --mode %s",
			spec.Name, running.Ref(), spec.Namespace, want, spec.HostPort, modeOf(running.Kind))
	}
	switch {
	case mode == ModeDaemonSet && rc != nil:
		return "", "", other(rc, ModeDaemonSet)
	case mode == ModeReplicationController && ds != nil:
		return "", "", other(ds, ModeReplicationController)
	case mode == ModeDaemonSet || mode == ModeReplicationController:
		return mode, "as asked by --mode", nil
	case ds != nil:
		return ModeDaemonSet, "it already runs as a DaemonSet", nil
	case rc != nil:
		return ModeReplicationController, "it already runs as a ReplicationController", nil
	}
	served, err := ServesDaemonSets(ap.Discovery)
	if err != nil {
		return "", "", err
	}
	if served {
		return ModeDaemonSet, "the cluster serves apps/v1 daemonsets", nil
	}
	return ModeReplicationController, "the cluster does not serve apps/v1 daemonsets", nil
}

func modeOf(kind string) Mode {
	if kind == KindDaemonSet {
		return ModeDaemonSet
	}
	return ModeReplicationController
}

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
	r, err := updater.Deploy(ctx, rc, ro)
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
