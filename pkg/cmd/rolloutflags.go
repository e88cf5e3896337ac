package cmd

import (
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/envops/kubectl-envops/pkg/deploy"
	"github.com/envops/kubectl-envops/pkg/rollout"
)

// rolloutFlags are the flags of a deploy that say how its controllers
// roll, for every command that deploys: deploy, and promote for each of
// its steps.
type rolloutFlags struct {
	Kind           string
	MaxSurge       string
	MaxUnavailable string
	// Prune deletes what left an app's set after a successful rollout.
	Prune bool
	// CreateNamespace creates missing namespaces the apps name.
	CreateNamespace bool
	// Options are the rollout settings; the flags of the same names set
	// them, and complete the parsed --max-surge and --max-unavailable.
	rollout.Options
}

// add registers the flags on cmd.
func (r *rolloutFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&r.Kind, "kind", "", "Deploy the app's controller as this kind: ReplicationController or Deployment (default: as rendered)")
	f.StringVar(&r.MaxSurge, "max-surge", "", "Pods allowed above the desired count during the update, a count or a percentage rounded up (default 25%)")
	f.StringVar(&r.MaxUnavailable, "max-unavailable", "", "Desired pods allowed to be unavailable during the update, a count or a percentage rounded down (default 25%)")
	f.Int32Var(&r.MinReadySeconds, "min-ready-seconds", 0, "Seconds a new pod must be Ready before it counts as available (default: the controller's own)")
	f.DurationVar(&r.UpdatePeriod, "update-period", 0, "Least time between two scaling steps of a ReplicationController update")
	f.DurationVar(&r.Timeout, "timeout", rollout.DefaultTimeout, "Fail the update when it makes no progress for this long")
	f.DurationVar(&r.FailureGrace, "failure-grace", rollout.DefaultFailureGrace, "How long new pods may sit in a back-off that may be transient (image pull errors, crash loops) without progress before the update fails")
	f.BoolVar(&r.NoRollback, "no-rollback", false, "When the update fails, leave it in place (exit 3) instead of rolling back")
	f.BoolVar(&r.BreakLock, "break-lock", false, "Take the app's deploy lock from another deploy that holds it (use only when that deploy is gone)")
	f.BoolVar(&r.Prune, "prune", true, "After a successful rollout, delete the objects of the app's set that its overlay no longer renders")
	f.BoolVar(&r.CreateNamespace, "create-namespace", false, "Create the namespaces the apps go to that do not exist, with the environment Secret, on a cluster that already declares the environment")
	_ = cmd.RegisterFlagCompletionFunc("kind", cobra.FixedCompletions([]string{deploy.KindReplicationController, deploy.KindDeployment}, cobra.ShellCompDirectiveNoFileComp))
}

// complete parses --kind, --max-surge and --max-unavailable.
func (r *rolloutFlags) complete(cmd *cobra.Command) error {
	if kind, ok := deploy.ParseKind(r.Kind); ok {
		r.Kind = kind
	}
	for _, fl := range []struct {
		name string
		dst  **intstr.IntOrString
	}{{"max-surge", &r.Options.MaxSurge}, {"max-unavailable", &r.Options.MaxUnavailable}} {
		if f := cmd.Flags().Lookup(fl.name); f.Changed {
			v, err := rollout.ParseIntOrPercent(f.Value.String())
			if err != nil {
				return usageError("invalid --%s: %v", fl.name, err)
			}
			*fl.dst = &v
		}
	}
	return nil
}

// validate checks the flags without reading anything.
func (r *rolloutFlags) validate() error {
	if _, ok := deploy.ParseKind(r.Kind); !ok {
		return usageError("unknown --kind %q: use ReplicationController or Deployment", r.Kind)
	}
	if err := rollout.ValidateStrategy(r.Strategy()); err != nil {
		return usageError("%v (--max-surge, --max-unavailable)", err)
	}
	switch {
	case r.Timeout <= 0:
		return usageError("invalid --timeout %s: use a positive duration such as 5m", r.Timeout)
	case r.UpdatePeriod < 0:
		return usageError("invalid --update-period %s: use a duration of 0 or more", r.UpdatePeriod)
	case r.MinReadySeconds < 0:
		return usageError("invalid --min-ready-seconds %d: use 0 or more", r.MinReadySeconds)
	case r.FailureGrace <= 0:
		return usageError("invalid --failure-grace %s: use a positive duration such as 30s", r.FailureGrace)
	}
	return nil
}
