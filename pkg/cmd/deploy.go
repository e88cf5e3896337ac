package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/kubectl/pkg/util/templates"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/deploy"
	"github.com/envops/kubectl-envops/pkg/notify"
	"github.com/envops/kubectl-envops/pkg/render"
	"github.com/envops/kubectl-envops/pkg/rollout"
)

// ExitResumable is deploy's exit code for an update that failed or was
// interrupted and was left in place: running deploy again resumes it.
const ExitResumable = 3

// DeployOptions holds the flags of "kubectl envops deploy".
type DeployOptions struct {
	App string
	// Env is the environment the cluster must serve; Yes skips the typed
	// confirmation of environments marked confirm: true.
	Env            string
	Yes            bool
	Image          string
	Kind           string
	MaxSurge       string
	MaxUnavailable string
	Diff           bool
	Rollback       bool
	Notify         string
	Output         string
	ChangeCause    string
	Remote         remoteResourcesFlag
	// Options are the rollout settings; the flags of the same names set
	// them, and Complete the parsed --max-surge, --max-unavailable and
	// --dry-run.
	rollout.Options

	// Resolved by Complete.
	cfg     *config.Config
	target  *Target
	fsys    filesys.FileSystem
	applier func() (*rollout.ServerSideApplier, error)
	// trail checks access and records the deploy; nil does neither.
	trail *deploy.Trail
	print *outputFlags

	genericiooptions.IOStreams
}

var deployLong = templates.LongDesc(`
	Deploy an app to an environment: render its overlay (as generate does),
	check that the cluster declares that environment (its environment Secret),
	then create or update the app's objects and roll its pods to the new pod
	template without taking Ready pods below desired - max unavailable.

	A ReplicationController keeps its name and selector for life. An update
	writes the new pod template into it (its pods carry an envops.io/template-hash
	label that is not part of the selector), raises its replicas by --max-surge
	and deletes old pods in batches, unavailable ones first, never taking
	available pods below desired - --max-unavailable; the replication manager
	replaces each with a pod of the new template. Deploy returns when the
	controller's status shows every replica ready on the new template. The
	previous templates are recorded on the controller, so --rollback rolls
	forward to the last one, after a failure or after a success alike.
	Running the same deploy again after an interruption (Ctrl-C, a lost
	connection, kill -9) continues where it stopped. --pause-after N stops once
	N new pods are available (a canary); --continue finishes, --rollback undoes.

	New pods that cannot start fail the update: at once when waiting cannot
	help (the image does not exist, an invalid image name, no node matches),
	after --failure-grace without progress for back-offs that may be
	transient (image pull errors, crash loops); the update is then rolled back
	unless --no-rollback. Nothing improving for --timeout fails it too.

	One deploy of an app runs at a time: a deploy holds the Lease
	envops-deploy-APP (coordination.k8s.io) and renews it while it runs, and a
	second deploy refuses, naming the holder. A lease not renewed for 30s
	expires; one left by your own killed deploy on this host is taken over at
	once; --break-lock takes any.

	A Deployment is applied with server-side apply (field manager
	kubectl-envops) and rolled by its controller; a failure returns it to its
	previous revision.

	Exit codes: 0 done, 1 failed and rolled back (or nothing changed), 2 usage
	error, 3 failed or interrupted and left in place for a resume.`)

var deployExample = templates.Examples(`
	# Roll the web app in dev to a new image
	kubectl envops deploy web --env dev --image registry.example.com/web:1.4.2

	# Roll prod two pods at a time, never below the desired count
	kubectl envops deploy web --env prod --image registry.example.com/web:1.4.2 --max-surge 2 --max-unavailable 0

	# Show what would change, without changing anything
	kubectl envops deploy web --env prod --image registry.example.com/web:1.4.2 --diff

	# A canary: stop once 2 pods run the new image, then finish or undo
	kubectl envops deploy web --env prod --image registry.example.com/web:1.4.2 --pause-after 2
	kubectl envops deploy web --env prod --continue
	kubectl envops deploy web --env prod --rollback

	# Undo the last update, whether it failed, was interrupted or succeeded
	kubectl envops deploy web --env prod --rollback

	# One JSON event per line for CI, and a message per phase to chat
	kubectl envops deploy web --env dev --image registry.example.com/web:1.4.2 -o jsonl --notify https://hooks.slack.com/services/T000/B000/XXXX`)

// NewCmdDeploy builds "kubectl envops deploy". runF, when set, replaces Run
// so tests can inspect the parsed options.
func NewCmdDeploy(g *Globals, runF func(*DeployOptions) error) *cobra.Command {
	o := &DeployOptions{IOStreams: g.Streams}
	cmd := &cobra.Command{
		Use:               "deploy APP --env ENV [--image IMG] [--max-surge N|%] [--max-unavailable N|%] [--dry-run=client|server] [--diff] [--rollback]",
		Short:             "Create or update an app in an environment and roll its pods to the new template",
		Long:              deployLong,
		Example:           deployExample,
		ValidArgsFunction: appNameCompletion(g),
		Args:              exactArgs(1, "one app name"),
		RunE:              runOptions(g, o, runF),
	}
	o.output().addFlags(cmd, "Output format: text, jsonl for one JSON event per line, or a template applied to each event")
	f := cmd.Flags()
	f.StringVar(&o.Env, "env", "", "Environment to act on; selects its context from .envops.yaml unless --context is given, and must match the cluster's environment Secret")
	f.BoolVarP(&o.Yes, "yes", "y", false, "Do not ask for confirmation on environments marked confirm: true (required when stdin is not a terminal)")
	_ = cmd.RegisterFlagCompletionFunc("env", projectNames(g, false, cobra.ShellCompDirectiveError, (*config.Config).EnvironmentNames))
	f.StringVar(&o.Image, "image", "", "Image for the app's container, e.g. registry.example.com/web:1.4.2 (default: the overlay's)")
	f.StringVar(&o.Kind, "kind", "", "Deploy the app's controller as this kind: ReplicationController or Deployment (default: as rendered)")
	f.StringVar(&o.MaxSurge, "max-surge", "", "Pods allowed above the desired count during the update, a count or a percentage rounded up (default 25%)")
	f.StringVar(&o.MaxUnavailable, "max-unavailable", "", "Desired pods allowed to be unavailable during the update, a count or a percentage rounded down (default 25%)")
	f.Int32Var(&o.MinReadySeconds, "min-ready-seconds", 0, "Seconds a new pod must be Ready before it counts as available (default: the controller's own)")
	f.DurationVar(&o.UpdatePeriod, "update-period", 0, "Least time between two scaling steps of a ReplicationController update")
	f.DurationVar(&o.Timeout, "timeout", rollout.DefaultTimeout, "Fail the update when it makes no progress for this long")
	addDryRunFlag(cmd, `Must be "none", "client" or "server": client only reports what would happen, server also has the API server validate the changes; nothing is changed`)
	f.BoolVar(&o.Diff, "diff", false, "Show the change against the live objects, as kubectl diff does, and change nothing")
	f.BoolVar(&o.Rollback, "rollback", false, "Roll the app back to its previous pod template: undoes the last update, whether it failed, was interrupted, paused or succeeded")
	f.BoolVar(&o.Continue, "continue", false, "Finish the app's paused (--pause-after) or interrupted update")
	f.Int32Var(&o.PauseAfter, "pause-after", 0, "Pause a ReplicationController update once this many pods of the new template are available (a canary); finish with --continue")
	f.DurationVar(&o.FailureGrace, "failure-grace", rollout.DefaultFailureGrace, "How long new pods may sit in a back-off that may be transient (image pull errors, crash loops) without progress before the update fails")
	f.BoolVar(&o.NoRollback, "no-rollback", false, "When the update fails, leave it in place (exit 3) instead of rolling back")
	f.BoolVar(&o.BreakLock, "break-lock", false, "Take the app's deploy lock from another deploy that holds it (use only when that deploy is gone)")
	f.StringVar(&o.Notify, "notify", "", "Post a short message per phase (started, progress, done, failed, rolled back) to this Slack-compatible incoming webhook")
	f.StringVar(&o.ChangeCause, "change-cause", "", "Why the app is deployed, recorded on its controllers and shown by history (default: this command line, credentials redacted)")
	addRemoteResourcesFlag(f, &o.Remote)
	_ = cmd.RegisterFlagCompletionFunc("kind", cobra.FixedCompletions([]string{deploy.KindReplicationController, deploy.KindDeployment}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (o *DeployOptions) output() *outputFlags {
	return outputOf(&o.print, &o.Output, "text", "jsonl").templatesOnly()
}

// Complete parses the flags, reports a wrong command line before any file
// or cluster is read, then loads the project file and resolves the
// environment's context, namespace and clients.
func (o *DeployOptions) Complete(g *Globals, cmd *cobra.Command, args []string) error {
	o.App = args[0]
	var err error
	if o.DryRun, err = rolloutDryRun(cmd); err != nil {
		return err
	}
	if kind, ok := deploy.ParseKind(o.Kind); ok {
		o.Kind = kind
	}
	for _, fl := range []struct {
		name string
		dst  **intstr.IntOrString
	}{{"max-surge", &o.Options.MaxSurge}, {"max-unavailable", &o.Options.MaxUnavailable}} {
		if f := cmd.Flags().Lookup(fl.name); f.Changed {
			v, err := rollout.ParseIntOrPercent(f.Value.String())
			if err != nil {
				return usageError("invalid --%s: %v", fl.name, err)
			}
			*fl.dst = &v
		}
	}
	if err := o.Validate(); err != nil {
		return err
	}
	if o.target, err = g.target(o.Env); err != nil {
		return err
	}
	o.cfg, o.fsys = o.target.Config, filesys.MakeFsOnDisk()
	o.trail = deploy.NewTrail(o.target.Client, o.Env, changeCause(cmd, args, o.ChangeCause))
	o.applier = func() (*rollout.ServerSideApplier, error) {
		return deploy.NewApplier(g.Factory, o.target.Context, o.target.Namespace)
	}
	return nil
}

// Validate checks the command line.
func (o *DeployOptions) Validate() error {
	if o.Env == "" {
		return usageError("--env is required: name the environment to deploy %q to", o.App)
	}
	if _, ok := deploy.ParseKind(o.Kind); !ok {
		return usageError("unknown --kind %q: use ReplicationController or Deployment", o.Kind)
	}
	if err := o.output().validate(); err != nil {
		return err
	}
	if err := rollout.ValidateStrategy(o.Strategy()); err != nil {
		return usageError("%v (--max-surge, --max-unavailable)", err)
	}
	switch {
	case o.Timeout <= 0:
		return usageError("invalid --timeout %s: use a positive duration such as 5m", o.Timeout)
	case o.UpdatePeriod < 0:
		return usageError("invalid --update-period %s: use a duration of 0 or more", o.UpdatePeriod)
	case o.MinReadySeconds < 0:
		return usageError("invalid --min-ready-seconds %d: use 0 or more", o.MinReadySeconds)
	case o.PauseAfter < 0:
		return usageError("invalid --pause-after %d: use a count of new pods of 1 or more", o.PauseAfter)
	case o.FailureGrace <= 0:
		return usageError("invalid --failure-grace %s: use a positive duration such as 30s", o.FailureGrace)
	case o.Continue && o.Rollback:
		return usageError("--continue and --rollback contradict each other: drop one")
	case o.Continue && o.PauseAfter > 0:
		return usageError("--continue finishes a paused update and cannot pause it again: drop --pause-after")
	case o.Continue && o.Image != "":
		return usageError("--continue finishes the update in progress and takes no --image: drop --image, or deploy the new image without --continue")
	case o.Rollback && o.PauseAfter > 0:
		return usageError("--rollback cannot be combined with --pause-after: drop one")
	case o.Rollback && o.NoRollback:
		return usageError("--rollback and --no-rollback contradict each other: drop one")
	case o.Rollback && o.Image != "":
		return usageError("--rollback restores the previous pods and takes no --image: drop --image")
	case o.Rollback && o.Diff:
		return usageError("--diff shows what a deploy would change and cannot be combined with --rollback")
	case o.Diff && o.DryRun != rollout.DryRunNone:
		return usageError("--diff already changes nothing: drop --dry-run")
	}
	return checkImageAndWebhook(o.Image, o.Notify)
}

// checkImageAndWebhook checks the --image and --notify of a deploy, for
// deploy and for promote, which passes them on to each deploy.
func checkImageAndWebhook(image, webhook string) error {
	if err := (render.Options{Image: image}).Validate(); err != nil {
		return usageError("--image: %v", err)
	}
	if err := notify.ValidateURL(webhook); webhook != "" && err != nil {
		return usageError("--notify: %v", err)
	}
	return nil
}

// deployer is the deploy the flags ask for.
func (o *DeployOptions) deployer() *deploy.Deployer {
	return &deploy.Deployer{App: o.App, Client: o.target.Client, Namespace: o.target.Namespace, Options: o.Options, Rollback: o.Rollback, Trail: o.trail,
		Warn: func(err error) { fmt.Fprintf(o.ErrOut, "warning: %v\n", err) }}
}

// Run renders the app, checks the cluster's environment and deploys.
func (o *DeployOptions) Run(ctx context.Context) error {
	ctx, stop := untilInterrupted(ctx)
	defer stop()

	objs, err := render.App(o.fsys, o.cfg, o.App, o.Env, o.Remote.renderOptions(o.cfg, o.Image))
	if err != nil {
		return inputError(err)
	}
	plan, err := deploy.Split(objs, o.Kind)
	if err != nil {
		return inputError(err)
	}
	if len(plan.Controllers) == 0 && (o.Rollback || o.Kind != "") {
		return usageError("app %q renders no ReplicationController or Deployment for environment %q, so there is nothing to roll", o.App, o.Env)
	}
	d := o.deployer()
	// The environment and access checks run before anything else touches
	// the cluster, bounded by --timeout too, so that a server that never
	// answers cannot hold the deploy. A diff changes nothing, so it checks
	// no access; it stamps the audit record all the same, as it shows what
	// deploy writes.
	checkCtx, cancelCheck := withTimeoutCause(ctx, o.Timeout, "--timeout")
	defer cancelCheck()
	if err := d.Prepare(checkCtx, plan, o.target.VerifyNamespace, o.Diff); err != nil {
		return err
	}
	cancelCheck()
	if len(plan.Others) > 0 && !o.Rollback {
		if d.Applier, err = o.applier(); err != nil {
			return err
		}
	}
	if o.Diff {
		return d.Diff(ctx, plan, o.IOStreams)
	}
	if o.DryRun == rollout.DryRunNone {
		action := "deploy " + o.App
		if o.Rollback {
			action = "roll back " + o.App
		}
		if err := o.target.Confirm(o.IOStreams, o.Yes, action); err != nil {
			return err
		}
	}

	out := newDeployPrinter(o.Out, o.output(), printers.IsTerminal(o.Out))
	d.Events = out.Event
	var hook *notify.Webhook
	if o.Notify != "" && o.DryRun == rollout.DryRunNone {
		if hook, err = notify.NewWebhook(o.Notify, notify.WebhookOptions{}); err != nil {
			return usageError("--notify: %v", err)
		}
		d.Events = func(e rollout.Event) { out.Event(e); hook.Event(e) }
	}
	err = d.Run(ctx, plan, func(res rollout.Result, ns string) {
		out.Result(res, ns, o.DryRun)
		if res.Paused {
			fmt.Fprintf(o.Out, "%s/%s is paused with %d new pods available: run \"kubectl envops deploy %s --env %s --continue\" to finish, or \"kubectl envops deploy %s --env %s --rollback\" to undo\n",
				res.Kind, res.Name, o.PauseAfter, o.App, o.Env, o.App, o.Env)
		}
	})
	out.Close()
	if hook != nil {
		if nerr := hook.Close(); nerr != nil {
			fmt.Fprintf(o.ErrOut, "warning: %v\n", nerr)
		}
	}
	if errors.Is(err, deploy.ErrNotPausable) {
		return &UsageError{Err: err}
	}
	if err == nil {
		err = out.err
	}
	return err
}

// deployPrinter shows deploy events: on a terminal, progress rewrites one
// line per controller; otherwise every event is a timestamped line; with
// jsonl or a template, every event goes through -o's printer.
type deployPrinter struct {
	out io.Writer
	// each prints one event as -o asks, when it is not text.
	each func(rollout.Event)
	tty  bool
	// open is true while the terminal's last line is an unfinished progress line.
	open bool
	// err is the first event a template could not print.
	err error
	mu  sync.Mutex
}

func newDeployPrinter(out io.Writer, f *outputFlags, tty bool) *deployPrinter {
	p := &deployPrinter{out: out, tty: tty}
	switch {
	case *f.format == "jsonl":
		p.each = notify.NewJSONLines(out).Event
	case !f.isOwn():
		p.each = func(e rollout.Event) {
			p.mu.Lock()
			defer p.mu.Unlock()
			if err := f.printValue(out, e); err != nil && p.err == nil {
				p.err = err
			}
		}
	}
	return p
}

// Event shows one event.
func (p *deployPrinter) Event(e rollout.Event) {
	if p.each != nil {
		p.each(e)
		return
	}
	who := e.Kind + "/" + e.Name
	if p.tty {
		if e.Type == rollout.EventProgress {
			fmt.Fprintf(p.out, "\r\033[K%s: %d/%d ready, %d updated, %d old", who, e.Ready, e.Desired, e.Updated, e.Old)
			p.open = true
			return
		}
		p.endLine()
		fmt.Fprintf(p.out, "%s %s: %s\n", who, e.Type, e.Message)
		return
	}
	fmt.Fprintf(p.out, "%s %s %s: %s\n", e.Time.Format(time.RFC3339), who, e.Type, e.Message)
}

// Result shows the outcome for one object.
func (p *deployPrinter) Result(r rollout.Result, namespace string, dryRun rollout.DryRun) {
	if p.each != nil {
		p.each(deploy.ResultEvent(r, namespace, dryRunSuffix(dryRun)))
		return
	}
	p.endLine()
	action := string(r.Action)
	if r.Paused {
		action = "paused"
	}
	line := fmt.Sprintf("%s/%s %s", r.Kind, r.Name, action)
	if r.Kind == deploy.KindReplicationController || r.Kind == deploy.KindDeployment {
		line += fmt.Sprintf(" (%d replicas)", r.Replicas)
	}
	fmt.Fprintln(p.out, line+dryRunSuffix(dryRun))
}

func (p *deployPrinter) endLine() {
	if p.open {
		fmt.Fprint(p.out, "\r\033[K")
		p.open = false
	}
}

// Close ends an unfinished progress line.
func (p *deployPrinter) Close() { p.endLine() }
