package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/envops/kubectl-envops/pkg/audit"
)

// HistoryOptions holds the flags of "kubectl envops history".
type HistoryOptions struct {
	App    string
	Env    string
	Output string

	// Resolved by Complete.
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
	kubectl envops history web --env prod -o json`)

// NewCmdHistory builds "kubectl envops history". runF, when set, replaces
// Run so tests can inspect the parsed options.
func NewCmdHistory(g *Globals, runF func(*HistoryOptions) error) *cobra.Command {
	o := &HistoryOptions{IOStreams: g.Streams}
	cmd := &cobra.Command{
		Use:     "history APP [--env ENV]",
		Short:   "List who deployed an app, what and when, newest first",
		Long:    historyLong,
		Example: historyExample,
		Args:    exactArgs(1, "one app name"),
		RunE:    runOptions(g, o, runF),
	}
	cmd.Flags().StringVar(&o.Env, "env", "", "The environment whose cluster to read, as mapped in .envops.yaml (default: the current context)")
	o.output().addFlags(cmd, "Output format, default a table")
	_ = cmd.RegisterFlagCompletionFunc("env", environmentNameCompletion(g))
	return cmd
}

func (o *HistoryOptions) output() *outputFlags { return outputOf(&o.print, &o.Output) }

// Complete takes the app and resolves the cluster and namespace, through
// --env when given.
func (o *HistoryOptions) Complete(g *Globals, _ *cobra.Command, args []string) error {
	o.App = args[0]
	if err := o.output().validate(); err != nil {
		return err
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
	return o.output().validate()
}

// Run reads and prints the history.
func (o *HistoryOptions) Run(ctx context.Context) error {
	entries, err := audit.History(ctx, o.Client, o.Namespace, o.App, "app")
	if err != nil {
		return err
	}
	if !o.output().isOwn() {
		if entries == nil {
			entries = []audit.Entry{}
		}
		return o.output().printValue(o.Out, entries)
	}
	if len(entries) == 0 {
		fmt.Fprintf(o.ErrOut, "no deploys of app %q recorded in namespace %q\n", o.App, o.Namespace)
		return nil
	}
	rows := make([][]string, 0, len(entries))
	for _, e := range entries {
		rows = append(rows, []string{e.Time.UTC().Format(time.RFC3339), orNone(e.User), orNone(e.Environment), orNone(e.Image), e.Controller, orNone(e.Revision), orNone(e.Cause)})
	}
	return printTable(o.Out, []string{"DEPLOYED AT", "BY", "ENVIRONMENT", "IMAGE", "CONTROLLER", "REVISION", "CHANGE-CAUSE"}, rows)
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
