package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/kubectl/pkg/cmd/diff"
	"k8s.io/kubectl/pkg/util/templates"
	"k8s.io/utils/exec"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/notify"
	"github.com/envops/kubectl-envops/pkg/render"
	"github.com/envops/kubectl-envops/pkg/rollout"
)

// ExitResumable is deploy's exit code for an update that failed or was
// interrupted and was left in place: running deploy again resumes it.
const ExitResumable = 3

// EventResult is the jsonl event that closes each object's deploy; its
// message is the action taken.
const EventResult rollout.EventType = "result"

// Controller kinds deploy rolls out.
const (
	kindReplicationController = "ReplicationController"
	kindDeployment            = "Deployment"
)

// DeployOptions holds the flags of "kubectl envops deploy".
type DeployOptions struct {
	App string
	EnvFlags
	Image           string
	Kind            string
	MaxSurge        string
	MaxUnavailable  string
	MinReadySeconds int32
	UpdatePeriod    time.Duration
	Timeout         time.Duration
	DryRun          string
	Diff            bool
	Rollback        bool
	Continue        bool
	PauseAfter      int32
	FailureGrace    time.Duration
	NoRollback      bool
	BreakLock       bool
	Notify          string
	Output          string
	ChangeCause     string
	Remote          remoteResourcesFlag

	// Resolved by Validate and Complete.
	dryRun         rollout.DryRun
	maxSurge       *intstr.IntOrString
	maxUnavailable *intstr.IntOrString
	cfg            *config.Config
	target         *Target
	fsys           filesys.FileSystem
	applier        func() (*rollout.ServerSideApplier, error)
	// trail checks access and records the deploy; nil does neither.
	trail *deployTrail

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
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("deploy takes exactly one app name; see 'kubectl envops deploy --help'")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.App = args[0]
			if err := o.Validate(cmd); err != nil {
				return err
			}
			if err := o.Complete(g, cmd, args); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	o.EnvFlags.AddFlags(cmd, g)
	f.StringVar(&o.Image, "image", "", "Image for the app's container, e.g. registry.example.com/web:1.4.2 (default: the overlay's)")
	f.StringVar(&o.Kind, "kind", "", "Deploy the app's controller as this kind: ReplicationController or Deployment (default: as rendered)")
	f.StringVar(&o.MaxSurge, "max-surge", "", "Pods allowed above the desired count during the update, a count or a percentage rounded up (default 25%)")
	f.StringVar(&o.MaxUnavailable, "max-unavailable", "", "Desired pods allowed to be unavailable during the update, a count or a percentage rounded down (default 25%)")
	f.Int32Var(&o.MinReadySeconds, "min-ready-seconds", 0, "Seconds a new pod must be Ready before it counts as available (default: the controller's own)")
	f.DurationVar(&o.UpdatePeriod, "update-period", 0, "Least time between two scaling steps of a ReplicationController update")
	f.DurationVar(&o.Timeout, "timeout", rollout.DefaultTimeout, "Fail the update when it makes no progress for this long")
	f.StringVar(&o.DryRun, "dry-run", "none", `Must be "none", "client" or "server": client only reports what would happen, server also has the API server validate the changes; nothing is changed`)
	f.Lookup("dry-run").NoOptDefVal = "client"
	f.BoolVar(&o.Diff, "diff", false, "Show the change against the live objects, as kubectl diff does, and change nothing")
	f.BoolVar(&o.Rollback, "rollback", false, "Roll the app back to its previous pod template: undoes the last update, whether it failed, was interrupted, paused or succeeded")
	f.BoolVar(&o.Continue, "continue", false, "Finish the app's paused (--pause-after) or interrupted update")
	f.Int32Var(&o.PauseAfter, "pause-after", 0, "Pause a ReplicationController update once this many pods of the new template are available (a canary); finish with --continue")
	f.DurationVar(&o.FailureGrace, "failure-grace", rollout.DefaultFailureGrace, "How long new pods may sit in a back-off that may be transient (image pull errors, crash loops) without progress before the update fails")
	f.BoolVar(&o.NoRollback, "no-rollback", false, "When the update fails, leave it in place (exit 3) instead of rolling back")
	f.BoolVar(&o.BreakLock, "break-lock", false, "Take the app's deploy lock from another deploy that holds it (use only when that deploy is gone)")
	f.StringVar(&o.Notify, "notify", "", "Post a short message per phase (started, progress, done, failed, rolled back) to this Slack-compatible incoming webhook")
	f.StringVarP(&o.Output, "output", "o", "text", "Output format: text, or jsonl for one JSON event per line")
	f.StringVar(&o.ChangeCause, "change-cause", "", "Why the app is deployed, recorded on its controllers and shown by history (default: this command line, credentials redacted)")
	addRemoteResourcesFlag(f, &o.Remote)
	_ = cmd.RegisterFlagCompletionFunc("kind", cobra.FixedCompletions([]string{kindReplicationController, kindDeployment}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("dry-run", cobra.FixedCompletions([]string{"none", "client", "server"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "jsonl"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Validate checks the command line without reading any file or cluster.
func (o *DeployOptions) Validate(cmd *cobra.Command) error {
	if o.Env == "" {
		return usageError("--env is required: name the environment to deploy %q to", o.App)
	}
	switch o.DryRun {
	case "none", "":
		o.dryRun = rollout.DryRunNone
	case "client":
		o.dryRun = rollout.DryRunClient
	case "server":
		o.dryRun = rollout.DryRunServer
	default:
		return usageError("invalid --dry-run value %q: use none, client or server", o.DryRun)
	}
	switch o.Output {
	case "text", "jsonl":
	default:
		return usageError("unknown output format %q for --output: use text or jsonl", o.Output)
	}
	switch strings.ToLower(o.Kind) {
	case "":
	case "replicationcontroller", "rc":
		o.Kind = kindReplicationController
	case "deployment", "deploy":
		o.Kind = kindDeployment
	default:
		return usageError("unknown --kind %q: use ReplicationController or Deployment", o.Kind)
	}
	surge, unavailable := rollout.DefaultMaxSurge, rollout.DefaultMaxUnavailable
	for _, fl := range []struct {
		name string
		val  string
		dst  **intstr.IntOrString
		def  *intstr.IntOrString
	}{{"max-surge", o.MaxSurge, &o.maxSurge, &surge}, {"max-unavailable", o.MaxUnavailable, &o.maxUnavailable, &unavailable}} {
		if !cmd.Flags().Changed(fl.name) {
			continue
		}
		v, err := rollout.ParseIntOrPercent(fl.val)
		if err != nil {
			return usageError("invalid --%s: %v", fl.name, err)
		}
		*fl.dst, *fl.def = &v, v
	}
	if err := rollout.ValidateStrategy(surge, unavailable); err != nil {
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
	case o.Diff && o.dryRun != rollout.DryRunNone:
		return usageError("--diff already changes nothing: drop --dry-run")
	}
	if err := (render.Options{Image: o.Image}).Validate(); err != nil {
		return usageError("--image: %v", err)
	}
	if o.Notify != "" {
		if err := notify.ValidateURL(o.Notify); err != nil {
			return usageError("--notify: %v", err)
		}
	}
	return nil
}

// Complete loads the project file and resolves the environment's context,
// namespace and clients.
func (o *DeployOptions) Complete(g *Globals, cmd *cobra.Command, args []string) error {
	cfg, err := g.LoadConfig()
	if err != nil {
		return err
	}
	o.cfg = cfg
	if o.target, err = g.SelectEnv(cfg, o.Env); err != nil {
		return err
	}
	o.fsys = filesys.MakeFsOnDisk()
	o.trail = newDeployTrail(o.target.Client, cmd, args, o.ChangeCause, o.Env)
	o.applier = func() (*rollout.ServerSideApplier, error) {
		dyn, err := g.Factory.DynamicClient()
		if err != nil {
			return nil, fmt.Errorf("cannot create a client for context %q: %w", o.target.Context, err)
		}
		mapper, err := g.Factory.ToRESTMapper()
		if err != nil {
			return nil, fmt.Errorf("cannot discover the API of context %q: %w", o.target.Context, err)
		}
		return &rollout.ServerSideApplier{Dynamic: dyn, Mapper: mapper, Namespace: o.target.Namespace}, nil
	}
	return nil
}

// deployPlan is the rendered app, split by what deploy does with each object.
type deployPlan struct {
	// controllers are rolled out, in the order rendered.
	controllers []*unstructured.Unstructured
	// others are applied before the controllers.
	others []*unstructured.Unstructured
}

// Run renders the app, checks the cluster's environment and deploys.
func (o *DeployOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	objs, err := render.App(o.fsys, o.cfg, o.App, o.Env, o.Remote.renderOptions(o.cfg, o.Image))
	if err != nil {
		return inputError(err)
	}
	plan, err := splitObjects(objs, o.Kind)
	if err != nil {
		return inputError(err)
	}
	if len(plan.controllers) == 0 && (o.Rollback || o.Kind != "") {
		return usageError("app %q renders no ReplicationController or Deployment for environment %q, so there is nothing to roll", o.App, o.Env)
	}
	// The guard runs before anything else touches the cluster. It and the
	// access check are bounded by --timeout too, so a server that never
	// answers cannot hold the deploy.
	checkCtx, cancelCheck := withTimeoutCause(ctx, o.Timeout, "--timeout")
	defer cancelCheck()
	namespaces := o.namespaces(plan)
	for _, ns := range namespaces {
		if err := o.target.VerifyNamespace(checkCtx, ns); err != nil {
			return err
		}
	}
	if o.Diff {
		// Nothing changes, so there is no access to check; the audit record
		// is stamped all the same, since the diff shows what deploy writes.
		if err := o.trail.preview(checkCtx, plan.controllers); err != nil {
			return err
		}
	} else if err := o.trail.check(checkCtx, namespaces, o.dryRun, plan.controllers); err != nil {
		return err
	}
	cancelCheck()
	var applier *rollout.ServerSideApplier
	if len(plan.others) > 0 && !o.Rollback {
		if applier, err = o.applier(); err != nil {
			return err
		}
	}
	if o.Diff {
		return o.diff(ctx, plan, applier)
	}
	if o.dryRun == rollout.DryRunNone {
		action := "deploy " + o.App
		if o.Rollback {
			action = "roll back " + o.App
		}
		if err := o.target.Confirm(o.IOStreams, o.Yes, action); err != nil {
			return err
		}
	}

	out := newDeployPrinter(o.Out, o.Output, printers.IsTerminal(o.Out))
	sinks := []rollout.EventFunc{out.Event}
	var hook *notify.Webhook
	if o.Notify != "" && o.dryRun == rollout.DryRunNone {
		if hook, err = notify.NewWebhook(o.Notify, notify.WebhookOptions{}); err != nil {
			return usageError("--notify: %v", err)
		}
		sinks = append(sinks, hook.Event)
	}
	events := func(e rollout.Event) {
		for _, s := range sinks {
			s(e)
		}
	}
	if o.dryRun == rollout.DryRunNone {
		var release func()
		if ctx, release, err = o.lock(ctx, plan); err != nil {
			return err
		}
		defer release()
	}
	err = o.deploy(ctx, plan, applier, events, out)
	out.Close()
	if err == nil && o.dryRun == rollout.DryRunNone && !o.Rollback {
		o.trail.done(ctx, o.ErrOut, o.App, plan.controllers, o.namespaceOf)
	}
	if hook != nil {
		if nerr := hook.Close(); nerr != nil {
			fmt.Fprintf(o.ErrOut, "warning: %v\n", nerr)
		}
	}
	return err
}

// lock takes the app's deploy lock (a Lease) in every namespace its
// controllers go to, so that one deploy of the app runs at a time; the
// returned context ends when another deploy takes a lock over.
func (o *DeployOptions) lock(ctx context.Context, plan *deployPlan) (context.Context, func(), error) {
	seen := map[string]bool{}
	var held []*rollout.DeployLock
	release := func() {
		for _, l := range held {
			if err := l.Release(context.WithoutCancel(ctx)); err != nil {
				fmt.Fprintf(o.ErrOut, "warning: %v\n", err)
			}
		}
	}
	for _, obj := range plan.controllers {
		ns := o.namespaceOf(obj)
		if seen[ns] {
			continue
		}
		seen[ns] = true
		l, lctx, err := rollout.AcquireDeployLock(ctx, o.target.Client, ns, o.App, o.holder(), o.BreakLock)
		if err != nil {
			release()
			return ctx, nil, err
		}
		held, ctx = append(held, l), lctx
		if by, why := l.TakenOver(); by != nil {
			fmt.Fprintf(o.ErrOut, "warning: took over the deploy lock of %s in namespace %q held by %s (%s)\n", o.App, ns, by.Holder, why)
		}
	}
	return ctx, release, nil
}

func (o *DeployOptions) deploy(ctx context.Context, plan *deployPlan, applier *rollout.ServerSideApplier, events rollout.EventFunc, out *deployPrinter) error {
	if !o.Rollback {
		for _, obj := range plan.others {
			action, err := applier.Apply(ctx, obj, o.dryRun)
			if err != nil {
				return err
			}
			ns, _ := applier.Namespaced(obj)
			out.Result(rollout.Result{Kind: obj.GetKind(), Name: obj.GetName(), Action: action, DryRun: o.dryRun != rollout.DryRunNone}, ns, o.dryRun)
		}
	}
	opts := o.rolloutOptions()
	for _, obj := range plan.controllers {
		ns := o.namespaceOf(obj)
		if !o.Rollback {
			if err := o.refuseOtherKind(ctx, obj, ns); err != nil {
				return err
			}
		}
		var res rollout.Result
		var err error
		switch obj.GetKind() {
		case kindReplicationController:
			u := &rollout.ReplicationControllers{Client: o.target.Client, Namespace: ns, Events: events}
			if o.Rollback {
				res, err = u.Rollback(ctx, obj.GetName(), opts)
				break
			}
			if o.Continue {
				res, err = u.Continue(ctx, obj.GetName(), opts)
				break
			}
			rc := &corev1.ReplicationController{}
			if err = runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, rc); err != nil {
				return fmt.Errorf("ReplicationController %q of app %q is malformed: %w", obj.GetName(), o.App, err)
			}
			res, err = u.Deploy(ctx, rc, opts)
		case kindDeployment:
			if o.PauseAfter > 0 || o.Continue {
				return usageError("--pause-after and --continue apply to ReplicationControllers; Deployment %q pauses with \"kubectl rollout pause\"", obj.GetName())
			}
			d := &rollout.Deployments{Client: o.target.Client, Namespace: ns, Events: events}
			if o.Rollback {
				res, err = d.Rollback(ctx, obj.GetName(), opts)
				break
			}
			res, err = d.Deploy(ctx, obj, opts)
		}
		if err != nil {
			if ctx.Err() != nil {
				var fe *rollout.FailedError
				if !errors.As(err, &fe) {
					err = &rollout.FailedError{Kind: obj.GetKind(), Name: obj.GetName(), Err: fmt.Errorf("interrupted (%w): run deploy again to resume", err)}
				}
			}
			return err
		}
		out.Result(res, ns, o.dryRun)
		if res.Paused {
			fmt.Fprintf(o.Out, "%s/%s is paused with %d new pods available: run \"kubectl envops deploy %s --env %s --continue\" to finish, or \"kubectl envops deploy %s --env %s --rollback\" to undo\n",
				res.Kind, res.Name, o.PauseAfter, o.App, o.Env, o.App, o.Env)
		}
	}
	return nil
}

// refuseOtherKind stops a deploy that would start a second set of pods: a
// controller of the other kind with the same name already runs the app.
func (o *DeployOptions) refuseOtherKind(ctx context.Context, obj *unstructured.Unstructured, ns string) error {
	name := obj.GetName()
	var err error
	other := kindDeployment
	if obj.GetKind() == kindDeployment {
		other = kindReplicationController
		_, err = o.target.Client.CoreV1().ReplicationControllers(ns).Get(ctx, name, metav1.GetOptions{})
	} else {
		_, err = o.target.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	}
	switch {
	case err == nil:
		return fmt.Errorf("a %s named %q already runs in namespace %q, and a %s beside it would run a second set of pods: deploy with --kind %s, or delete the %s first", other, name, ns, obj.GetKind(), other, other)
	case apierrors.IsNotFound(err):
		return nil
	}
	return fmt.Errorf("cannot check for a %s named %q in namespace %q: %w", other, name, ns, err)
}

func (o *DeployOptions) rolloutOptions() rollout.Options {
	return rollout.Options{
		MaxSurge:        o.maxSurge,
		MaxUnavailable:  o.maxUnavailable,
		MinReadySeconds: o.MinReadySeconds,
		UpdatePeriod:    o.UpdatePeriod,
		Timeout:         o.Timeout,
		FailureGrace:    o.FailureGrace,
		PauseAfter:      o.PauseAfter,
		Continue:        o.Continue,
		NoRollback:      o.NoRollback,
		DryRun:          o.dryRun,
		Holder:          o.holder(),
		BreakLock:       o.BreakLock,
	}
}

// holder is the user the access check learned, named in the deploy lock.
func (o *DeployOptions) holder() string {
	if o.trail == nil {
		return ""
	}
	return o.trail.record.User
}

// namespaceOf is where obj goes: its own namespace, else the target's.
func (o *DeployOptions) namespaceOf(obj *unstructured.Unstructured) string {
	if ns := obj.GetNamespace(); ns != "" {
		return ns
	}
	return o.target.Namespace
}

// namespaces lists every namespace the deploy could touch, for the guard:
// the namespaces objects name, and the target's for those naming none.
func (o *DeployOptions) namespaces(plan *deployPlan) []string {
	seen := map[string]bool{}
	for _, obj := range append(append([]*unstructured.Unstructured{}, plan.controllers...), plan.others...) {
		seen[o.namespaceOf(obj)] = true
	}
	if len(seen) == 0 {
		seen[o.target.Namespace] = true
	}
	out := make([]string, 0, len(seen))
	for ns := range seen {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

// splitObjects separates the controllers to roll from the other objects,
// converting controllers to kind when it is set.
func splitObjects(objs []*unstructured.Unstructured, kind string) (*deployPlan, error) {
	p := &deployPlan{}
	for _, obj := range objs {
		gk := obj.GroupVersionKind().GroupKind()
		isRC := gk.Group == "" && gk.Kind == kindReplicationController
		isDeployment := gk.Group == appsv1.GroupName && gk.Kind == kindDeployment
		if !isRC && !isDeployment {
			p.others = append(p.others, obj)
			continue
		}
		if kind != "" && kind != gk.Kind {
			converted, err := convertController(obj, kind)
			if err != nil {
				return nil, err
			}
			obj = converted
		}
		p.controllers = append(p.controllers, obj)
	}
	return p, nil
}

// convertController turns a rendered ReplicationController into the
// equivalent Deployment, or the other way round, keeping metadata,
// replicas, selector and pod template.
func convertController(obj *unstructured.Unstructured, kind string) (*unstructured.Unstructured, error) {
	var meta metav1.ObjectMeta
	var replicas *int32
	var minReady int32
	var selector map[string]string
	var template corev1.PodTemplateSpec
	switch obj.GetKind() {
	case kindReplicationController:
		rc := &corev1.ReplicationController{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, rc); err != nil {
			return nil, fmt.Errorf("ReplicationController %q is malformed: %w", obj.GetName(), err)
		}
		if rc.Spec.Template == nil {
			return nil, fmt.Errorf("ReplicationController %q has no pod template: set spec.template", rc.Name)
		}
		meta, replicas, minReady, selector, template = rc.ObjectMeta, rc.Spec.Replicas, rc.Spec.MinReadySeconds, rc.Spec.Selector, *rc.Spec.Template
		if len(selector) == 0 {
			selector = template.Labels
		}
	default:
		d := &appsv1.Deployment{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, d); err != nil {
			return nil, fmt.Errorf("Deployment %q is malformed: %w", obj.GetName(), err)
		}
		if d.Spec.Selector != nil && len(d.Spec.Selector.MatchExpressions) > 0 {
			return nil, fmt.Errorf("Deployment %q selects pods with matchExpressions, which a ReplicationController cannot: use matchLabels, or deploy it as a Deployment", d.Name)
		}
		meta, replicas, minReady, template = d.ObjectMeta, d.Spec.Replicas, d.Spec.MinReadySeconds, d.Spec.Template
		if d.Spec.Selector != nil {
			selector = d.Spec.Selector.MatchLabels
		}
	}
	meta = metav1.ObjectMeta{Name: meta.Name, Namespace: meta.Namespace, Labels: meta.Labels, Annotations: meta.Annotations}
	var out runtime.Object
	if kind == kindDeployment {
		out = &appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: kindDeployment},
			ObjectMeta: meta,
			Spec: appsv1.DeploymentSpec{
				Replicas: replicas, MinReadySeconds: minReady,
				Selector: &metav1.LabelSelector{MatchLabels: selector},
				Template: template,
			},
		}
	} else {
		out = &corev1.ReplicationController{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: kindReplicationController},
			ObjectMeta: meta,
			Spec: corev1.ReplicationControllerSpec{
				Replicas: replicas, MinReadySeconds: minReady, Selector: selector, Template: &template,
			},
		}
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(out)
	if err != nil {
		return nil, err
	}
	res := &unstructured.Unstructured{Object: u}
	unstructured.RemoveNestedField(res.Object, "status")
	unstructured.RemoveNestedField(res.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(res.Object, "spec", "template", "metadata", "creationTimestamp")
	return res, nil
}

// diff prints, like kubectl diff, each object as it is and as the deploy
// would leave it; the server computes the latter without persisting it.
func (o *DeployOptions) diff(ctx context.Context, plan *deployPlan, applier *rollout.ServerSideApplier) error {
	differ, err := diff.NewDiffer("LIVE", "MERGED")
	if err != nil {
		return err
	}
	defer differ.TearDown()
	add := func(obj *unstructured.Unstructured, live, merged runtime.Object) error {
		name := fmt.Sprintf("%s.%s.%s", obj.GroupVersionKind().Kind, o.namespaceOf(obj), obj.GetName())
		return differ.Diff(&diffObject{name: name, live: live, merged: merged}, diff.Printer{}, false, false)
	}
	for _, obj := range plan.others {
		live, merged, err := applier.Preview(ctx, obj)
		if err != nil {
			return err
		}
		if err := add(obj, live, merged); err != nil {
			return err
		}
	}
	opts := o.rolloutOptions()
	for _, obj := range plan.controllers {
		var live, merged runtime.Object
		var err error
		if obj.GetKind() == kindReplicationController {
			rc := &corev1.ReplicationController{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, rc); err != nil {
				return fmt.Errorf("ReplicationController %q of app %q is malformed: %w", obj.GetName(), o.App, err)
			}
			u := &rollout.ReplicationControllers{Client: o.target.Client, Namespace: o.namespaceOf(obj)}
			live, merged, err = u.Preview(ctx, rc, opts)
		} else {
			d := &rollout.Deployments{Client: o.target.Client, Namespace: o.namespaceOf(obj)}
			live, merged, err = d.Preview(ctx, obj, opts)
		}
		if err != nil {
			return err
		}
		if err := add(obj, live, merged); err != nil {
			return err
		}
	}
	err = differ.Run(&diff.DiffProgram{Exec: exec.New(), IOStreams: o.IOStreams})
	// diff(1) exits 1 when it found differences: that is the answer, not a failure.
	var ee exec.ExitError
	if errors.As(err, &ee) && ee.ExitStatus() == 1 {
		return nil
	}
	return err
}

// diffObject is one object for kubectl's differ.
type diffObject struct {
	name         string
	live, merged runtime.Object
}

func (d *diffObject) Live() runtime.Object {
	if d.live == nil {
		return nil
	}
	return withoutManagedFields(d.live)
}

func (d *diffObject) Merged() (runtime.Object, error) {
	if d.merged == nil {
		return nil, nil
	}
	return withoutManagedFields(d.merged), nil
}

func (d *diffObject) Name() string { return d.name }

func withoutManagedFields(obj runtime.Object) runtime.Object {
	obj = obj.DeepCopyObject()
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj
}

// deployPrinter shows deploy events: on a terminal, progress rewrites one
// line per controller; otherwise every event is a timestamped line; with
// jsonl, every event is a JSON object on its own line.
type deployPrinter struct {
	out   io.Writer
	jsonl *notify.JSONLines
	tty   bool
	// open is true while the terminal's last line is an unfinished progress line.
	open bool
}

func newDeployPrinter(out io.Writer, format string, tty bool) *deployPrinter {
	p := &deployPrinter{out: out, tty: tty}
	if format == "jsonl" {
		p.jsonl = notify.NewJSONLines(out)
	}
	return p
}

// Event shows one event.
func (p *deployPrinter) Event(e rollout.Event) {
	if p.jsonl != nil {
		p.jsonl.Event(e)
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
	if p.jsonl != nil {
		p.jsonl.Event(rollout.Event{Time: time.Now(), Type: EventResult, Kind: r.Kind, Namespace: namespace, Name: r.Name, Message: string(r.Action) + dryRunSuffix(dryRun), Desired: r.Replicas, Ready: r.Replicas})
		return
	}
	p.endLine()
	action := string(r.Action)
	if r.Paused {
		action = "paused"
	}
	line := fmt.Sprintf("%s/%s %s", r.Kind, r.Name, action)
	if r.Kind == kindReplicationController || r.Kind == kindDeployment {
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
