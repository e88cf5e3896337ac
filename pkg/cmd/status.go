package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/envops/kubectl-envops/pkg/appstate"
	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/environment"
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

	// Resolved by Complete.
	Config  *config.Config
	Targets []clusterTarget
	// NewClient builds a client for a context; tests replace it.
	NewClient func(contextName string, timeout time.Duration) (kubernetes.Interface, error)
	// Now is the clock.
	Now func() time.Time

	genericiooptions.IOStreams
}

// clusterTarget is one cluster status asks: an environment's context, or
// any context with --all-contexts.
type clusterTarget struct {
	// Env is the environment .envops.yaml maps to the context ("" if none).
	Env       string
	Context   string
	Namespace string
}

var statusLong = templates.LongDesc(`
	Show which version of each app runs in every environment, at once: one row
	per environment of .envops.yaml (or per context with --all-contexts) and app,
	with the environment Secret's check (ok, unbound, another cluster, missing,
	or the environment it holds instead), the app's kind, image, ready/desired
	pods, rollout state (steady, updating, paused, failed, interrupted) and who
	deployed it last, and when.

	Clusters are asked in parallel, each within --timeout; a cluster that does not
	answer, or refuses, is a row that says so and never delays the others.

	Exit codes: 0 when every row is steady and healthy, 1 otherwise, 2 usage error.`)

var statusExample = templates.Examples(`
	# Which version of every app runs where?
	kubectl envops status

	# One app, as JSON for a script
	kubectl envops status web -o json

	# Gate a pipeline on every environment being healthy
	kubectl envops status web --timeout 5s && echo all steady

	# Keep the table on screen, refreshed when something changes
	kubectl envops status web --watch`)

// NewCmdStatus builds "kubectl envops status". runF, when set, replaces Run.
func NewCmdStatus(g *Globals, runF func(*StatusOptions) error) *cobra.Command {
	o := &StatusOptions{IOStreams: g.Streams, Now: time.Now}
	cmd := &cobra.Command{
		Use:               "status [APP...] [--all-contexts] [-o json|yaml] [--watch]",
		Short:             "Show which version of each app runs in every environment, and whether it is healthy",
		Long:              statusLong,
		Example:           statusExample,
		ValidArgsFunction: appNameCompletion(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Apps = args
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
	f := cmd.Flags()
	f.BoolVar(&o.AllContexts, "all-contexts", false, "Ask every context of the kubeconfig instead of the environments of .envops.yaml")
	f.StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml (default: a table)")
	f.BoolVarP(&o.Watch, "watch", "w", false, "Keep running and print the table again whenever it changes")
	f.DurationVar(&o.Interval, "interval", 2*time.Second, "With --watch, how often to ask the clusters")
	f.DurationVar(&o.Timeout, "timeout", fleet.DefaultDeadline, "How long to wait for each cluster")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Validate checks the flags without reading any file or cluster.
func (o *StatusOptions) Validate() error {
	switch o.Output {
	case "", "json", "yaml":
	default:
		return usageError("unknown output format %q for --output: use json or yaml", o.Output)
	}
	if o.Timeout <= 0 {
		return usageError("invalid --timeout %s: use a positive duration such as 10s", o.Timeout)
	}
	if o.Watch && o.Interval <= 0 {
		return usageError("invalid --interval %s: use a positive duration such as 2s", o.Interval)
	}
	if o.Watch && o.Output != "" {
		return usageError("--watch prints a table: drop -o, or drop --watch and run status again")
	}
	return nil
}

// Complete loads the project file and the kubeconfig and lists the
// clusters and apps to ask about.
func (o *StatusOptions) Complete(g *Globals) error {
	cfg, err := g.LoadConfig()
	if err != nil {
		return err
	}
	o.Config = cfg
	if len(o.Apps) == 0 {
		if o.Apps, err = render.Apps(cfg); err != nil || len(o.Apps) == 0 {
			return usageError("name the apps to show (no app directories found in %s)", cfg.AppsDir())
		}
	}
	raw, err := g.ConfigFlags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return fmt.Errorf("cannot load kubeconfig: %w", err)
	}
	o.Targets, err = fleetTargets(cfg, raw, o.AllContexts, *g.ConfigFlags.Namespace)
	if err != nil {
		return err
	}
	o.NewClient = func(name string, timeout time.Duration) (kubernetes.Interface, error) {
		return contextClient(raw, name, timeout)
	}
	return nil
}

// fleetTargets lists the clusters of the environments of cfg, in the
// file's order, or every context of raw with allContexts. namespace, when
// set, overrides every target's namespace.
func fleetTargets(cfg *config.Config, raw clientcmdapi.Config, allContexts bool, namespace string) ([]clusterTarget, error) {
	var out []clusterTarget
	nsOf := func(env config.Environment, contextName string) string {
		switch {
		case namespace != "":
			return namespace
		case env.Namespace != "":
			return env.Namespace
		case raw.Contexts[contextName] != nil && raw.Contexts[contextName].Namespace != "":
			return raw.Contexts[contextName].Namespace
		}
		return "default"
	}
	if allContexts {
		envOf := map[string]string{}
		for _, env := range cfg.EnvironmentNames() {
			envOf[cfg.Environments[env].Context] = env
		}
		names := make([]string, 0, len(raw.Contexts))
		for name := range raw.Contexts {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			env := envOf[name]
			out = append(out, clusterTarget{Env: env, Context: name, Namespace: nsOf(cfg.Environments[env], name)})
		}
		return out, nil
	}
	if len(cfg.Environments) == 0 {
		return nil, usageError("no environments in %s: map each environment to its context there, or pass --all-contexts", config.FileName)
	}
	for _, env := range cfg.PromotionOrder() {
		out = append(out, clusterTarget{Env: env, Context: cfg.Environments[env].Context, Namespace: nsOf(cfg.Environments[env], cfg.Environments[env].Context)})
	}
	// Environments left out of the promotion order are shown too.
	for _, env := range cfg.EnvironmentNames() {
		if !containsTarget(out, env) {
			out = append(out, clusterTarget{Env: env, Context: cfg.Environments[env].Context, Namespace: nsOf(cfg.Environments[env], cfg.Environments[env].Context)})
		}
	}
	return out, nil
}

func containsTarget(ts []clusterTarget, env string) bool {
	for _, t := range ts {
		if t.Env == env {
			return true
		}
	}
	return false
}

// contextClient builds a client for one context of raw whose every
// request ends after timeout.
func contextClient(raw clientcmdapi.Config, name string, timeout time.Duration) (kubernetes.Interface, error) {
	if _, ok := raw.Contexts[name]; !ok {
		return nil, fmt.Errorf("context %q not found in your kubeconfig", name)
	}
	rc, err := clientcmd.NewNonInteractiveClientConfig(raw, name, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(fleet.WithDeadline(rc, timeout))
}

// statusRow is one line of the table: an app's controller in a cluster,
// or a cluster that could not be read.
type statusRow struct {
	Environment string `json:"environment,omitempty"`
	Context     string `json:"context"`
	Namespace   string `json:"namespace"`
	// Secret is the check of the environment Secret: ok, unbound, another
	// cluster, missing, or "holds X" when it declares another environment.
	Secret     string     `json:"secret,omitempty"`
	App        string     `json:"app,omitempty"`
	Kind       string     `json:"kind,omitempty"`
	Name       string     `json:"name,omitempty"`
	Images     []string   `json:"images,omitempty"`
	Ready      int32      `json:"ready"`
	Desired    int32      `json:"desired"`
	State      string     `json:"state"`
	Reason     string     `json:"reason,omitempty"`
	DeployedBy string     `json:"deployedBy,omitempty"`
	DeployedAt *time.Time `json:"deployedAt,omitempty"`
	// OK is true when the row is steady and healthy.
	OK bool `json:"ok"`
}

// Run prints the table once, or keeps printing it with --watch.
func (o *StatusOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if !o.Watch {
		rows := o.collect(ctx)
		if err := o.print(o.Out, rows); err != nil {
			return err
		}
		return statusResult(rows)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	var last []byte
	for {
		rows := o.collect(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var buf bytes.Buffer
		if err := o.print(&buf, rows); err != nil {
			return err
		}
		if !bytes.Equal(buf.Bytes(), last) {
			fmt.Fprintf(o.Out, "%s\n%s", o.Now().UTC().Format(time.RFC3339), buf.Bytes())
			last = buf.Bytes()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.Interval):
		}
	}
}

// collect asks every cluster at once, each within the timeout.
func (o *StatusOptions) collect(ctx context.Context) []statusRow {
	names := make([]string, len(o.Targets))
	byName := map[string]clusterTarget{}
	for i, t := range o.Targets {
		names[i] = t.Context
		byName[t.Context] = t
	}
	results := fleet.Each(ctx, names, o.Timeout, func(ctx context.Context, name string) ([]statusRow, error) {
		return o.ask(ctx, byName[name])
	})
	var rows []statusRow
	for i, r := range results {
		if r.Err != nil {
			t := o.Targets[i]
			rows = append(rows, statusRow{Environment: t.Env, Context: t.Context, Namespace: t.Namespace, State: fleet.Reason(r.Err, o.Timeout)})
			continue
		}
		rows = append(rows, r.Value...)
	}
	return rows
}

// ask reads one cluster: the environment Secret's check, then each app.
func (o *StatusOptions) ask(ctx context.Context, t clusterTarget) ([]statusRow, error) {
	client, err := o.NewClient(t.Context, o.Timeout)
	if err != nil {
		return nil, err
	}
	secret, err := secretCheck(ctx, client, t, o.Config.Secret)
	if err != nil {
		return nil, err
	}
	now := o.Now()
	var rows []statusRow
	for _, app := range o.Apps {
		base := statusRow{Environment: t.Env, Context: t.Context, Namespace: t.Namespace, Secret: secret, App: app}
		ctrls, err := appstate.Read(ctx, client, t.Namespace, app, "app", now)
		if err != nil {
			return nil, err
		}
		if len(ctrls) == 0 {
			base.State = string(appstate.Missing)
			rows = append(rows, base)
			continue
		}
		for _, c := range ctrls {
			row := base
			row.Kind, row.Name, row.Images = c.Kind, c.Name, c.Images
			row.Ready, row.Desired, row.State, row.Reason = c.Ready, c.Desired, string(c.State), c.Reason
			row.DeployedBy = c.DeployedBy
			if !c.DeployedAt.IsZero() {
				at := c.DeployedAt
				row.DeployedAt = &at
			}
			row.OK = c.Healthy() && (secret == "ok" || secret == "unbound")
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// secretCheck says whether the namespace's environment Secret declares
// the target's environment on the cluster it was written on. Only
// failures to reach or read the cluster are errors.
func secretCheck(ctx context.Context, client kubernetes.Interface, t clusterTarget, s config.Secret) (string, error) {
	expected := t.Env
	if expected == "" {
		found, err := environment.Read(ctx, client, t.Namespace, s)
		switch {
		case errors.Is(err, environment.ErrNotDeclared):
			return "missing", nil
		case err != nil:
			return "", err
		}
		expected = found
	}
	binding, err := environment.Check(ctx, client, t.Namespace, expected, s)
	var ge *environment.GuardError
	var ie *environment.IdentityError
	switch {
	case errors.As(err, &ge) && ge.Missing:
		return "missing", nil
	case errors.As(err, &ge):
		return "holds " + ge.Found, nil
	case errors.As(err, &ie):
		return "another cluster", nil
	case err != nil:
		return "", err
	case binding.Unbound:
		return "unbound", nil
	}
	return "ok", nil
}

// statusResult is exit code 0 when every row is steady and healthy, and
// otherwise 1 with one line naming the rows that are not.
func statusResult(rows []statusRow) error {
	var bad []string
	for _, r := range rows {
		if r.OK {
			continue
		}
		where := firstNonEmpty(r.Environment, r.Context)
		if r.App != "" {
			where += "/" + r.App
		}
		what := r.State
		if r.Secret != "" && r.Secret != "ok" && r.Secret != "unbound" {
			what = "environment Secret: " + r.Secret
		} else if r.State == string(appstate.Steady) {
			what = fmt.Sprintf("%d/%d ready", r.Ready, r.Desired)
		}
		bad = append(bad, where+" "+what)
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("not every environment is steady and healthy: %s", strings.Join(bad, "; "))
}

func (o *StatusOptions) print(out io.Writer, rows []statusRow) error {
	if o.Output != "" {
		if rows == nil {
			rows = []statusRow{}
		}
		return printData(out, o.Output, rows)
	}
	w := printers.GetNewTabWriter(out)
	fmt.Fprintln(w, "ENVIRONMENT\tCONTEXT\tSECRET\tAPP\tKIND\tIMAGE\tREADY\tSTATE\tLAST DEPLOY")
	now := o.Now()
	for _, r := range rows {
		dash := func(s string) string { return firstNonEmpty(s, "-") }
		ready, state := "-", r.State
		if r.Kind != "" {
			ready = fmt.Sprintf("%d/%d", r.Ready, r.Desired)
		}
		if r.Reason != "" {
			state += " (" + r.Reason + ")"
		}
		last := "-"
		if r.DeployedAt != nil {
			last = fmt.Sprintf("%s, %s ago", dash(r.DeployedBy), duration.HumanDuration(now.Sub(*r.DeployedAt)))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(r.Environment), r.Context, dash(r.Secret), dash(r.App),
			dash(r.Kind), dash(strings.Join(r.Images, ",")), ready, state, last)
	}
	return w.Flush()
}
