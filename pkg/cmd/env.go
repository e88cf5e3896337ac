package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/kubectl/pkg/util/templates"
	"sigs.k8s.io/yaml"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/environment"
	"github.com/envops/kubectl-envops/pkg/fleet"
)

// EnvOptions holds the flags and resolved state of "kubectl envops env".
type EnvOptions struct {
	AllContexts bool
	Output      string
	Timeout     time.Duration

	// Resolved by Complete.
	Config    *config.Config
	Raw       clientcmdapi.Config
	Context   string
	Namespace string
	// NewClient builds a client for a context of Raw; tests replace it.
	NewClient func(contextName string, timeout time.Duration) (kubernetes.Interface, error)

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

	# The same, for scripts
	kubectl envops env --all-contexts -o json`)

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
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			if err := o.Complete(g); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&o.AllContexts, "all-contexts", false, "Ask every context of the kubeconfig, concurrently, and print a table")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: one of json|yaml (default: text)")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 10*time.Second, "How long to wait for each cluster")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Validate checks the flags without touching the cluster.
func (o *EnvOptions) Validate() error {
	switch o.Output {
	case "", "json", "yaml":
	default:
		return usageError("unknown output format %q for --output: use json or yaml, or omit it for text", o.Output)
	}
	if o.Timeout <= 0 {
		return usageError("--timeout must be positive, such as 5s")
	}
	return nil
}

// Complete loads the project file and the kubeconfig.
func (o *EnvOptions) Complete(g *Globals) error {
	cfg, err := g.LoadConfig()
	if err != nil {
		return err
	}
	o.Config = cfg
	loader := g.ConfigFlags.ToRawKubeConfigLoader()
	o.Raw, err = loader.RawConfig()
	if err != nil {
		return inputError(fmt.Errorf("cannot load kubeconfig: %w", err))
	}
	o.Context = *g.ConfigFlags.Context
	if o.Context == "" {
		o.Context = o.Raw.CurrentContext
	}
	if o.AllContexts {
		if len(o.Raw.Contexts) == 0 {
			return inputError(errors.New("your kubeconfig has no contexts: add one, or point --kubeconfig at another file"))
		}
		o.NewClient = o.contextClient
		return nil
	}
	if o.Context == "" {
		return inputError(errors.New("no current context in your kubeconfig: pass --context, or set one with \"kubectl config use-context\""))
	}
	o.Namespace, _, err = loader.Namespace()
	if err != nil {
		return inputError(fmt.Errorf("cannot determine the namespace: %w", err))
	}
	o.NewClient = func(string, time.Duration) (kubernetes.Interface, error) {
		// The factory honours every global flag (--as, --token, --server, ...).
		return g.Factory.KubernetesClientSet()
	}
	return nil
}

// contextClient builds a client for one context of the kubeconfig.
func (o *EnvOptions) contextClient(name string, timeout time.Duration) (kubernetes.Interface, error) {
	rc, err := clientcmd.NewNonInteractiveClientConfig(o.Raw, name, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	if err != nil {
		return nil, err
	}
	rc = rest.CopyConfig(rc)
	rc.Timeout = timeout
	return kubernetes.NewForConfig(rc)
}

// Run prints the report of the current context, or the table of all.
func (o *EnvOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.AllContexts {
		return o.runAll(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	client, err := o.NewClient(o.Context, o.Timeout)
	if err != nil {
		return fmt.Errorf("context %q: %w", o.Context, err)
	}
	r, err := environment.Inspect(ctx, client, o.Namespace, o.Config.Secret)
	if err != nil {
		return fmt.Errorf("context %q: %w", o.Context, &briefError{msg: reason(err, o.Timeout), err: err})
	}
	if r.Environment == "" && len(r.Declared) == 0 {
		return fmt.Errorf("context %q declares no environment: namespace %q has no Secret %q with key %q; declare it with \"kubectl envops init-env ENV --context %s -n %s\"",
			o.Context, o.Namespace, o.Config.Secret.Name, o.Config.Secret.Key, o.Context, o.Namespace)
	}
	view := envView{
		Context:     o.Context,
		Cluster:     o.clusterOf(o.Context),
		Namespace:   r.Namespace,
		Environment: r.Environment,
		Source:      r.Source,
		Secret:      o.Config.Secret.Name,
		Key:         o.Config.Secret.Key,
		Consistent:  r.Consistent(),
		Declared:    r.Declared,
		Missing:     r.Missing,
		Unchecked:   r.Unchecked,
	}
	if o.Output != "" {
		return printData(o.Out, o.Output, view)
	}
	return o.printText(view)
}

// envView is what "env" prints for one context.
type envView struct {
	Context     string              `json:"context"`
	Cluster     string              `json:"cluster"`
	Namespace   string              `json:"namespace"`
	Environment string              `json:"environment"`
	Source      string              `json:"source,omitempty"`
	Secret      string              `json:"secret"`
	Key         string              `json:"key"`
	Consistent  bool                `json:"consistent"`
	Declared    map[string][]string `json:"declared,omitempty"`
	Missing     []string            `json:"missing,omitempty"`
	Unchecked   string              `json:"unchecked,omitempty"`
}

func (o *EnvOptions) printText(v envView) error {
	w := printers.GetNewTabWriter(o.Out)
	env := v.Environment
	if env == "" {
		env = "(ambiguous: namespaces disagree)"
	}
	fmt.Fprintf(w, "environment:\t%s\n", env)
	fmt.Fprintf(w, "context:\t%s (cluster %s)\n", v.Context, v.Cluster)
	switch {
	case v.Source == v.Namespace:
		fmt.Fprintf(w, "read from:\tSecret %s/%s, key %q\n", v.Source, v.Secret, v.Key)
	case v.Source != "":
		fmt.Fprintf(w, "read from:\tSecret %s/%s, key %q (namespace %q has no Secret %q)\n", v.Source, v.Secret, v.Key, v.Namespace, v.Secret)
	default:
		fmt.Fprintf(w, "read from:\tnowhere: namespace %q has no Secret %q\n", v.Namespace, v.Secret)
	}
	switch {
	case v.Unchecked != "":
		fmt.Fprintf(w, "namespaces:\tnot checked (%s)\n", v.Unchecked)
	default:
		var parts []string
		for _, e := range sortedEnvs(v.Declared) {
			n := len(v.Declared[e])
			parts = append(parts, fmt.Sprintf("%d %s %q", n, plural(n, "namespace declares", "namespaces declare"), e))
		}
		line := strings.Join(parts, ", ")
		if !v.Consistent {
			var where []string
			for _, e := range sortedEnvs(v.Declared) {
				where = append(where, fmt.Sprintf("%q in %s", e, strings.Join(v.Declared[e], ", ")))
			}
			line = "disagree: " + strings.Join(where, "; ")
		}
		if len(v.Missing) > 0 {
			line += fmt.Sprintf("; %d %s the Secret: %s", len(v.Missing), plural(len(v.Missing), "lacks", "lack"), strings.Join(v.Missing, ", "))
		}
		fmt.Fprintf(w, "namespaces:\t%s\n", line)
	}
	return w.Flush()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func sortedEnvs(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// contextRow is one line of "env --all-contexts".
type contextRow struct {
	Current     bool   `json:"current"`
	Context     string `json:"context"`
	Cluster     string `json:"cluster"`
	Environment string `json:"environment"`
	Namespace   string `json:"namespace"`
	// Status is "ok" or says what went wrong, briefly.
	Status string `json:"status"`
	// Expected is the environment .envops.yaml maps to this context, if any.
	Expected string `json:"expected,omitempty"`
}

func (o *EnvOptions) runAll(ctx context.Context) error {
	names := make([]string, 0, len(o.Raw.Contexts))
	for name := range o.Raw.Contexts {
		names = append(names, name)
	}
	sort.Strings(names)
	expected := map[string]string{}
	for _, env := range o.Config.EnvironmentNames() {
		expected[o.Config.Environments[env].Context] = env
	}

	// The shared fan-out gives up on a context at the deadline even when a
	// call does not honour it.
	results := fleet.Each(ctx, names, o.Timeout, func(ctx context.Context, name string) (contextRow, error) {
		return o.askContext(ctx, name), nil
	})
	rows := make([]contextRow, len(names))
	for i, r := range results {
		rows[i] = r.Value
		if r.Err != nil {
			rows[i] = o.baseRow(names[i])
			rows[i].Status = fleet.Reason(r.Err, o.Timeout)
		}
		rows[i].Expected = expected[names[i]]
		if rows[i].Expected != "" && rows[i].Environment != "" && rows[i].Expected != rows[i].Environment {
			rows[i].Status = fmt.Sprintf("mismatch: %s maps it to %q", config.FileName, rows[i].Expected)
		}
	}

	if o.Output != "" {
		return printData(o.Out, o.Output, rows)
	}
	w := printers.GetNewTabWriter(o.Out)
	fmt.Fprintln(w, "CURRENT\tCONTEXT\tCLUSTER\tENVIRONMENT\tNAMESPACE\tSTATUS")
	for _, r := range rows {
		cur, env := "", r.Environment
		if r.Current {
			cur = "*"
		}
		if env == "" {
			env = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", cur, r.Context, r.Cluster, env, r.Namespace, r.Status)
	}
	return w.Flush()
}

// askContext reads one context's environment within the timeout; every
// failure becomes the row's status.
func (o *EnvOptions) askContext(ctx context.Context, name string) contextRow {
	row := o.baseRow(name)
	client, err := o.NewClient(name, o.Timeout)
	if err != nil {
		row.Status = "invalid: " + oneLine(err.Error())
		return row
	}
	r, err := environment.Inspect(ctx, client, row.Namespace, o.Config.Secret)
	if err != nil {
		row.Status = reason(err, o.Timeout)
		return row
	}
	row.Environment = r.Environment
	switch {
	case !r.Consistent():
		row.Status = "namespaces disagree: " + strings.Join(sortedEnvs(r.Declared), ", ")
	case r.Environment == "":
		row.Status = "no environment Secret"
	case r.Source != r.Namespace:
		row.Status = fmt.Sprintf("ok (read from namespace %s)", r.Source)
	default:
		row.Status = "ok"
	}
	return row
}

// baseRow is a context's row before its cluster is asked.
func (o *EnvOptions) baseRow(name string) contextRow {
	row := contextRow{Current: name == o.Context, Context: name, Cluster: o.clusterOf(name), Namespace: "default"}
	if ns := o.Raw.Contexts[name].Namespace; ns != "" {
		row.Namespace = ns
	}
	return row
}

func (o *EnvOptions) clusterOf(contextName string) string {
	if c, ok := o.Raw.Contexts[contextName]; ok {
		return c.Cluster
	}
	return ""
}

// briefError shows a short reason while keeping the cause for errors.Is.
type briefError struct {
	msg string
	err error
}

func (e *briefError) Error() string { return e.msg }
func (e *briefError) Unwrap() error { return e.err }

// reason says briefly why a cluster could not be read.
func reason(err error, timeout time.Duration) string {
	return fleet.Reason(err, timeout)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// printData prints plain data as json or yaml.
func printData(out io.Writer, format string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if format == "yaml" {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return err
		}
		_, err = out.Write(b)
		return err
	}
	_, err = fmt.Fprintln(out, string(b))
	return err
}
