package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/kubectl/pkg/util/templates"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/deploy"
	"github.com/envops/kubectl-envops/pkg/notify"
	"github.com/envops/kubectl-envops/pkg/render"
	"github.com/envops/kubectl-envops/pkg/rollout"
	"github.com/envops/kubectl-envops/pkg/version"
)

// ExitResumable is deploy's exit code for an update that failed or was
// interrupted and was left in place: running deploy again resumes it.
const ExitResumable = 3

// DeployOptions holds the flags of "kubectl envops deploy".
type DeployOptions struct {
	// Apps are the apps named on the command line; All and Selector choose
	// them from the project instead.
	Apps     []string
	All      bool
	Selector string
	// Env is the environment the cluster must serve; Yes skips the typed
	// confirmation of environments marked confirm: true.
	Env string
	Yes bool
	// Images are the --image values: IMG for the one app deployed, or
	// APP=IMG for one of several.
	Images      []string
	Diff        bool
	Rollback    bool
	Concurrency int
	FailFast    bool
	Notify      string
	Output      string
	ChangeCause string
	Remote      remoteResourcesFlag
	rolloutFlags

	// Resolved by Complete.
	cfg    *config.Config
	target *Target
	fsys   filesys.FileSystem
	cause  string
	print  *outputFlags

	genericiooptions.IOStreams
}

var deployLong = templates.LongDesc(`
	Deploy apps to an environment: render each app's overlay (as generate does),
	check that the cluster declares that environment (its environment Secret),
	then create or update the apps' objects and roll their pods to the new pod
	template without taking Ready pods below desired - max unavailable.

	Name one app or several, or choose them with --all or with -l by the label
	convention their overlays render (tier=backend). Apps are deployed in the
	order the needs: mapping of .envops.yaml gives, and in parallel up to
	--concurrency where no order is declared. An app that fails stops the apps
	that need it, which are reported as not started; the others go on, and
	--fail-fast starts no app after a failure. An app whose rendered objects
	already match what the cluster runs is reported unchanged, and nothing is
	written. Running the same command again after an interruption finishes
	what was left.

	The objects an app deploys form one set, marked with kubectl's ApplySet
	labels (applyset.kubernetes.io/part-of, and a parent ConfigMap
	envops-applyset-APP). After an app's rollout succeeds, the members of its
	set that its overlay no longer renders are deleted; --prune=false keeps
	them. Nothing outside the set is ever deleted, the environment Secret
	included.

	A ReplicationController keeps its name and selector for life. An update
	writes the new pod template into it (its pods carry an envops.io/template-hash
	label that is not part of the selector), raises its replicas by --max-surge
	and deletes old pods in batches, unavailable ones first, never taking
	available pods below desired - --max-unavailable; the replication manager
	replaces each with a pod of the new template. Deploy returns when the
	controller's status shows every replica ready on the new template. The
	previous templates are recorded on the controller, so --rollback rolls
	forward to the last one, after a failure or after a success alike.
	--pause-after N stops once N new pods are available (a canary); --continue
	finishes, --rollback undoes.

	New pods that cannot start fail the update: at once when waiting cannot
	help (the image does not exist, an invalid image name, no node matches),
	after --failure-grace without progress for back-offs that may be
	transient (image pull errors, crash loops); the update is then rolled back
	unless --no-rollback. Nothing improving for --timeout fails it too.

	One deploy of an app runs at a time: each app's deploy holds the Lease
	envops-deploy-APP (coordination.k8s.io) and renews it while it runs, and a
	second deploy refuses, naming the holder. A lease not renewed for 30s
	expires; one left by your own killed deploy on this host is taken over at
	once; --break-lock takes any.

	A Deployment is applied with server-side apply (field manager
	kubectl-envops) and rolled by its controller; a failure returns it to its
	previous revision.

	Exit codes: 0 done, 1 failed and rolled back (or --diff found differences),
	2 usage error, 3 failed or interrupted and left in place for a resume. With
	several apps, the worst of the apps.`)

var deployExample = templates.Examples(`
	# Roll the web app in dev to a new image
	kubectl envops deploy web --env dev --image registry.example.com/web:1.4.2

	# Every app of the project, in the order of their needs, four at a time
	kubectl envops deploy --all --env staging --concurrency 4

	# The backend apps only, chosen by the label convention
	kubectl envops deploy -l tier=backend --env staging

	# Two apps, each with its own image
	kubectl envops deploy web api --env dev --image web=registry.example.com/web:1.4.2 --image api=registry.example.com/api:2.0.1

	# Roll prod two pods at a time, never below the desired count
	kubectl envops deploy web --env prod --image registry.example.com/web:1.4.2 --max-surge 2 --max-unavailable 0

	# Show what would change, without changing anything (exit 1 when something would)
	kubectl envops deploy web --env prod --image registry.example.com/web:1.4.2 --diff

	# A canary: stop once 2 pods run the new image, then finish or undo
	kubectl envops deploy web --env prod --image registry.example.com/web:1.4.2 --pause-after 2
	kubectl envops deploy web --env prod --continue
	kubectl envops deploy web --env prod --rollback

	# A new or rebuilt cluster: declare it, then bring every app up
	kubectl envops init-env prod --context prod-cluster
	kubectl envops deploy --all --env prod --create-namespace --yes

	# One JSON event per line for CI, and a message per phase to chat
	kubectl envops deploy web --env dev --image registry.example.com/web:1.4.2 -o jsonl --notify https://hooks.slack.com/services/T000/B000/XXXX`)

// NewCmdDeploy builds "kubectl envops deploy". runF, when set, replaces Run
// so tests can inspect the parsed options.
func NewCmdDeploy(g *Globals, runF func(*DeployOptions) error) *cobra.Command {
	o := &DeployOptions{IOStreams: g.Streams}
	cmd := &cobra.Command{
		Use:               "deploy (APP... | --all | -l SELECTOR) --env ENV [--image IMG] [--max-surge N|%] [--max-unavailable N|%] [--dry-run=client|server] [--diff] [--rollback]",
		Short:             "Create or update apps in an environment and roll their pods to the new template",
		Long:              deployLong,
		Example:           deployExample,
		ValidArgsFunction: appNameCompletion(g),
		RunE:              runOptions(g, o, runF),
	}
	o.output().addFlags(cmd, "Output format: text, jsonl for one JSON event per line, json or yaml for the summary (with --dry-run: the objects), name, or a template applied to each event")
	f := cmd.Flags()
	f.BoolVar(&o.All, "all", false, "Deploy every app of the project")
	addSelectorFlag(cmd, &o.Selector, "deploy the apps whose overlays, as rendered for --env, carry these convention labels on their controllers")
	f.StringVar(&o.Env, "env", "", "Environment to act on; selects its context from .envops.yaml unless --context is given, and must match the cluster's environment Secret")
	f.BoolVarP(&o.Yes, "yes", "y", false, "Do not ask for confirmation on environments marked confirm: true (required when stdin is not a terminal)")
	_ = cmd.RegisterFlagCompletionFunc("env", projectNames(g, false, cobra.ShellCompDirectiveError, (*config.Config).EnvironmentNames))
	f.StringArrayVar(&o.Images, "image", nil, "Image for the app's container, e.g. registry.example.com/web:1.4.2 (default: the overlay's); with several apps, APP=IMAGE, once per app")
	o.rolloutFlags.add(cmd)
	addDryRunFlag(cmd, `Must be "none", "client" or "server": client only reports what would happen, server also has the API server validate the changes; nothing is changed`)
	f.BoolVar(&o.Diff, "diff", false, "Show the change against the live objects, as kubectl diff does, and change nothing; exit 1 when there are differences")
	f.BoolVar(&o.Rollback, "rollback", false, "Roll the app back to its previous pod template: undoes the last update, whether it failed, was interrupted, paused or succeeded")
	f.BoolVar(&o.Continue, "continue", false, "Finish the app's paused (--pause-after) or interrupted update")
	f.Int32Var(&o.PauseAfter, "pause-after", 0, "Pause a ReplicationController update once this many pods of the new template are available (a canary); finish with --continue")
	f.IntVar(&o.Concurrency, "concurrency", deploy.DefaultConcurrency, "How many apps to deploy at once where their needs allow")
	f.BoolVar(&o.FailFast, "fail-fast", false, "Start no further app once one has failed")
	f.StringVar(&o.Notify, "notify", "", "Post a short message per phase (started, progress, done, failed, rolled back) to this Slack-compatible incoming webhook")
	f.StringVar(&o.ChangeCause, "change-cause", "", "Why the app is deployed, recorded on its controllers and shown by history (default: this command line, credentials redacted)")
	addRemoteResourcesFlag(f, &o.Remote)
	return cmd
}

func (o *DeployOptions) output() *outputFlags {
	return outputOf(&o.print, &o.Output, "text", "jsonl").withNames()
}

// several tells whether the command deploys apps chosen as a set, which
// is reported app by app with a summary.
func (o *DeployOptions) several() bool {
	return o.All || o.Selector != "" || len(o.Apps) > 1
}

// Complete parses the flags, reports a wrong command line before any file
// or cluster is read, then loads the project file and resolves the
// environment's context, namespace and client, once.
func (o *DeployOptions) Complete(g *Globals, cmd *cobra.Command, args []string) error {
	o.Apps = args
	var err error
	if o.DryRun, err = rolloutDryRun(cmd); err != nil {
		return err
	}
	if err := o.rolloutFlags.complete(cmd); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	if o.target, err = g.target(o.Env); err != nil {
		return err
	}
	o.cfg, o.fsys = o.target.Config, filesys.MakeFsOnDisk()
	o.cause = changeCause(cmd, args, o.ChangeCause)
	return nil
}

// Validate checks the command line.
func (o *DeployOptions) Validate() error {
	chosen := 0
	for _, c := range []bool{len(o.Apps) > 0, o.All, o.Selector != ""} {
		if c {
			chosen++
		}
	}
	switch {
	case chosen == 0:
		return usageError("name the apps to deploy: APP..., --all, or -l SELECTOR")
	case chosen > 1:
		return usageError("choose the apps one way: name them, or --all, or -l SELECTOR")
	case o.Env == "":
		return usageError("--env is required: name the environment to deploy to")
	}
	named := map[string]bool{}
	for _, app := range o.Apps {
		if named[app] {
			return usageError("app %q is named twice: name each app once", app)
		}
		named[app] = true
	}
	if err := o.output().validate(); err != nil {
		return err
	}
	if err := o.rolloutFlags.validate(); err != nil {
		return err
	}
	if o.Selector != "" {
		if _, err := parseSelector(o.Selector); err != nil {
			return err
		}
	}
	switch {
	case o.Concurrency < 1:
		return usageError("invalid --concurrency %d: use 1 or more", o.Concurrency)
	case o.PauseAfter < 0:
		return usageError("invalid --pause-after %d: use a count of new pods of 1 or more", o.PauseAfter)
	case o.Continue && o.Rollback:
		return usageError("--continue and --rollback contradict each other: drop one")
	case o.Continue && o.PauseAfter > 0:
		return usageError("--continue finishes a paused update and cannot pause it again: drop --pause-after")
	case o.Continue && len(o.Images) > 0:
		return usageError("--continue finishes the update in progress and takes no --image: drop --image, or deploy the new image without --continue")
	case o.Rollback && o.PauseAfter > 0:
		return usageError("--rollback cannot be combined with --pause-after: drop one")
	case o.Rollback && o.NoRollback:
		return usageError("--rollback and --no-rollback contradict each other: drop one")
	case o.Rollback && len(o.Images) > 0:
		return usageError("--rollback restores the previous pods and takes no --image: drop --image")
	case o.Rollback && o.Diff:
		return usageError("--diff shows what a deploy would change and cannot be combined with --rollback")
	case o.Diff && o.DryRun != rollout.DryRunNone:
		return usageError("--diff already changes nothing: drop --dry-run")
	case o.Diff && !o.output().isOwn():
		return usageError("--diff prints a diff: drop -o")
	case o.several() && (o.PauseAfter > 0 || o.Continue || o.Rollback):
		return usageError("--pause-after, --continue and --rollback act on one app: name that app alone")
	}
	if _, err := o.images(); err != nil {
		return err
	}
	return checkImageAndWebhook("", o.Notify)
}

// images maps each app given an image to that image; "" holds the image of
// a lone --image IMG, for the one app deployed.
func (o *DeployOptions) images() (map[string]string, error) {
	out := map[string]string{}
	for _, v := range o.Images {
		app, image := render.SplitImage(v)
		if app == "" && (o.several() || len(o.Images) > 1) {
			return nil, usageError("--image %s would set one image on every app: with several apps, name the app it is for, as --image APP=%s", v, v)
		}
		if _, dup := out[app]; dup {
			return nil, usageError("--image gives app %q two images: give each app one", app)
		}
		if len(o.Apps) == 1 && app != "" && app != o.Apps[0] {
			return nil, usageError("--image %s is for app %q, but the app deployed is %q", v, app, o.Apps[0])
		}
		if err := (render.Options{Image: image}).Validate(); err != nil {
			return nil, usageError("--image: %v", err)
		}
		out[app] = image
	}
	return out, nil
}

// checkImageAndWebhook checks an --image and a --notify of a deploy, for
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

// requests renders the chosen apps and makes one deploy request of each.
func (o *DeployOptions) requests() ([]deploy.Request, error) {
	images, err := o.images()
	if err != nil {
		return nil, err
	}
	sel := deploy.Selection{Apps: o.Apps, All: o.All, Images: images, Kind: o.Kind, Render: o.Remote.renderOptions(o.cfg, "")}
	if lone, ok := images[""]; ok {
		// A lone --image IMG is for the one app named.
		delete(images, "")
		images[o.Apps[0]] = lone
	}
	if o.Selector != "" {
		if sel.Selector, err = parseSelector(o.Selector); err != nil {
			return nil, err
		}
	}
	reqs, err := deploy.Requests(o.fsys, o.cfg, o.Env, sel,
		deploy.Request{Options: o.Options, Rollback: o.Rollback, Prune: o.Prune, Cause: o.cause})
	if errors.Is(err, deploy.ErrSelection) {
		return nil, &UsageError{Err: err}
	}
	return reqs, inputError(err)
}

// deployer is the deploy the flags ask for, to the resolved target.
func (o *DeployOptions) deployer(reqs []deploy.Request) *deploy.Deployer {
	action := "deploy " + reqs[0].App
	switch {
	case o.Rollback:
		action = "roll back " + reqs[0].App
	case len(reqs) > 1:
		action = fmt.Sprintf("deploy %d apps (%s)", len(reqs), appList(reqs))
	}
	return &deploy.Deployer{
		Target:           o.target,
		Tooling:          "kubectl-envops/" + version.Get().Version,
		CreateNamespaces: o.CreateNamespace,
		Confirm:          func() error { return o.target.Confirm(o.IOStreams, o.Yes, action) },
		Warn:             func(app string, err error) { printLine(o.ErrOut, "warning: %s: %v", app, err) },
	}
}

func appList(reqs []deploy.Request) string {
	names := make([]string, len(reqs))
	for i, r := range reqs {
		names[i] = r.App
	}
	if len(names) > 5 {
		return strings.Join(names[:5], ", ") + ", ..."
	}
	return strings.Join(names, ", ")
}

// Run renders the apps, checks the cluster's environment and deploys.
func (o *DeployOptions) Run(ctx context.Context) error {
	ctx, stop := untilInterrupted(ctx)
	defer stop()

	reqs, err := o.requests()
	if err != nil {
		return err
	}
	d := o.deployer(reqs)
	if o.Diff {
		return o.diff(ctx, d, reqs)
	}
	out := newDeployPrinter(o.Out, o.output(), printers.IsTerminal(o.Out), o.several(), o.DryRun)
	d.Events, d.Done = out.Event, out.Result
	var hook *notify.Webhook
	if o.Notify != "" && o.DryRun == rollout.DryRunNone {
		if hook, err = notify.NewWebhook(o.Notify, notify.WebhookOptions{}); err != nil {
			return usageError("--notify: %v", err)
		}
		d.Events = func(e rollout.Event) { out.Event(e); hook.Event(e) }
	}
	var results []*deploy.Result
	if o.several() {
		if err := d.Preflight(ctx, o.Timeout, o.DryRun != rollout.DryRunNone); err != nil {
			return err
		}
		results = d.DeployMany(ctx, reqs, o.cfg.Needs, deploy.ManyOptions{Concurrency: o.Concurrency, FailFast: o.FailFast, Started: out.Started, Finished: out.Finished})
	} else {
		res := d.Deploy(ctx, reqs[0])
		out.Finished(res)
		results = []*deploy.Result{res}
	}
	out.Close(results)
	if hook != nil {
		if nerr := hook.Close(); nerr != nil {
			printLine(o.ErrOut, "warning: %v", nerr)
		}
	}
	if out.err != nil {
		return out.err
	}
	if !o.several() {
		err := results[0].Err
		if errors.Is(err, deploy.ErrNotPausable) {
			return &UsageError{Err: err}
		}
		if err == nil && results[0].Outcome == deploy.OutcomePaused {
			printLine(o.Out, "%s is paused with %d new pods available: run \"kubectl envops deploy %s --env %s --continue\" to finish, or \"kubectl envops deploy %s --env %s --rollback\" to undo",
				reqs[0].App, o.PauseAfter, reqs[0].App, o.Env, reqs[0].App, o.Env)
		}
		return err
	}
	return deploy.NewManyError(results, func(a, b error) bool { return ExitCode(a) > ExitCode(b) })
}

// errDifferences is the answer of a --diff that found differences: exit
// 1 with nothing more to say, as kubectl diff does.
var errDifferences = &SilentError{Code: ExitError}

// diff shows each app's differences, and says whether there were any.
func (o *DeployOptions) diff(ctx context.Context, d *deploy.Deployer, reqs []deploy.Request) error {
	any := false
	for _, r := range reqs {
		changed, err := d.Diff(ctx, r, o.IOStreams)
		if err != nil {
			return err
		}
		any = any || changed
	}
	if any {
		return errDifferences
	}
	return nil
}
