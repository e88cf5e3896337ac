package cmd

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/drift"
	"github.com/envops/kubectl-envops/pkg/fleet"
	"github.com/envops/kubectl-envops/pkg/render"
)

// StatusOptions holds the flags and resolved state of "kubectl envops status".
type StatusOptions struct {
	Apps        []string
	AllContexts bool
	Output      string
	Watch       bool
	Interval    time.Duration
	Timeout     time.Duration
	// Diff prints, after the table, every field that differs from the
	// overlays.
	Diff bool

	// Resolved by Complete.
	Config  *config.Config
	Targets []fleet.Target
	// NewClient builds a client for a context; tests replace it.
	NewClient fleet.NewClient
	// Overlays compares each app with its overlay; nil compares nothing.
	Overlays *fleet.Overlays
	// Now is the clock.
	Now func() time.Time

	print *outputFlags
	genericiooptions.IOStreams
}

var statusLong = templates.LongDesc(`
	Show which version of each app runs in every environment, at once: one row
	per environment of .envops.yaml (or per context with --all-contexts) and app,
	with the environment Secret's check (ok, unbound, another cluster, missing,
	or the environment it holds instead), the app's kind, image, ready/desired
	pods, rollout state (steady, updating, paused, failed, interrupted), whether
	it runs what its overlay renders (DRIFT: "in sync", or what differs), and who
	deployed it last, and when.

	Drift is the comparison deploy makes to call an app unchanged: every field
	the overlay sets (image, replicas, labels, volumes, ports, env...) must hold in
	the cluster, the overlay must not have changed since the last deploy, and no
	object of the app's set may be left that the overlay no longer renders. The
	overlay is rendered with the image its last deploy was given, so a promoted
	image is not drift; a change made by hand (kubectl scale, kubectl label) is.
	--diff prints every differing field.

	Clusters are asked in parallel, each within --timeout; a cluster that does not
	answer, or refuses, is a row that says so and never delays the others.

	Exit codes: 0 when every row is steady, healthy and in sync, 1 otherwise, 2
	usage error.`)

var statusExample = templates.Examples(`
	# Which version of every app runs where?
	kubectl envops status

	# One app, as JSON for a script
	kubectl envops status web -o json

	# The image each environment runs
	kubectl envops status web -o jsonpath='{range .items[*]}{.environment} {.images[0]}{"\n"}{end}'

	# Gate a pipeline on every environment being healthy and as its overlay says
	kubectl envops status web --timeout 5s && echo all steady

	# What differs from the overlays, field by field
	kubectl envops status --diff

	# Keep the table on screen, refreshed when something changes
	kubectl envops status web --watch`)

// NewCmdStatus builds "kubectl envops status". runF, when set, replaces Run.
func NewCmdStatus(g *Globals, runF func(*StatusOptions) error) *cobra.Command {
	o := &StatusOptions{IOStreams: g.Streams}
	cmd := &cobra.Command{
		Use:               "status [APP...] [--all-contexts] [-o FORMAT] [--watch]",
		Short:             "Show which version of each app runs in every environment, and whether it is healthy",
		Long:              statusLong,
		Example:           statusExample,
		ValidArgsFunction: appNameCompletion(g),
		RunE:              runOptions(g, o, runF),
	}
	f := cmd.Flags()
	f.BoolVar(&o.AllContexts, "all-contexts", false, "Ask every context of the kubeconfig instead of the environments of .envops.yaml")
	f.BoolVarP(&o.Watch, "watch", "w", false, "Keep running and print the table again whenever it changes")
	f.DurationVar(&o.Interval, "interval", 2*time.Second, "With --watch, how often to ask the clusters")
	f.DurationVar(&o.Timeout, "timeout", fleet.DefaultDeadline, "How long to wait for each cluster")
	f.BoolVar(&o.Diff, "diff", false, "After the table, print every field that differs from what the overlays render")
	o.output().addFlags(cmd, "Output format, default a table")
	return cmd
}

func (o *StatusOptions) output() *outputFlags { return outputOf(&o.print, &o.Output) }

// Complete loads the project file and the kubeconfig and lists the
// clusters and apps to ask about.
func (o *StatusOptions) Complete(g *Globals, _ *cobra.Command, args []string) error {
	o.Apps, o.Now = args, time.Now
	// A bad -o is reported before any file is read.
	if err := o.output().validate(); err != nil {
		return err
	}
	cfg, err := g.LoadConfig()
	if o.Config = cfg; err != nil {
		return err
	}
	if len(o.Apps) == 0 {
		if o.Apps, err = render.Apps(cfg); err != nil || len(o.Apps) == 0 {
			return usageError("name the apps to show (no app directories found in %s)", cfg.AppsDir())
		}
	}
	raw, err := g.rawKubeconfig()
	if err != nil {
		return err
	}
	if !o.AllContexts && len(cfg.Environments) == 0 {
		return usageError("no environments in %s: map each environment to its context there, or pass --all-contexts", config.FileName)
	}
	o.Targets = fleet.Targets(cfg, raw, o.AllContexts, *g.ConfigFlags.Namespace)
	o.NewClient = fleet.ContextClients(raw)
	o.Overlays = &fleet.Overlays{Config: cfg, Render: render.Options{NoRemote: !cfg.Kustomize.RemoteResources}, Dynamic: fleet.ContextDynamic(raw)}
	return nil
}

// Validate checks the flags without reading any file or cluster.
func (o *StatusOptions) Validate() error {
	if err := o.output().validate(); err != nil {
		return err
	}
	if o.Timeout <= 0 {
		return usageError("invalid --timeout %s: use a positive duration such as 10s", o.Timeout)
	}
	if o.Watch && o.Interval <= 0 {
		return usageError("invalid --interval %s: use a positive duration such as 2s", o.Interval)
	}
	if o.Watch && !o.output().isOwn() {
		return usageError("--watch prints a table: drop -o, or drop --watch and run status again")
	}
	if o.Diff && !o.output().isOwn() {
		return usageError("--diff prints the differences after the table; -o json already holds them under \"drifted\": drop one")
	}
	return nil
}

// Run prints the table once, or keeps printing it with --watch.
func (o *StatusOptions) Run(ctx context.Context) error {
	status := &fleet.Status{Apps: o.Apps, Secret: o.Config.Secret, Timeout: o.Timeout, Client: o.NewClient, Now: o.Now, Overlays: o.Overlays}
	if !o.Watch {
		rows := status.Collect(ctx, o.Targets)
		if err := o.printRows(o.Out, rows); err != nil {
			return err
		}
		if o.Diff {
			o.printDrift(rows)
		}
		return fleet.Healthy(rows)
	}
	ctx, stop := untilInterrupted(ctx)
	defer stop()
	var last []byte
	return status.Watch(ctx, o.Targets, o.Interval, func(rows []fleet.StatusRow) error {
		var buf bytes.Buffer
		if err := o.printRows(&buf, rows); err != nil || bytes.Equal(buf.Bytes(), last) {
			return err
		}
		fmt.Fprintln(o.Out, o.Now().UTC().Format(time.RFC3339))
		last = buf.Bytes()
		_, err := o.Out.Write(last)
		return err
	})
}

func (o *StatusOptions) printRows(out io.Writer, rows []fleet.StatusRow) error {
	if !o.output().isOwn() {
		if rows == nil {
			rows = []fleet.StatusRow{}
		}
		return o.output().printValue(out, rows)
	}
	now := o.Now()
	table := make([][]string, 0, len(rows))
	for _, r := range rows {
		ready, state := "-", r.State
		if r.Kind != "" {
			ready = fmt.Sprintf("%d/%d", r.Ready, r.Desired)
		}
		if r.Reason != "" {
			state += " (" + r.Reason + ")"
		}
		last := "-"
		if r.DeployedAt != nil {
			last = fmt.Sprintf("%s, %s ago", cmp.Or(r.DeployedBy, "-"), duration.HumanDuration(now.Sub(*r.DeployedAt)))
		}
		table = append(table, []string{cmp.Or(r.Environment, "-"), r.Context, cmp.Or(r.Secret, "-"), cmp.Or(r.App, "-"),
			cmp.Or(r.Kind, "-"), cmp.Or(strings.Join(r.Images, ","), "-"), ready, state, cmp.Or(r.Drift, "-"), last})
	}
	return printTable(out, []string{"ENVIRONMENT", "CONTEXT", "SECRET", "APP", "KIND", "IMAGE", "READY", "STATE", "DRIFT", "LAST DEPLOY"}, table)
}

// printDrift prints every object of every app that is not as its overlay
// renders it, field by field.
func (o *StatusOptions) printDrift(rows []fleet.StatusRow) {
	seen := map[string]bool{}
	for _, r := range rows {
		key := r.Context + "/" + r.Namespace + "/" + r.App
		if len(r.Drifted) == 0 || seen[key] {
			continue
		}
		seen[key] = true
		fmt.Fprintf(o.Out, "\n%s/%s (context %s, namespace %s):\n", cmp.Or(r.Environment, r.Context), r.App, r.Context, r.Namespace)
		for _, d := range r.Drifted {
			switch d.State {
			case drift.Differs:
				fmt.Fprintf(o.Out, "  %s:\n", d.Ref())
				for _, f := range d.Differences {
					if what := f.Meaning(); what != "" {
						fmt.Fprintf(o.Out, "    %s\n", what)
						continue
					}
					fmt.Fprintf(o.Out, "    %s: %s, overlay %s\n", f.Path, f.Live, f.Want)
				}
			case drift.Extra:
				fmt.Fprintf(o.Out, "  %s: not in the overlay (deploy prunes it)\n", d.Ref())
			case drift.Missing:
				fmt.Fprintf(o.Out, "  %s: missing (deploy creates it)\n", d.Ref())
			default:
				fmt.Fprintf(o.Out, "  %s: %s\n", d.Ref(), d.State)
			}
		}
	}
}
