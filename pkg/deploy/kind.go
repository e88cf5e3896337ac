package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/envops/kubectl-envops/pkg/rollout"
)

// ErrNotPausable is returned when a Deployment is asked to pause at a
// canary or continue one: only ReplicationController updates pause.
var ErrNotPausable = errors.New("--pause-after and --continue apply to ReplicationControllers")

// ParseKind reads a controller kind as the user may write it (any case,
// "rc", "deploy"); "" stays "", which keeps each controller as rendered.
func ParseKind(s string) (string, bool) {
	switch strings.ToLower(s) {
	case "":
		return "", true
	case "replicationcontroller", "rc":
		return KindReplicationController, true
	case "deployment", "deploy":
		return KindDeployment, true
	}
	return "", false
}

// controller rolls out one kind of controller. The kind is chosen once per
// controller (kindOf); everything a deploy does to it goes through here.
type controller interface {
	// deploy creates or updates obj and waits for its pods; with a dry run
	// in o it only reports what would happen.
	deploy(ctx context.Context, obj *unstructured.Unstructured, o rollout.Options) (rollout.Result, error)
	// rollback returns the controller to its previous pod template.
	rollback(ctx context.Context, name string, o rollout.Options) (rollout.Result, error)
	// resume finishes a paused or interrupted update (--continue).
	resume(ctx context.Context, name string, o rollout.Options) (rollout.Result, error)
	// preview returns the live object and the object deploy would leave,
	// for a diff.
	preview(ctx context.Context, obj *unstructured.Unstructured, o rollout.Options) (live, merged runtime.Object, err error)
	// other is the kind that must not run beside this one under the same
	// name, and whether one does.
	other(ctx context.Context, name string) (kind string, err error)
}

// kindOf returns the controller of obj's kind in namespace ns.
func kindOf(obj *unstructured.Unstructured, client kubernetes.Interface, ns, app string, events rollout.EventFunc) controller {
	switch obj.GetKind() {
	case KindDeployment:
		return &applied{&rollout.Deployments{Client: client, Namespace: ns, Events: events}, KindDeployment, client, ns}
	case KindDaemonSet:
		return &applied{&rollout.DaemonSets{Client: client, Namespace: ns, Events: events}, KindDaemonSet, client, ns}
	}
	return &replicationControllers{rollout.ReplicationControllers{Client: client, Namespace: ns, Events: events}, app}
}

// appliedKind is a controller whose controller in the cluster rolls its
// pods (a Deployment, a DaemonSet): the tool applies it and waits.
type appliedKind interface {
	Deploy(ctx context.Context, obj *unstructured.Unstructured, o rollout.Options) (rollout.Result, error)
	Rollback(ctx context.Context, name string, o rollout.Options) (rollout.Result, error)
	Preview(ctx context.Context, obj *unstructured.Unstructured, o rollout.Options) (runtime.Object, runtime.Object, error)
}

type applied struct {
	r         appliedKind
	kind      string
	client    kubernetes.Interface
	namespace string
}

func (c *applied) deploy(ctx context.Context, obj *unstructured.Unstructured, o rollout.Options) (rollout.Result, error) {
	if o.PauseAfter > 0 || o.Continue {
		return rollout.Result{}, pauseError(c.kind, obj.GetName())
	}
	return c.r.Deploy(ctx, obj, o)
}

func (c *applied) rollback(ctx context.Context, name string, o rollout.Options) (rollout.Result, error) {
	return c.r.Rollback(ctx, name, o)
}

func (c *applied) resume(_ context.Context, name string, _ rollout.Options) (rollout.Result, error) {
	return rollout.Result{}, pauseError(c.kind, name)
}

func (c *applied) preview(ctx context.Context, obj *unstructured.Unstructured, o rollout.Options) (runtime.Object, runtime.Object, error) {
	return c.r.Preview(ctx, obj, o)
}

// other is a ReplicationController of the same name: beside a Deployment
// it would fight over the pods, beside a DaemonSet (a node agent's
// fallback) over the host ports of every node.
func (c *applied) other(ctx context.Context, name string) (string, error) {
	_, err := c.client.CoreV1().ReplicationControllers(c.namespace).Get(ctx, name, metav1.GetOptions{})
	return KindReplicationController, err
}

type replicationControllers struct {
	u   rollout.ReplicationControllers
	app string
}

func (c *replicationControllers) deploy(ctx context.Context, obj *unstructured.Unstructured, o rollout.Options) (rollout.Result, error) {
	rc, err := toRC(obj, c.app)
	if err != nil {
		return rollout.Result{}, err
	}
	return c.u.Deploy(ctx, rc, o)
}

func (c *replicationControllers) rollback(ctx context.Context, name string, o rollout.Options) (rollout.Result, error) {
	return c.u.Rollback(ctx, name, o)
}

func (c *replicationControllers) resume(ctx context.Context, name string, o rollout.Options) (rollout.Result, error) {
	return c.u.Continue(ctx, name, o)
}

func (c *replicationControllers) preview(ctx context.Context, obj *unstructured.Unstructured, o rollout.Options) (runtime.Object, runtime.Object, error) {
	rc, err := toRC(obj, c.app)
	if err != nil {
		return nil, nil, err
	}
	return c.u.Preview(ctx, rc, o)
}

func (c *replicationControllers) other(ctx context.Context, name string) (string, error) {
	_, err := c.u.Client.AppsV1().Deployments(c.u.Namespace).Get(ctx, name, metav1.GetOptions{})
	return KindDeployment, err
}

func pauseError(kind, name string) error {
	return fmt.Errorf("%w; %s %q pauses with \"kubectl rollout pause\"", ErrNotPausable, kind, name)
}
