package cmd

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/render"
)

// HistoryOptions holds the flags of "kubectl envops history".
type HistoryOptions struct {
	App string
	Env string
	// Selector chooses the apps by the labels their overlays render,
	// instead of App.
	Selector  string
	Output    string
	NoHeaders bool

	// Resolved by Complete.
	// Apps are the apps -l chose (App alone without -l).
	Apps      []string
	Context   string
	Namespace string
	Client    kubernetes.Interface

	print *outputFlags
	genericiooptions.IOStreams
}

var historyLong = templates.LongDesc(`
	List the past deploys of an app, newest first: who deployed which image to
	which environment, when, and why. The records come from the annotations the
	plugin writes on the app's controllers (envops.io/deployed-by and friends),
	from the ReplicaSets that keep a Deployment's old revisions, and from the
	Events each deploy records (which the cluster keeps for about an hour).`)

var historyExample = templates.Examples(`
	# Who deployed web to the current namespace, and when
	kubectl envops history web

	# The same in the prod environment, as JSON
	kubectl envops history web --env prod -o json

	# Every frontend app's deploys to prod, newest first
	kubectl envops history -l tier=frontend --env prod`)

// NewCmdHistory builds "kubectl envops history". runF, when set, replaces
// Run so tests can inspect the parsed options.
func NewCmdHistory(g *Globals, runF func(*HistoryOptions) error) *cobra.Command {
	o := &HistoryOptions{IOStreams: g.Streams}
	cmd := &cobra.Command{
		Use:     "history (APP | -l SELECTOR) [--env ENV]",
		Short:   "List who deployed an app, what and when, newest first",
		Long:    historyLong,
		Example: historyExample,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 || len(args) == 0 && o.Selector == "" {
				return usageError("history takes exactly one app name, or -l SELECTOR; see '%s --help'", cmd.CommandPath())
			}
			return nil
		},
		RunE: runOptions(g, o, runF),
	}
	cmd.Flags().StringVar(&o.Env, "env", "", "The environment whose cluster to read, as mapped in .envops.yaml (default: the current context)")
	addSelectorFlag(cmd, &o.Selector, "the apps whose controllers, as their overlays render them (for --env, else for any environment), carry these labels")
	o.output().addFlags(cmd, "Output format, default a table")
	_ = cmd.RegisterFlagCompletionFunc("env", environmentNameCompletion(g))
	return cmd
}

func (o *HistoryOptions) output() *outputFlags {
	return outputOf(&o.print, &o.Output).withTable(&o.NoHeaders)
}

// Complete takes the app, or the apps -l chooses, and resolves the cluster
// and namespace, through --env when given.
func (o *HistoryOptions) Complete(g *Globals, _ *cobra.Command, args []string) error {
	if len(args) == 1 {
		o.App = args[0]
	}
	if err := o.Validate(); err != nil {
		return err
	}
	o.Apps = []string{o.App}
	if o.Selector != "" {
		cfg, err := g.LoadConfig()
		if err != nil {
			return err
		}
		var envs []string
		if o.Env != "" {
			envs = []string{o.Env}
		}
		if o.Apps, err = selectApps(cfg, o.Selector, envs, render.Options{NoRemote: !cfg.Kustomize.RemoteResources}); err != nil {
			return err
		}
		if len(o.Apps) == 0 {
			return inputError(fmt.Errorf("no app in %s renders a controller with labels %s", cfg.AppsDir(), o.Selector))
		}
	}
	if o.Env != "" {
		t, err := g.target(o.Env)
		if err != nil {
			return err
		}
		o.Context, o.Namespace, o.Client = t.Context, t.Namespace, t.Client
		return nil
	}
	var err error
	o.Namespace, o.Client, err = g.currentTarget()
	return err
}

// Validate checks the command line.
func (o *HistoryOptions) Validate() error {
	if o.Selector != "" {
		if _, err := parseSelector(o.Selector); err != nil {
			return err
		}
		if o.App != "" {
			return usageError("-l chooses the apps by their labels: name one app or give -l, not both")
		}
	}
	return o.output().validate()
}

// historyEntry is one deploy of one app.
type historyEntry struct {
	App string `json:"app"`
	audit.Entry
}

// Run reads and prints the history of each app, newest first.
func (o *HistoryOptions) Run(ctx context.Context) error {
	apps := o.Apps
	if len(apps) == 0 {
		apps = []string{o.App}
	}
	entries := []historyEntry{}
	for _, app := range apps {
		found, err := audit.History(ctx, o.Client, o.Namespace, app, "app")
		if err != nil {
			return err
		}
		for _, e := range found {
			entries = append(entries, historyEntry{App: app, Entry: e})
		}
	}
	// Each app's history is newest first already; the merge keeps that
	// order among equal times.
	slices.SortStableFunc(entries, func(a, b historyEntry) int { return b.Time.Compare(a.Time) })
	if !o.output().isOwn() {
		return o.output().printValue(o.Out, entries)
	}
	if len(entries) == 0 {
		what := fmt.Sprintf("app %q", o.App)
		if o.Selector != "" {
			what = fmt.Sprintf("the apps %s (-l %s)", strings.Join(apps, ", "), o.Selector)
		}
		fmt.Fprintf(o.ErrOut, "no deploys of %s recorded in namespace %q\n", what, o.Namespace)
		return nil
	}
	rows := make([][]string, 0, len(entries))
	for _, e := range entries {
		rows = append(rows, historyCells(e))
	}
	return o.output().printTable(o.Out, historyColumns, rows)
}

// historyColumns are the columns of the history table, historyCells one
// row of them; the wide ones show with -o wide.
var historyColumns = []column{
	{Name: "DEPLOYED AT"}, {Name: "APP"}, {Name: "BY"}, {Name: "ENVIRONMENT"}, {Name: "IMAGE"}, {Name: "CONTROLLER"},
	{Name: "NAMESPACE", Wide: true}, {Name: "REVISION"}, {Name: "SOURCE", Wide: true}, {Name: "CHANGE-CAUSE"},
}

func historyCells(e historyEntry) []string {
	return []string{e.Time.UTC().Format(time.RFC3339), e.App, orNone(e.User), orNone(e.Environment), orNone(e.Image), e.Controller,
		orNone(e.Namespace), orNone(e.Revision), orNone(e.Source), orNone(e.Cause)}
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
