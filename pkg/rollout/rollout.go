// Package rollout deploys workload controllers: it creates or updates a
// ReplicationController and rolls its pods to a new template with a
// resumable rolling update, and applies Deployments and waits for the
// Deployment controller. It reports what it does as Events and never prints.
package rollout

import (
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/envops/kubectl-envops/pkg/audit"
)

// FieldManager is the server-side apply field manager of every object this
// package applies: the plugin's one name in managed fields.
const FieldManager = audit.FieldManager

// Defaults of Options, the same as a Deployment's rolling update strategy.
var (
	DefaultMaxSurge       = intstr.FromString("25%")
	DefaultMaxUnavailable = intstr.FromString("25%")
)

// DefaultTimeout is how long an update may go without progress before it is
// declared failed.
const DefaultTimeout = 5 * time.Minute

// Options tunes one deploy.
type Options struct {
	// MaxSurge is how many pods above the desired count may exist during the
	// update, as a count or a percentage of the desired replicas (rounded up).
	// Nil means DefaultMaxSurge for ReplicationControllers and the
	// Deployment's own strategy for Deployments.
	MaxSurge *intstr.IntOrString
	// MaxUnavailable is how many of the desired pods may be unavailable during
	// the update, as a count or a percentage (rounded down). Nil means
	// DefaultMaxUnavailable, or the Deployment's own strategy.
	MaxUnavailable *intstr.IntOrString
	// MinReadySeconds is how long a pod must be Ready before it counts as
	// available. Zero keeps the controller's own spec.minReadySeconds.
	MinReadySeconds int32
	// UpdatePeriod is the least time between two scaling steps.
	UpdatePeriod time.Duration
	// Timeout is how long the update may go without progress before it fails;
	// zero means DefaultTimeout.
	Timeout time.Duration
	// FailureGrace is how long new pods may sit in a back-off that may be
	// transient (an image pull error, a crash loop) without progress before
	// the update fails; zero means DefaultFailureGrace. Definite failures (an
	// image that does not exist, an invalid image name) fail at once.
	FailureGrace time.Duration
	// PauseAfter, when above zero, stops a ReplicationController update once
	// that many pods of the new template are available.
	PauseAfter int32
	// Continue finishes a paused or interrupted update with the template the
	// controller already has.
	Continue bool
	// NoRollback leaves a failed update in place, for a later resume or an
	// explicit rollback, instead of rolling back at once.
	NoRollback bool
	// DryRun, when not DryRunNone, reports what would happen and changes
	// nothing.
	DryRun DryRun
	// Holder names the user in the lock a ReplicationController deploy
	// takes; empty asks the API server who the client is.
	Holder string
	// BreakLock takes the lock of another deploy that still looks alive.
	BreakLock bool
	// Record, when set, is the audit record written on the controller
	// whenever a deploy, a continue or a rollback writes it, with its image
	// set to the image the controller then runs; Result.Record returns it.
	Record *audit.Record
}

// DryRun says whether and where changes are only simulated.
type DryRun int

// Dry-run modes, as kubectl's --dry-run.
const (
	DryRunNone DryRun = iota
	// DryRunClient computes the plan from what it reads and sends no change.
	DryRunClient
	// DryRunServer sends the first change with dryRun=All so the server
	// validates it, and stops there.
	DryRunServer
)

// DefaultFailureGrace is how long a possibly transient pod failure may last
// without progress.
const DefaultFailureGrace = 30 * time.Second

func (o Options) failureGrace() time.Duration {
	if o.FailureGrace <= 0 {
		return DefaultFailureGrace
	}
	return o.FailureGrace
}

func (o Options) timeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultTimeout
	}
	return o.Timeout
}

// Action is what a deploy did to a controller.
type Action string

// Actions reported in Result.
const (
	// ActionCreated: the controller did not exist and was created.
	ActionCreated Action = "created"
	// ActionUnchanged: the live controller already matched.
	ActionUnchanged Action = "unchanged"
	// ActionUpdated: metadata or replicas changed; no pod was replaced.
	ActionUpdated Action = "updated"
	// ActionRolledOut: the pods were rolled to a new template.
	ActionRolledOut Action = "rolled out"
	// ActionRolledBack: an update was undone and the previous pods restored.
	ActionRolledBack Action = "rolled back"
)

// Result is the outcome of a successful deploy or rollback.
type Result struct {
	Kind   string
	Name   string
	Action Action
	// Replicas is the number of available pods at the end.
	Replicas int32
	// DryRun is set when nothing was changed on purpose.
	DryRun bool
	// Paused is set when the update stopped at its canary (PauseAfter).
	Paused bool
	// Record is the audit record written on the controller (Options.Record
	// with the image rolled out); nil when nothing was written.
	Record *audit.Record
}

// FailedError is returned when an update fails: pods that cannot start, no
// progress within the timeout, or a rollback that itself failed.
type FailedError struct {
	Kind string
	Name string
	// RolledBack is true when the previous pods were restored and the
	// unfinished controller removed; false when the update was left in place
	// and running deploy again resumes it.
	RolledBack bool
	Err        error
}

func (e *FailedError) Error() string {
	var lost *LockLostError
	if errors.As(e.Err, &lost) {
		// Nothing failed: another deploy took the update over.
		return fmt.Sprintf("%s %q: %v", e.Kind, e.Name, e.Err)
	}
	if e.RolledBack {
		return fmt.Sprintf("update of %s %q failed and was rolled back: %v", e.Kind, e.Name, e.Err)
	}
	return fmt.Sprintf("update of %s %q failed: %v", e.Kind, e.Name, e.Err)
}

func (e *FailedError) Unwrap() error { return e.Err }

// PodFailure says a pod cannot become Ready without someone's help.
type PodFailure struct {
	Pod    string
	Reason string
	// Definite is set when waiting cannot help: the image does not exist,
	// its name is invalid, or no node can ever run the pod.
	Definite bool
	// Message is the kubelet's or scheduler's own words, when there are any.
	Message string
}

func (f *PodFailure) Error() string {
	if f.Message == "" {
		return fmt.Sprintf("pod %s: %s", f.Pod, f.Reason)
	}
	return fmt.Sprintf("pod %s: %s: %s", f.Pod, f.Reason, f.Message)
}

// ErrNoProgress is wrapped by the error of an update that made no progress
// within Options.Timeout.
var ErrNoProgress = errors.New("no progress")

// ErrCannotCreatePods is wrapped by the error of a controller that reports
// it cannot create its pods (quota, admission).
var ErrCannotCreatePods = errors.New("cannot create pods")

// rollbackWorthy tells failures of the new pods, which a rollback cures,
// from errors talking to the API server, after which the update is left in
// place for a resume.
func rollbackWorthy(err error) bool {
	var pf *PodFailure
	return errors.As(err, &pf) || errors.Is(err, ErrNoProgress) || errors.Is(err, ErrCannotCreatePods)
}
