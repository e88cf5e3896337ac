package cmd

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/fleet"
	"github.com/envops/kubectl-envops/pkg/top"
)

// TopOptions holds the flags and resolved state of "kubectl envops top".
type TopOptions struct {
	Apps            []string
	By              string
	SortBy          string
	Selector        string
	AllNamespaces   bool
	Env             string
	AllEnvironments bool
	Output          string
	Watch           bool
	Interval        time.Duration
	Timeout         time.Duration

	// Resolved by Complete.
	by       []string
	sortBy   top.SortBy
	selector string
	Targets  []fleet.Target
	// NewClients builds the clients of a context; tests replace it.
	NewClients top.NewClients
	// Now is the clock of --watch's time stamps.
	Now func() time.Time

	print *outputFlags
	genericiooptions.IOStreams
}

var topLong = templates.LongDesc(`
	Show the CPU and memory that pods use, summed by the labels of the
	convention: per tier, app, role or language (--by), or any combination
	(--by tier,language). The figures come from the metrics API
	(metrics.k8s.io, served by metrics-server), as for "kubectl top pods".

	Pods that lack a label of the grouping are summed under "(no tier)" and the
	like, so the cost of not following the convention shows. Where pods set
	requests, use is also shown against them ("42% of 600m"), over the pods that
	set them ("(2/3 pods)" when not all do).

	Without --env the current context is measured. --env ENV[,ENV...] measures
	the environments of .envops.yaml, --all-environments every one of them; the
	clusters are asked in parallel, each within --timeout, and one that does not
	answer or serves no metrics API is named in one line without holding up the
	others. Running pods that the metrics API does not report yet (a new pod
	shows after one or two scrapes) are counted in a note.

	Exit codes: 0 when every cluster was measured, 1 when one could not be (no
	answer, no metrics API, refused), 2 usage error.`)

var topExample = templates.Examples(`
	# CPU and memory per tier in the current context's namespace
	kubectl envops top --by tier

	# Per tier and language, every namespace, every environment
	kubectl envops top --by tier,language -A --all-environments

	# The apps web and api per language, the largest memory first
	kubectl envops top web api --by language --sort-by memory --env prod

	# As JSON, for a script
	kubectl envops top --by tier -o json

	# Keep the table on screen, printed again when it changes
	kubectl envops top --by tier -w`)

// NewCmdTop builds "kubectl envops top". runF, when set, replaces Run.
func NewCmdTop(g *Globals, runF func(*TopOptions) error) *cobra.Command {
	o := &TopOptions{IOStreams: g.Streams}
	cmd := &cobra.Command{
		Use:               "top [APP...] [--by LABEL[,LABEL...]] [--env ENV[,ENV...] | --all-environments] [-l SELECTOR] [-A] [--sort-by cpu|memory] [-o FORMAT] [-w]",
		Short:             "Show CPU and memory use summed by tier, app, role or language, across environments",
		Long:              topLong,
		Example:           topExample,
		ValidArgsFunction: appNameCompletion(g),
		RunE:              runOptions(g, o, runF),
	}
	f := cmd.Flags()
	f.StringVar(&o.By, "by", "app", "Labels to group pods by, comma-separated, e.g. tier or tier,language")
	f.StringVar(&o.SortBy, "sort-by", "", "Order groups by cpu or memory, largest first (default: by label values)")
	f.StringVarP(&o.Selector, "selector", "l", "", "Only pods matching this label selector, as in kubectl (e.g. -l tier=backend)")
	f.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "Measure pods in every namespace")
	f.StringVar(&o.Env, "env", "", "Measure these environments of .envops.yaml (comma-separated) instead of the current context")
	f.BoolVar(&o.AllEnvironments, "all-environments", false, "Measure every environment of .envops.yaml")
	f.BoolVarP(&o.Watch, "watch", "w", false, "Keep running and print the table again whenever it changes")
	f.DurationVar(&o.Interval, "interval", 10*time.Second, "With --watch, how often to ask the clusters")
	f.DurationVar(&o.Timeout, "timeout", fleet.DefaultDeadline, "How long to wait for each cluster")
	o.output().addFlags(cmd, "Output format, default a table")
	_ = cmd.RegisterFlagCompletionFunc("by", labelListCompletion(g))
	_ = cmd.RegisterFlagCompletionFunc("sort-by", cobra.FixedCompletions(top.SortByNames, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("env", environmentListCompletion(g))
	return cmd
}

func (o *TopOptions) output() *outputFlags { return outputOf(&o.print, &o.Output) }

// Complete parses the flags, loads the project file and the kubeconfig, and
// lists the clusters to measure.
func (o *TopOptions) Complete(g *Globals, _ *cobra.Command, args []string) error {
	o.Apps, o.Now = args, time.Now
	o.by = splitList(o.By)
	var err error
	if o.sortBy, err = top.ParseSortBy(o.SortBy); err != nil {
		return usageError("--sort-by: %v", err)
	}
	if o.selector, err = appSelector(o.Selector, o.Apps); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	cfg, err := g.LoadConfig()
	if err != nil {
		return err
	}
	raw, err := g.rawKubeconfig()
	if err != nil {
		return err
	}
	if o.Env == "" && !o.AllEnvironments {
		// The current context, with every kubectl flag (--as, --token...)
		// honoured, as kubectl top would.
		var kubeContext string
		if raw, err = g.kubeconfig(&kubeContext); err != nil {
			return err
		}
		ns, _, err := g.namespace()
		if err != nil {
			return err
		}
		o.Targets = []fleet.Target{{Env: envOfContext(cfg, kubeContext), Context: kubeContext, Namespace: ns}}
		rc, err := g.Factory.ToRESTConfig()
		if err != nil {
			return inputError(fmt.Errorf("cannot load kubeconfig: %w", err))
		}
		o.NewClients = top.ConfigClients(func(_ string, timeout time.Duration) (*rest.Config, error) {
			return fleet.WithDeadline(rc, timeout), nil
		})
		return nil
	}
	if len(cfg.Environments) == 0 {
		return usageError("no environments in %s: map each environment to its context there, or leave out --env and --all-environments to measure the current context", config.FileName)
	}
	all := fleet.Targets(cfg, raw, false, *g.ConfigFlags.Namespace)
	if o.AllEnvironments {
		o.Targets = all
	} else {
		for _, env := range splitList(o.Env) {
			if _, err := cfg.Environment(env); err != nil {
				return err
			}
			i := slices.IndexFunc(all, func(t fleet.Target) bool { return t.Env == env })
			o.Targets = append(o.Targets, all[i])
		}
	}
	o.NewClients = top.ConfigClients(fleet.ContextConfigs(raw))
	return nil
}

// Validate checks the flags without reading any file or cluster.
func (o *TopOptions) Validate() error {
	if err := top.ValidateBy(o.by); err != nil {
		return usageError("%v", err)
	}
	if err := o.output().validate(); err != nil {
		return err
	}
	if o.Env != "" && o.AllEnvironments {
		return usageError("give either --env or --all-environments, not both")
	}
	if o.Timeout <= 0 {
		return usageError("invalid --timeout %s: use a positive duration such as 10s", o.Timeout)
	}
	if o.Watch && o.Interval <= 0 {
		return usageError("invalid --interval %s: use a positive duration such as 10s", o.Interval)
	}
	if o.Watch && !o.output().isOwn() {
		return usageError("--watch prints a table: drop -o, or drop --watch and run top again")
	}
	return nil
}

// Run measures every target once and prints the table, or keeps printing
// it with --watch.
func (o *TopOptions) Run(ctx context.Context) error {
	req := top.Request{By: o.by, Selector: o.selector, AllNamespaces: o.AllNamespaces, SortBy: o.sortBy, Timeout: o.Timeout, Clients: o.NewClients}
	if !o.Watch {
		results := top.Collect(ctx, o.Targets, req)
		if err := o.printResults(o.Out, results); err != nil {
			return err
		}
		o.notes(o.ErrOut, results)
		return o.failures(results)
	}
	ctx, stop := untilInterrupted(ctx)
	defer stop()
	var last []byte
	return top.Watch(ctx, o.Targets, req, o.Interval, func(results []top.Result) error {
		var buf bytes.Buffer
		if err := o.printResults(&buf, results); err != nil {
			return err
		}
		o.notes(&buf, results)
		for _, r := range results {
			if r.Err != nil {
				fmt.Fprintf(&buf, "error: %s: %s\n", o.where(r), fleet.Reason(r.Err, o.Timeout))
			}
		}
		if bytes.Equal(buf.Bytes(), last) {
			return nil
		}
		last = buf.Bytes()
		fmt.Fprintln(o.Out, o.Now().UTC().Format(time.RFC3339))
		_, err := o.Out.Write(last)
		return err
	})
}

// printResults writes the table, or the rows through -o.
func (o *TopOptions) printResults(out io.Writer, results []top.Result) error {
	if !o.output().isOwn() {
		return o.output().printValue(out, top.Rows(results, o.Timeout))
	}
	many := len(o.Targets) > 1
	var header []string
	if many {
		header = append(header, "ENVIRONMENT")
	}
	for _, l := range o.by {
		header = append(header, strings.ToUpper(l))
	}
	header = append(header, "PODS", "CPU", "CPU/REQUESTS", "MEMORY", "MEMORY/REQUESTS")
	var rows [][]string
	for _, r := range results {
		for _, g := range r.Groups {
			var row []string
			if many {
				row = append(row, cmp.Or(r.Target.Env, r.Target.Context))
			}
			row = append(row, g.Values(o.by)...)
			row = append(row, fmt.Sprint(g.Pods),
				top.FormatCPU(g.CPU), ofRequests(g.CPURequests, g.Pods, top.FormatCPU),
				top.FormatMemory(g.Memory), ofRequests(g.MemoryRequests, g.Pods, top.FormatMemory))
			rows = append(rows, row)
		}
	}
	if len(rows) == 0 {
		return nil
	}
	return printTable(out, header, rows)
}

// ofRequests shows use against requests: "42% of 600m", with the share of
// pods that set one when not all do; "-" when none does.
func ofRequests(r top.Requests, pods int, format func(int64) string) string {
	pct, ok := r.Percent()
	if !ok {
		return "-"
	}
	s := fmt.Sprintf("%d%% of %s", pct, format(r.Requested))
	if r.Pods < pods {
		s += fmt.Sprintf(" (%d/%d pods)", r.Pods, pods)
	}
	return s
}

// notes tells of clusters where nothing matched and of running pods
// without metrics yet.
func (o *TopOptions) notes(w io.Writer, results []top.Result) {
	for _, r := range results {
		if r.Err != nil {
			continue
		}
		if len(r.Groups) == 0 && len(r.Unmeasured) == 0 {
			fmt.Fprintf(w, "note: %s: no pods matched in %s\n", o.where(r), namespaceOf(r.Namespace))
		}
		if n := len(r.Unmeasured); n > 0 {
			shown := r.Unmeasured
			if n > 3 {
				shown = append(slices.Clone(shown[:3]), "...")
			}
			pods := "running pods have no metrics yet and are"
			if n == 1 {
				pods = "running pod has no metrics yet and is"
			}
			fmt.Fprintf(w, "note: %s: %d %s not counted (metrics-server reports a new pod after one or two scrapes): %s\n",
				o.where(r), n, pods, strings.Join(shown, ", "))
		}
	}
}

// failures is nil when every cluster was measured; else one line for the
// cluster that was not, or one line each on the error stream and a count.
func (o *TopOptions) failures(results []top.Result) error {
	var failed []string
	for _, r := range results {
		if r.Err != nil {
			failed = append(failed, fmt.Sprintf("%s: %s", o.where(r), fleet.Reason(r.Err, o.Timeout)))
		}
	}
	switch len(failed) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("%s", failed[0])
	}
	for _, f := range failed {
		fmt.Fprintf(o.ErrOut, "error: %s\n", f)
	}
	return fmt.Errorf("%d of %d clusters could not be measured", len(failed), len(results))
}

// where names a result's cluster: its environment and context.
func (o *TopOptions) where(r top.Result) string {
	if r.Target.Env == "" {
		return fmt.Sprintf("context %q", r.Target.Context)
	}
	return fmt.Sprintf("environment %s (context %q)", r.Target.Env, r.Target.Context)
}

func namespaceOf(ns string) string {
	if ns == "" {
		return "any namespace"
	}
	return fmt.Sprintf("namespace %q", ns)
}

// envOfContext is the environment .envops.yaml maps to a context, or "".
func envOfContext(cfg *config.Config, kubeContext string) string {
	for _, env := range cfg.EnvironmentNames() {
		if cfg.Environments[env].Context == kubeContext {
			return env
		}
	}
	return ""
}

// appSelector joins -l and the app names given as arguments into one label
// selector.
func appSelector(selector string, apps []string) (string, error) {
	sel, err := labels.Parse(selector)
	if err != nil {
		return "", usageError("invalid --selector %q: %s", selector, oneLine(err.Error()))
	}
	if len(apps) > 0 {
		req, err := labels.NewRequirement("app", selection.In, apps)
		if err != nil {
			return "", usageError("invalid app name: %s", oneLine(err.Error()))
		}
		sel = sel.Add(*req)
	}
	return sel.String(), nil
}

// splitList reads a comma-separated flag value, without empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// labelListCompletion offers the convention's labels for a comma-separated
// list: after "tier,", the others, each following it.
func labelListCompletion(g *Globals) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		cfg, err := g.LoadConfig()
		if err != nil {
			cfg = config.Default()
		}
		names := append(slices.Clone(cfg.Labels.Required), cfg.Labels.Optional...)
		return listItems(names, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}
