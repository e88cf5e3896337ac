package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"

	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/environment"
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
	// Deploy applies the rendered agent and waits for it as every deploy
	// does (pkg/deploy: the environment check, the deploy lock, leaving an
	// agent already as rendered alone, the audit record and its Event); env
	// is what the namespace declares. Every install but a dry run needs it.
	Deploy func(ctx context.Context, env string, obj *unstructured.Unstructured, o rollout.Options) (rollout.Result, error)
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
	// Warnings are what a client dry run found missing for a preset agent
	// (its ServiceAccount, its API key), which a real run refuses.
	Warnings []string
}

// Install renders spec as the controller opts.Mode asks for (auto: a
// DaemonSet when the cluster serves them) and applies it: a DaemonSet by
// server-side apply, a ReplicationController through the rolling updater
// with max surge 0, since two agents cannot share a node's host port.
func (ap *Installer) Install(ctx context.Context, spec Spec, opts InstallOptions) (*InstallResult, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if ap.Deploy == nil && opts.DryRun == rollout.DryRunNone {
		return nil, errors.New("nodeagent: an install that is not a dry run needs Installer.Deploy")
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

	if spec.Preset != nil {
		problems, err := presetReady(ctx, ap.Client, spec)
		if err != nil {
			return nil, err
		}
		// A client dry run shows what would be applied all the same.
		if len(problems) > 0 && opts.DryRun != rollout.DryRunClient {
			msgs := make([]string, len(problems))
			for i, p := range problems {
				msgs[i] = p.Error()
			}
			return nil, errors.New(strings.Join(msgs, "; "))
		}
		for _, p := range problems {
			res.Warnings = append(res.Warnings, p.Error())
		}
	}
	if res.Mode, res.Why, err = ap.resolveMode(ctx, spec, opts.Mode); err != nil {
		return nil, err
	}
	if opts.DryRun == rollout.DryRunNone {
		// The deploy writes the record, and only when it writes the agent.
		spec.Record = nil
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
		return fmt.Errorf("agent %q already runs as %s in namespace %q, and a %s beside it would compete for host port %s on every node: delete it first, or pass --mode %s",
			spec.Name, running.Ref(), spec.Namespace, want, spec.portsText(), modeOf(running.Kind))
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

// asUnstructured is a rendered agent controller as a deploy takes it.
func asUnstructured(obj runtime.Object, apiVersion, kind string) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	unstructured.RemoveNestedField(u.Object, "status")
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "spec", "template", "metadata", "creationTimestamp")
	return u, nil
}
