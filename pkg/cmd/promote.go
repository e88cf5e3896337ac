package cmd

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/kubectl/pkg/util/templates"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/deploy"
	"github.com/envops/kubectl-envops/pkg/fleet"
	"github.com/envops/kubectl-envops/pkg/notify"
	"github.com/envops/kubectl-envops/pkg/promote"
	"github.com/envops/kubectl-envops/pkg/rollout"
	"github.com/envops/kubectl-envops/pkg/version"
)

// PromoteOptions holds the flags and resolved state of "kubectl envops promote".
type PromoteOptions struct {
	App   string
	Image string
	From  string
	To    string
	Soak  time.Duration
	Yes   bool
	// GateTimeout bounds each read of an environment's state.
	GateTimeout time.Duration
	Output      string
	Notify      string
	Remote      remoteResourcesFlag
	// rolloutFlags are passed to every step's deploy.
	rolloutFlags

	// Resolved by Complete.
	cfg  *config.Config
	plan promote.Plan
	// targets are the environments of the plan, resolved once.
	targets map[string]*Target
	fsys    filesys.FileSystem

	print *outputFlags
	genericiooptions.IOStreams
}

var promoteLong = templates.LongDesc(`
	Ship one image through the environments in order: the order of "promotion:"
	in .envops.yaml, by default the order of "environments".

	--image IMG starts at the first environment; --from ENV reads the image that
	runs in ENV (pinned to its digest when the pods report one) and ships it to the
	environments after ENV; --to ENV stops there.

	Each step is a deploy of the app to the environment with the image, through
	the environment's own context and namespace (-n sets the namespace of every
	environment): the environment Secret is checked, the deploy lock taken, the
	pods rolled, a failure rolled back. Every rollout flag of deploy applies to
	each step. Environments marked confirm: true ask, or need --yes.

	Before each step the environment before it must be steady and healthy on the
	image, for --soak. The first failure stops the promotion and leaves every later
	environment untouched; the message names where it stopped and the command that
	resumes it.

	Exit codes: 0 promoted, 1 stopped (the failed deploy rolled back, or a gate
	refused), 2 usage error, 3 stopped with the failed deploy left in place.`)

var promoteExample = templates.Examples(`
	# Ship a new image through dev, staging and prod
	kubectl envops promote web --image registry.example.com/web:1.4.2

	# Ship what passed staging to prod, after an hour of staging running it
	kubectl envops promote web --from staging --to prod --soak 1h

	# Two pods at a time, never below the desired count, in every environment
	kubectl envops promote web --image registry.example.com/web:1.4.2 --max-surge 2 --max-unavailable 0

	# As JSON lines for CI, with a chat message per environment
	kubectl envops promote web --image registry.example.com/web:1.4.2 --yes -o jsonl --notify https://hooks.slack.com/services/T000/B000/XXXX`)

// NewCmdPromote builds "kubectl envops promote". runF, when set, replaces Run.
func NewCmdPromote(g *Globals, runF func(*PromoteOptions) error) *cobra.Command {
	o := &PromoteOptions{IOStreams: g.Streams}
	cmd := &cobra.Command{
		Use:               "promote APP (--image IMG | --from ENV) [--to ENV] [--soak D] [--yes]",
		Short:             "Ship one image through the environments in order, each step a deploy",
		Long:              promoteLong,
		Example:           promoteExample,
		ValidArgsFunction: appNameCompletion(g),
		Args:              exactArgs(1, "one app name"),
		RunE:              runOptions(g, o, runF),
	}
	f := cmd.Flags()
	f.StringVar(&o.Image, "image", "", "Image to ship, starting at the first environment")
	f.StringVar(&o.From, "from", "", "Ship the image that runs in this environment to the environments after it")
	f.StringVar(&o.To, "to", "", "Last environment to deploy to (default: the last of the promotion order)")
	f.DurationVar(&o.Soak, "soak", 0, "How long an environment must run the image, steady and healthy, before the next starts")
	f.BoolVarP(&o.Yes, "yes", "y", false, "Do not ask for confirmation on environments marked confirm: true (required when stdin is not a terminal)")
	f.DurationVar(&o.GateTimeout, "gate-timeout", fleet.DefaultDeadline, "How long to wait for a cluster when reading an environment's state before the next step")
	o.output().addFlags(cmd, "Output format: text, jsonl for one JSON event per line, or a template applied to each event")
	f.StringVar(&o.Notify, "notify", "", "Post each deploy's messages to this Slack-compatible incoming webhook")
	o.rolloutFlags.add(cmd)
	addRemoteResourcesFlag(f, &o.Remote)
	for _, name := range []string{"from", "to"} {
		_ = cmd.RegisterFlagCompletionFunc(name, environmentNameCompletion(g))
	}
	return cmd
}

// output offers text, jsonl and kubectl's templates, each applied to one
// event; json and yaml would not make a stream.
func (o *PromoteOptions) output() *outputFlags {
	return outputOf(&o.print, &o.Output, "text", "jsonl").templatesOnly()
}

// Complete loads the project file, plans the promotion and resolves the
// target of every environment it reads or deploys to, once.
func (o *PromoteOptions) Complete(g *Globals, cmd *cobra.Command, args []string) error {
	o.App = args[0]
	if err := o.rolloutFlags.complete(cmd); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	var err error
	if o.cfg, err = g.LoadConfig(); err != nil {
		return err
	}
	cfg := o.cfg
	if len(cfg.Environments) == 0 {
		return usageError("promote needs the environments and their contexts in %s: add an environments: mapping", config.FileName)
	}
	if *g.ConfigFlags.Context != "" {
		return usageError("promote uses each environment's own context from %s: drop --context", cfg.Path)
	}
	o.plan, err = promote.NewPlan(promote.Request{Order: cfg.PromotionOrder(), Image: o.Image, From: o.From, To: o.To})
	var ue *promote.UsageError
	if errors.As(err, &ue) {
		return usageError("%v", err)
	}
	if err != nil {
		return err
	}
	// An environment that asks for confirmation cannot be asked without a
	// terminal: refuse before the first step rather than halfway through.
	if !o.Yes && !printers.IsTerminal(o.In) {
		for _, env := range o.plan.Steps {
			if cfg.Environments[env].Confirm {
				return usageError("environment %q asks for confirmation (confirm: true in %s) and stdin is not a terminal: pass --yes to promote %s through it", env, cfg.Path, o.App)
			}
		}
	}
	o.targets = map[string]*Target{}
	for _, env := range append([]string{o.plan.Source}, o.plan.Steps...) {
		if env == "" {
			continue
		}
		if o.targets[env], err = g.resolve(cfg, env); err != nil {
			return err
		}
	}
	o.fsys = filesys.MakeFsOnDisk()
	return nil
}

// Validate checks the flags without reading any file or cluster.
func (o *PromoteOptions) Validate() error {
	if err := o.output().validate(); err != nil {
		return err
	}
	if err := o.rolloutFlags.validate(); err != nil {
		return err
	}
	switch {
	case o.Image == "" && o.From == "":
		return usageError("name what to promote: --image IMG, or --from ENV to ship what runs there")
	case o.Image != "" && o.From != "":
		return usageError("--image and --from contradict each other: --image starts at the first environment, --from ships what runs in ENV; drop one")
	case o.Soak < 0:
		return usageError("invalid --soak %s: use 0 or a positive duration such as 10m", o.Soak)
	case o.GateTimeout <= 0:
		return usageError("invalid --gate-timeout %s: use a positive duration such as 10s", o.GateTimeout)
	}
	return checkImageAndWebhook(o.Image, o.Notify)
}

// Run reads the image (with --from), then promotes it step by step.
func (o *PromoteOptions) Run(ctx context.Context) error {
	ctx, stop := untilInterrupted(ctx)
	defer stop()

	cluster := promote.Cluster{App: o.App, Targets: o.targets, Timeout: o.GateTimeout}
	image := o.Image
	if o.plan.Source != "" {
		var err error
		if image, err = cluster.Image(ctx, o.plan.Source); err != nil {
			return err
		}
	}
	text := o.Output == "text" && o.output().isOwn()
	runner := &promote.Runner{
		App:     o.App,
		Soak:    o.Soak,
		Observe: cluster.Observe,
		Deploy: func(ctx context.Context, env, image string) error {
			if text {
				t := o.targets[env]
				fmt.Fprintln(o.Out)
				printLine(o.Out, "== %s (context %s, namespace %s) ==", env, t.Context, t.Namespace)
			}
			return o.deploy(ctx, env, image)
		},
		Events: o.printEvent,
	}
	results, err := runner.Run(ctx, o.plan, image)
	if text {
		o.summary(results)
	}
	// A stopped promotion unwraps to the failed deploy's error, so it exits
	// with that deploy's code.
	return err
}

// printEvent prints one event of the promotion: a line of text for the
// phases that need one, or the whole event as JSON or through a template.
func (o *PromoteOptions) printEvent(e promote.Event) {
	switch {
	case o.Output == "jsonl":
		_ = json.NewEncoder(o.Out).Encode(e)
	case !o.output().isOwn():
		if err := o.output().printValue(o.Out, e); err != nil {
			printLine(o.ErrOut, "warning: %v", err)
		}
	case e.Phase == promote.PhaseStarting:
		printLine(o.Out, "%s %s", o.App, e.Message)
	case e.Phase == promote.PhaseSoaking || e.Phase == promote.PhaseBlocked:
		// The message names the environment.
		printLine(o.Out, "%s", e.Message)
	case e.Phase == promote.PhaseDone:
		printLine(o.Out, "%s: promoted %s", e.Env, e.Image)
	}
}

// deploy deploys the app with image to env's target: the same deploy the
// deploy command runs, with the rollout flags given to promote.
func (o *PromoteOptions) deploy(ctx context.Context, env, image string) error {
	t := o.targets[env]
	reqs, err := deploy.Requests(o.fsys, o.cfg, env, deploy.Selection{Apps: []string{o.App}, Images: map[string]string{o.App: image}, Kind: o.Kind, Render: o.Remote.renderOptions(o.cfg, "")},
		deploy.Request{Options: o.Options, Prune: o.Prune, Cause: fmt.Sprintf("kubectl envops promote %s: %s to %s", o.App, image, env)})
	if errors.Is(err, deploy.ErrSelection) {
		return &UsageError{Err: err}
	}
	if err != nil {
		return inputError(err)
	}
	req := reqs[0]
	out := newDeployPrinter(o.Out, o.output(), printers.IsTerminal(o.Out), false, rollout.DryRunNone)
	d := &deploy.Deployer{
		Target:           t,
		Tooling:          "kubectl-envops/" + version.Get().Version,
		CreateNamespaces: o.CreateNamespace,
		Confirm:          func() error { return t.Confirm(o.IOStreams, o.Yes, "deploy "+o.App) },
		Events:           out.Event,
		Done:             out.Result,
		Warn:             func(app string, err error) { printLine(o.ErrOut, "warning: %s: %v", app, err) },
	}
	var hook *notify.Webhook
	if o.Notify != "" {
		if hook, err = notify.NewWebhook(o.Notify, notify.WebhookOptions{}); err != nil {
			return usageError("--notify: %v", err)
		}
		d.Events = func(e rollout.Event) { out.Event(e); hook.Event(e) }
	}
	res := d.Deploy(ctx, req)
	out.Finished(res)
	out.Close([]*deploy.Result{res})
	if hook != nil {
		if nerr := hook.Close(); nerr != nil {
			printLine(o.ErrOut, "warning: %v", nerr)
		}
	}
	if res.Err == nil {
		return out.err
	}
	return res.Err
}

// summary prints one line per environment of the promotion.
func (o *PromoteOptions) summary(results []promote.Result) {
	fmt.Fprintln(o.Out)
	var rows [][]string
	if o.plan.Source != "" {
		image := "-"
		if len(results) > 0 {
			image = cmp.Or(results[0].Image, "-")
		}
		rows = append(rows, []string{o.plan.Source, o.contextOf(o.plan.Source), "source", image})
	}
	for _, r := range results {
		rows = append(rows, []string{r.Env, o.contextOf(r.Env), string(r.Phase), cmp.Or(r.Image, "-")})
	}
	_ = printTable(o.Out, []string{"ENVIRONMENT", "CONTEXT", "RESULT", "IMAGE"}, rows)
}

// contextOf is the context env was resolved to, or for an environment the
// promotion does not reach, the context .envops.yaml maps it to.
func (o *PromoteOptions) contextOf(env string) string {
	if t := o.targets[env]; t != nil {
		return t.Context
	}
	return o.cfg.Environments[env].Context
}
