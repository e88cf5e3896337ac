package cmd

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"reflect"
	"slices"
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
	// Selector chooses the apps by the labels their overlays render.
	Selector  string
	Output    string
	NoHeaders bool
	Watch     bool
	Interval  time.Duration
	Timeout   time.Duration
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
	the environment it holds instead, or "no namespace" and "terminating" for a
	namespace that is not there or is being deleted), the app's kind, image, ready/desired
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

	Exit codes: 0 when every row is steady and healthy, 1 otherwise, 2 usage error.`)

var statusExample = templates.Examples(`
	# Which version of every app runs where?
	kubectl envops status

	# The frontend apps only, with their namespaces and controllers
	kubectl envops status -l tier=frontend -o wide

	# One app, as JSON for a script
	kubectl envops status web -o json

	# The image each environment runs
	kubectl envops status web -o jsonpath='{range .items[*]}{.environment} {.images[0]}{"\n"}{end}'

	# Gate a pipeline on every environment being healthy and as its overlay says
	kubectl envops status web --timeout 5s && echo all steady

	# What differs from the overlays, field by field
	kubectl envops status --diff

	# Keep asking, and print each row again when its data changes
	kubectl envops status web -w`)

// NewCmdStatus builds "kubectl envops status". runF, when set, replaces Run.
func NewCmdStatus(g *Globals, runF func(*StatusOptions) error) *cobra.Command {
	o := &StatusOptions{IOStreams: g.Streams}
	cmd := &cobra.Command{
		Use:               "status [APP... | -l SELECTOR] [--all-contexts] [-o FORMAT] [--watch]",
		Short:             "Show which version of each app runs in every environment, and whether it is healthy",
		Long:              statusLong,
		Example:           statusExample,
		ValidArgsFunction: appNameCompletion(g),
		RunE:              runOptions(g, o, runF),
	}
	f := cmd.Flags()
	f.BoolVar(&o.AllContexts, "all-contexts", false, "Ask every context of the kubeconfig instead of the environments of .envops.yaml")
	f.BoolVarP(&o.Watch, "watch", "w", false, "Keep asking every --interval; after the table, print only the rows whose data changed, as kubectl get --watch does")
	f.DurationVar(&o.Interval, "interval", 2*time.Second, "With --watch, how often to ask the clusters")
	f.DurationVar(&o.Timeout, "timeout", fleet.DefaultDeadline, "How long to wait for each cluster")
	f.BoolVar(&o.Diff, "diff", false, "After the table, print every field that differs from what the overlays render")
	addSelectorFlag(cmd, &o.Selector, "the apps whose controllers, as their overlays render them, carry these labels")
	o.output().addFlags(cmd, "Output format, default a table")
	return cmd
}

func (o *StatusOptions) output() *outputFlags {
	return outputOf(&o.print, &o.Output).withTable(&o.NoHeaders)
}

// Complete loads the project file and the kubeconfig and lists the
// clusters and apps to ask about.
func (o *StatusOptions) Complete(g *Globals, _ *cobra.Command, args []string) error {
	o.Apps, o.Now = args, time.Now
	// A bad -o is reported before any file is read.
	if err := o.output().validate(); err != nil {
		return err
	}
	if err := o.checkSelector(); err != nil {
		return err
	}
	cfg, err := g.LoadConfig()
	if o.Config = cfg; err != nil {
		return err
	}
	raw, err := g.rawKubeconfig()
	if err != nil {
		return err
	}
	if !o.AllContexts && len(cfg.Environments) == 0 {
		return usageError("no environments in %s: map each environment to its context there, or pass --all-contexts", config.FileName)
	}
	o.Targets = fleet.Targets(cfg, raw, o.AllContexts, *g.ConfigFlags.Namespace)
	switch {
	case o.Selector != "":
		if o.Apps, err = selectApps(cfg, o.Selector, targetEnvs(o.Targets), render.Options{NoRemote: !cfg.Kustomize.RemoteResources}); err != nil {
			return err
		}
		if len(o.Apps) == 0 {
			return inputError(fmt.Errorf("no app in %s renders a controller with labels %s", cfg.AppsDir(), o.Selector))
		}
	case len(o.Apps) == 0:
		if o.Apps, err = render.Apps(cfg); err != nil || len(o.Apps) == 0 {
			return usageError("name the apps to show (no app directories found in %s)", cfg.AppsDir())
		}
	}
	o.NewClient = fleet.ContextClients(raw)
	o.Overlays = &fleet.Overlays{Config: cfg, Render: render.Options{NoRemote: !cfg.Kustomize.RemoteResources}, Dynamic: fleet.ContextDynamic(raw)}
	return nil
}

// targetEnvs lists the environments of targets, each once.
func targetEnvs(targets []fleet.Target) []string {
	var envs []string
	for _, t := range targets {
		if t.Env != "" && !slices.Contains(envs, t.Env) {
			envs = append(envs, t.Env)
		}
	}
	return envs
}

// checkSelector refuses a bad -l, or -l beside app names.
func (o *StatusOptions) checkSelector() error {
	if o.Selector == "" {
		return nil
	}
	if _, err := parseSelector(o.Selector); err != nil {
		return err
	}
	if len(o.Apps) > 0 {
		return usageError("-l chooses the apps by their labels: name the apps or give -l, not both")
	}
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
	// The apps are chosen by now: -l is checked for its syntax alone.
	if _, err := parseSelector(o.Selector); err != nil {
		return err
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
	w := &statusWatch{o: o}
	return status.Watch(ctx, o.Targets, o.Interval, w.show)
}

// statusWatch prints the table once, then, as kubectl get --watch does,
// only the rows whose data changed: a relative time that grew ("19s ago",
// "21s ago") is no change.
type statusWatch struct {
	o       *StatusOptions
	printed bool
	last    map[string]fleet.StatusRow
}

// rowKey names what a row is about: a controller of an app in a cluster,
// or the cluster itself when it could not be read.
func rowKey(r fleet.StatusRow) string {
	return strings.Join([]string{r.Context, r.Namespace, r.App, r.Kind, r.Name}, "/")
}

func (w *statusWatch) show(rows []fleet.StatusRow) error {
	seen := make(map[string]fleet.StatusRow, len(rows))
	var changed []int
	for i, r := range rows {
		k := rowKey(r)
		seen[k] = r
		if old, ok := w.last[k]; !ok || !reflect.DeepEqual(old, r) {
			changed = append(changed, i)
		}
	}
	// A controller that went away from a cluster that still answers is
	// printed once more, as gone.
	answered := map[string]bool{}
	for _, r := range rows {
		if r.App != "" {
			answered[r.Context] = true
		}
	}
	for k, old := range w.last {
		if _, ok := seen[k]; !ok && old.Kind != "" && answered[old.Context] {
			gone := old
			gone.State, gone.Reason, gone.Ready, gone.OK = "gone", "", 0, false
			changed = append(changed, len(rows))
			rows = append(rows, gone)
		}
	}
	w.last = seen
	if w.printed && len(changed) == 0 {
		return nil
	}
	// The whole table is laid out so that the rows printed line up with
	// those printed before, as long as the widths allow.
	var buf bytes.Buffer
	opts := w.o.output().tableOptions()
	opts.NoHeaders = false
	if err := writeTable(&buf, statusColumns, w.o.cells(rows), opts); err != nil {
		return err
	}
	lines := strings.SplitAfter(buf.String(), "\n")
	var out strings.Builder
	if !w.printed {
		if !w.o.NoHeaders {
			out.WriteString(lines[0])
		}
		changed = changed[:0]
		for i := range rows {
			changed = append(changed, i)
		}
	}
	slices.Sort(changed)
	for _, i := range changed {
		out.WriteString(lines[i+1])
	}
	w.printed = true
	_, err := io.WriteString(w.o.Out, out.String())
	return err
}

func (o *StatusOptions) printRows(out io.Writer, rows []fleet.StatusRow) error {
	if !o.output().isOwn() {
		if rows == nil {
			rows = []fleet.StatusRow{}
		}
		return o.output().printValue(out, rows)
	}
	return o.output().printTable(out, statusColumns, o.cells(rows))
}

// cells are the rows of the status table, dated now.
func (o *StatusOptions) cells(rows []fleet.StatusRow) [][]string {
	now := o.Now()
	table := make([][]string, 0, len(rows))
	for _, r := range rows {
		table = append(table, statusCells(r, now))
	}
	return table
}

// statusColumns are the columns of the status table; statusCells fills
// one row of them. The wide columns show with -o wide.
var statusColumns = []column{
	{Name: "ENVIRONMENT"}, {Name: "CONTEXT"}, {Name: "NAMESPACE", Wide: true}, {Name: "SECRET"}, {Name: "APP"},
	{Name: "KIND"}, {Name: "NAME", Wide: true}, {Name: "IMAGE"}, {Name: "READY"}, {Name: "STATE"},
	{Name: "DRIFT"}, {Name: "LAST DEPLOY"}, {Name: "DEPLOYED AT", Wide: true},
}

// statusCells is one row of the status table; now dates the last deploy.
func statusCells(r fleet.StatusRow, now time.Time) []string {
	ready, state := "-", r.State
	if r.Kind != "" {
		ready = fmt.Sprintf("%d/%d", r.Ready, r.Desired)
	}
	if r.Reason != "" {
		state += " (" + r.Reason + ")"
	}
	last, at := "-", "-"
	if r.DeployedAt != nil {
		last = fmt.Sprintf("%s, %s ago", cmp.Or(r.DeployedBy, "-"), duration.HumanDuration(now.Sub(*r.DeployedAt)))
		at = r.DeployedAt.UTC().Format(time.RFC3339)
	}
	return []string{cmp.Or(r.Environment, "-"), r.Context, cmp.Or(r.Namespace, "-"), cmp.Or(r.Secret, "-"), cmp.Or(r.App, "-"),
		cmp.Or(r.Kind, "-"), cmp.Or(r.Name, "-"), cmp.Or(strings.Join(r.Images, ","), "-"), ready, state, cmp.Or(r.Drift, "-"), last, at}
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
