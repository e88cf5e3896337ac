package cmd

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/rbac"
	"github.com/envops/kubectl-envops/pkg/rollout"
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
	if ctx == nil {
		ctx = context.Background()
	}
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

// stampDeploy adds the audit record to each controller a deploy rolls out,
// with the controller's own image, and returns the records by controller.
func stampDeploy(controllers []*unstructured.Unstructured, r audit.Record) []audit.Record {
	out := make([]audit.Record, 0, len(controllers))
	for _, obj := range controllers {
		c := r
		if containers, ok, _ := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", "containers"); ok && len(containers) > 0 {
			if first, ok := containers[0].(map[string]any); ok {
				if image, ok := first["image"].(string); ok {
					c.Image = image
				}
			}
		}
		c.Stamp(obj)
		out = append(out, c)
	}
	return out
}

// recordDeploy writes one deploy Event per controller, so that history
// keeps the deploy after a later update replaces the controller. A failure
// is returned as a warning: the deploy itself has succeeded.
func recordDeploy(ctx context.Context, client kubernetes.Interface, app string, controllers []*unstructured.Unstructured, records []audit.Record, namespaceOf func(*unstructured.Unstructured) string) error {
	for i, obj := range controllers {
		ref := obj.DeepCopy()
		ref.SetNamespace(namespaceOf(obj))
		if err := audit.RecordDeploy(ctx, client, app, obj.GetKind(), ref, records[i]); err != nil {
			return err
		}
	}
	return nil
}

// deployTrail is the access check and audit record of one deploy run. A nil
// trail does nothing, so options built by hand in tests need none.
type deployTrail struct {
	client  kubernetes.Interface
	guard   func(ctx context.Context, namespace string, allNamespaces bool) (string, error)
	record  audit.Record
	records []audit.Record
}

// newDeployTrail prepares the trail of a deploy to env; given is the
// --change-cause (default: the command line).
func newDeployTrail(client kubernetes.Interface, cmd *cobra.Command, args []string, given, env string) *deployTrail {
	return &deployTrail{
		client: client,
		guard:  accessGuard(client, rbac.Deploy),
		record: audit.Record{Environment: env, Cause: changeCause(cmd, args, given)},
	}
}

// check refuses, before anything changes, when the user lacks a rule of
// the deploy role in one of the namespaces; then it stamps the audit
// record on the controllers. A client dry run only reads, so it is not
// checked.
func (t *deployTrail) check(ctx context.Context, namespaces []string, dryRun rollout.DryRun, controllers []*unstructured.Unstructured) error {
	if t == nil {
		return nil
	}
	if dryRun != rollout.DryRunClient {
		for _, ns := range namespaces {
			user, err := t.guard(ctx, ns, false)
			if err != nil {
				return err
			}
			t.record.User = user
		}
	}
	t.record.Time = time.Now()
	t.records = stampDeploy(controllers, t.record)
	return nil
}

// preview stamps the audit record a deploy would write, for --diff; it
// asks who the user is but checks no access.
func (t *deployTrail) preview(ctx context.Context, controllers []*unstructured.Unstructured) error {
	if t == nil {
		return nil
	}
	user, err := audit.WhoAmI(ctx, t.client)
	if err != nil {
		return err
	}
	t.record.User, t.record.Time = user, time.Now()
	stampDeploy(controllers, t.record)
	return nil
}

// done records a deploy that changed the cluster as Events; failing to do
// so is a warning, since the deploy itself succeeded.
func (t *deployTrail) done(ctx context.Context, warn io.Writer, app string, controllers []*unstructured.Unstructured, namespaceOf func(*unstructured.Unstructured) string) {
	if t == nil || len(t.records) != len(controllers) {
		return
	}
	if err := recordDeploy(ctx, t.client, app, controllers, t.records, namespaceOf); err != nil {
		fmt.Fprintf(warn, "warning: %v\n", err)
	}
}
