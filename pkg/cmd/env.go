package cmd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/environment"
	"github.com/envops/kubectl-envops/pkg/fleet"
	"github.com/envops/kubectl-envops/pkg/text"
)

// EnvOptions holds the flags and resolved state of "kubectl envops env".
type EnvOptions struct {
	AllContexts bool
	Output      string
	NoHeaders   bool
	Timeout     time.Duration

	// Resolved by Complete.
	Config    *config.Config
	Raw       clientcmdapi.Config
	Context   string
	Namespace string
	// NewClient builds a client for a context of Raw; tests replace it.
	NewClient fleet.NewClient

	print *outputFlags
	genericiooptions.IOStreams
}

var envLong = templates.LongDesc(`
	Print the environment a cluster serves, as declared by its environment Secret:
	the value in the current namespace, where it was read from, and whether other
	namespaces disagree or lack the Secret.

	With --all-contexts every context of the kubeconfig is asked at once, each with
	its own timeout; unreachable clusters are reported in the table, not fatal.`)

var envExample = templates.Examples(`
	# Which environment is the current context?
	kubectl envops env

	# Which environment does each context of my kubeconfig serve?
	kubectl envops env --all-contexts

	# The same, with each context's server and the environment .envops.yaml expects
	kubectl envops env --all-contexts -o wide

	# The same, for scripts
	kubectl envops env --all-contexts -o json

	# Just the environment's name
	kubectl envops env -o jsonpath='{.environment}'`)

// NewCmdEnv builds "kubectl envops env". runF, when set, replaces Run so
// tests can inspect the parsed options.
func NewCmdEnv(g *Globals, runF func(*EnvOptions) error) *cobra.Command {
	o := &EnvOptions{IOStreams: g.Streams}
	cmd := &cobra.Command{
		Use:     "env",
		Short:   "Print the environment the current context (or every context) serves",
		Long:    envLong,
		Example: envExample,
		Args:    cobra.NoArgs,
		RunE:    runOptions(g, o, runF),
	}
	cmd.Flags().BoolVar(&o.AllContexts, "all-contexts", false, "Ask every context of the kubeconfig, concurrently, and print a table")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 10*time.Second, "How long to wait for each cluster")
	o.output().addFlags(cmd, "Output format, default text (a table with --all-contexts)")
	return cmd
}

func (o *EnvOptions) output() *outputFlags {
	return outputOf(&o.print, &o.Output).withTable(&o.NoHeaders)
}

// Complete loads the project file and the kubeconfig.
func (o *EnvOptions) Complete(g *Globals, _ *cobra.Command, _ []string) error {
	if err := o.output().validate(); err != nil {
		return err
	}
	cfg, err := g.LoadConfig()
	if err != nil {
		return err
	}
	o.Config = cfg
	if o.Raw, err = g.kubeconfig(&o.Context); err != nil {
		return err
	}
	if o.AllContexts {
		if len(o.Raw.Contexts) == 0 {
			return inputError(errors.New("your kubeconfig has no contexts: add one, or point --kubeconfig at another file"))
		}
		o.NewClient = fleet.ContextClients(o.Raw)
		return nil
	}
	if o.Context == "" {
		return inputError(errors.New("no current context in your kubeconfig: pass --context, or set one with \"kubectl config use-context\""))
	}
	if o.Namespace, _, err = g.namespace(); err != nil {
		return err
	}
	o.NewClient = func(string, time.Duration) (kubernetes.Interface, error) {
		// The factory honours every global flag (--as, --token, --server, ...).
		return g.Factory.KubernetesClientSet()
	}
	return nil
}

// Validate checks the flags without touching the cluster.
func (o *EnvOptions) Validate() error {
	if err := o.output().validate(); err != nil {
		return err
	}
	if o.Timeout <= 0 {
		return usageError("--timeout must be positive, such as 5s")
	}
	return nil
}

// Run prints the report of the current context, or the table of all.
func (o *EnvOptions) Run(ctx context.Context) error {
	if o.AllContexts {
		rows := fleet.Environments(ctx, o.Config, o.Raw, o.Context, o.Timeout, o.NewClient)
		if !o.output().isOwn() {
			return o.output().printValue(o.Out, rows)
		}
		table := make([][]string, 0, len(rows))
		for _, r := range rows {
			table = append(table, o.contextCells(r))
		}
		return o.output().printTable(o.Out, contextColumns, table)
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	client, err := o.NewClient(o.Context, o.Timeout)
	if err != nil {
		return fmt.Errorf("context %q: %w", o.Context, err)
	}
	r, err := environment.Inspect(ctx, client, o.Namespace, o.Config.Secret)
	if err != nil {
		return fmt.Errorf("context %q: %w", o.Context, fleet.Brief(err, o.Timeout))
	}
	cluster := ""
	if c, ok := o.Raw.Contexts[o.Context]; ok {
		cluster = c.Cluster
	}
	v, err := environment.NewView(r, o.Context, cluster, o.Config.Secret)
	if err != nil {
		return err
	}
	if !o.output().isOwn() {
		return o.output().printValue(o.Out, v)
	}
	return printPairs(o.Out, [][]string{
		{"environment:", cmp.Or(v.Environment, "(ambiguous: namespaces disagree)")},
		{"context:", fmt.Sprintf("%s (cluster %s)", v.Context, v.Cluster)},
		{"read from:", v.ReadFrom()},
		{"namespaces:", v.Namespaces()},
	})
}

// contextColumns are the columns of env --all-contexts, contextCells one
// row of them; the wide ones show with -o wide.
var contextColumns = []column{
	{Name: "CURRENT"}, {Name: "CONTEXT"}, {Name: "CLUSTER"}, {Name: "SERVER", Wide: true}, {Name: "ENVIRONMENT"},
	{Name: "EXPECTED", Wide: true}, {Name: "NAMESPACE"}, {Name: "STATUS"},
}

func (o *EnvOptions) contextCells(r fleet.ContextRow) []string {
	cur, server := "", "-"
	if r.Current {
		cur = "*"
	}
	if c, ok := o.Raw.Clusters[r.Cluster]; ok && c.Server != "" {
		server = c.Server
	}
	return []string{cur, r.Context, r.Cluster, server, cmp.Or(r.Environment, "-"), cmp.Or(r.Expected, "-"), r.Namespace, r.Status}
}

// printPairs prints "name: value" lines with the values aligned and
// escaped.
func printPairs(w io.Writer, rows [][]string) error {
	t := &metav1.Table{ColumnDefinitions: []metav1.TableColumnDefinition{{Name: "NAME", Type: "string"}, {Name: "VALUE", Type: "string"}}}
	for _, r := range rows {
		t.Rows = append(t.Rows, metav1.TableRow{Cells: []any{r[0], text.Escape(r[1])}})
	}
	return printers.NewTablePrinter(printers.PrintOptions{NoHeaders: true}).PrintObj(t, w)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
