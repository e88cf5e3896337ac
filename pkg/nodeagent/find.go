package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/envops/kubectl-envops/pkg/rollout"
)

// Controller kinds an agent runs as.
const (
	KindDaemonSet             = "DaemonSet"
	KindReplicationController = "ReplicationController"
)

// ErrNotFound is wrapped by the error for an agent that does not exist.
var ErrNotFound = errors.New("node agent not found")

// agent is the controller running an agent, as sync and status see it.
type agent struct {
	Kind      string
	Name      string
	Namespace string
	UID       types.UID
	// Replicas is the ReplicationController's spec.replicas.
	Replicas int32
	Template *corev1.PodTemplateSpec
	// Selector selects the agent's pods, those of every controller taking
	// part in a rolling update included.
	Selector labels.Selector
	// Updating names the controller of a rolling update in progress.
	Updating string
	// Generation and ObservedGeneration tell whether the controller has
	// acted on its latest spec.
	Generation, ObservedGeneration int64
	// Annotations are the controller's, audit record included.
	Annotations map[string]string
}

// Ref names the controller as kubectl does, e.g. replicationcontroller/agent.
func (a *agent) Ref() string { return Ref(a.Kind, a.Name) }

// Ref names a controller of kind as kubectl does.
func Ref(kind, name string) string {
	if kind == KindDaemonSet {
		return "daemonset.apps/" + name
	}
	return "replicationcontroller/" + name
}

func agentOfRC(rc *corev1.ReplicationController) (*agent, error) {
	sel := maps.Clone(rc.Spec.Selector)
	delete(sel, rollout.DeploymentLabel)
	if len(sel) == 0 {
		return nil, fmt.Errorf("ReplicationController %q selects its pods by nothing but %q, so its agent pods cannot be told apart: deploy it again with kubectl envops node-agent", rc.Name, rollout.DeploymentLabel)
	}
	a := &agent{
		Kind: KindReplicationController, Name: rc.Name, Namespace: rc.Namespace, UID: rc.UID,
		Replicas: 1, Template: rc.Spec.Template, Selector: labels.SelectorFromSet(sel),
		Generation: rc.Generation, ObservedGeneration: rc.Status.ObservedGeneration,
		Annotations: rc.Annotations,
	}
	if rc.Spec.Replicas != nil {
		a.Replicas = *rc.Spec.Replicas
	}
	if rollout.UpdateInProgress(rc) {
		a.Updating = rc.Name
	}
	if name := rollout.RenamingTo(rc); name != "" {
		// The update already removed the old controller; this one takes
		// the name when it is done.
		a.Name, a.Updating = name, rc.Name
	}
	return a, nil
}

func agentOfDS(ds *appsv1.DaemonSet) (*agent, error) {
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || sel.Empty() {
		return nil, fmt.Errorf("DaemonSet %q has no usable selector: deploy it again with kubectl envops node-agent", ds.Name)
	}
	tmpl := ds.Spec.Template.DeepCopy()
	tmpl.Spec.Tolerations = append(tmpl.Spec.Tolerations, daemonTolerations(tmpl)...)
	return &agent{
		Kind: KindDaemonSet, Name: ds.Name, Namespace: ds.Namespace, UID: ds.UID,
		Template: tmpl, Selector: sel,
		Generation: ds.Generation, ObservedGeneration: ds.Status.ObservedGeneration,
		Annotations: ds.Annotations,
	}, nil
}

// daemonTolerations are the tolerations the DaemonSet controller adds to
// every pod it creates, so its pods also run on cordoned and troubled nodes.
func daemonTolerations(tmpl *corev1.PodTemplateSpec) []corev1.Toleration {
	exists := func(key string, effect corev1.TaintEffect) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: effect}
	}
	out := []corev1.Toleration{
		exists(corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute),
		exists(corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute),
		exists(corev1.TaintNodeDiskPressure, corev1.TaintEffectNoSchedule),
		exists(corev1.TaintNodeMemoryPressure, corev1.TaintEffectNoSchedule),
		exists(corev1.TaintNodePIDPressure, corev1.TaintEffectNoSchedule),
		exists(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule),
	}
	if tmpl.Spec.HostNetwork {
		out = append(out, exists(corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule))
	}
	return out
}

// findRC returns the agent's ReplicationController, or the controller of an
// update that is about to take its name; nil when there is neither.
func findRC(ctx context.Context, client kubernetes.Interface, namespace, name string) (*agent, error) {
	rcs := client.CoreV1().ReplicationControllers(namespace)
	rc, err := rcs.Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return agentOfRC(rc)
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("cannot read ReplicationController %q in namespace %q: %w", name, namespace, err)
	}
	list, err := rcs.List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("cannot list ReplicationControllers in namespace %q: %w", namespace, err)
	}
	for i := range list.Items {
		if rollout.RenamingTo(&list.Items[i]) == name {
			return agentOfRC(&list.Items[i])
		}
	}
	return nil, nil
}

// findDS returns the agent's DaemonSet, or nil. A cluster without apps/v1
// daemonsets answers NotFound, like a missing object.
func findDS(ctx context.Context, client kubernetes.Interface, namespace, name string) (*agent, error) {
	ds, err := client.AppsV1().DaemonSets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read DaemonSet %q in namespace %q: %w", name, namespace, err)
	}
	return agentOfDS(ds)
}

// find returns the agent named name, as a DaemonSet or a ReplicationController.
func find(ctx context.Context, client kubernetes.Interface, namespace, name string) (*agent, error) {
	ds, err := findDS(ctx, client, namespace, name)
	if err != nil || ds != nil {
		return ds, err
	}
	rc, err := findRC(ctx, client, namespace, name)
	if err != nil || rc != nil {
		return rc, err
	}
	return nil, notFound(namespace, name)
}

func notFound(namespace, name string) error {
	return fmt.Errorf("%w: no DaemonSet or ReplicationController %q in namespace %q; create it with \"kubectl envops node-agent %s --image IMAGE --host-port PORT\" or pick the namespace with -n",
		ErrNotFound, name, namespace, name)
}
