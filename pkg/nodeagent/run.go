package nodeagent

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"

	"github.com/envops/kubectl-envops/pkg/rollout"
)

// Job is one run of the node-agent command: install or update the agent
// when Spec.Image is set, then, with Sync, match its ReplicationController's
// replicas to the nodes once, or with Watch until ctx ends.
type Job struct {
	Client    kubernetes.Interface
	Discovery discovery.DiscoveryInterface
	// Spec is the agent; its Record receives the user the Guard names.
	Spec    Spec
	Install InstallOptions
	Sync    bool
	Watch   bool
	// Guard, when set, checks access before anything is changed and
	// returns who the user is.
	Guard func(ctx context.Context, namespace string, allNamespaces bool) (string, error)

	// Deploy applies the agent as every deploy does (Installer.Deploy).
	Deploy func(ctx context.Context, env string, obj *unstructured.Unstructured, o rollout.Options) (rollout.Result, error)
	// Events receives the install's progress; Installed, its result.
	Events    rollout.EventFunc
	Installed func(*InstallResult) error
	// Synced receives every sync result; Note, a line for the user.
	Synced func(*SyncResult)
	Note   func(string)
}

// Run checks access, installs the agent and syncs or watches, as asked.
func (j *Job) Run(ctx context.Context) error {
	// A client dry run only reads, so it needs no write access.
	if j.Guard != nil && j.Install.DryRun != rollout.DryRunClient {
		user, err := j.Guard(ctx, j.Spec.Namespace, false)
		if err != nil {
			return err
		}
		if j.Spec.Record != nil {
			j.Spec.Record.User = user
		}
	}
	if j.Spec.Image != "" {
		res, err := (&Installer{Client: j.Client, Discovery: j.Discovery, Events: j.Events, Deploy: j.Deploy}).Install(ctx, j.Spec, j.Install)
		if err != nil {
			return err
		}
		if err := j.Installed(res); err != nil {
			return err
		}
		if res.Mode == ModeDaemonSet && j.Sync {
			j.Note(fmt.Sprintf("note: %s runs one pod on every node by itself; there is nothing to sync", Ref(KindDaemonSet, j.Spec.Name)))
			return nil
		}
	}
	if !j.Sync {
		return nil
	}
	syncer := &Syncer{Client: j.Client, Namespace: j.Spec.Namespace, Name: j.Spec.Name, DryRun: j.Install.DryRun}
	var err error
	if j.Watch {
		j.Note(fmt.Sprintf("watching nodes for %s in namespace %q; press Ctrl-C to stop", Ref(KindReplicationController, j.Spec.Name), j.Spec.Namespace))
		if err = syncer.Watch(ctx, j.Synced); err == nil {
			j.Note("stopped watching nodes")
		}
	} else {
		var res *SyncResult
		if res, err = syncer.Sync(ctx); err == nil {
			j.Synced(res)
		}
	}
	if errors.Is(err, ErrDaemonSet) {
		j.Note(fmt.Sprintf("note: %v", err))
		return nil
	}
	return err
}
