package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/environment"
	"github.com/envops/kubectl-envops/pkg/rbac"
)

// FieldManager names this tool in the managed fields of what it writes.
const FieldManager = audit.FieldManager

// InitEnvOptions holds the flags and resolved state of "kubectl envops init-env".
type InitEnvOptions struct {
	Env             string
	AllNamespaces   bool
	Force           bool
	DryRun          string
	Output          string
	WatchNamespaces bool
	ChangeCause     string

	// Resolved by Complete.
	DryRunStrategy    cmdutil.DryRunStrategy
	Namespace         string
	ExplicitNamespace bool
	Context           string
	Config            *config.Config
	Client            kubernetes.Interface
	// Guard, when set, checks access before anything is written and returns
	// who the user is; Cause is the change cause recorded on what is written.
	Guard func(ctx context.Context, namespace string, allNamespaces bool) (string, error)
	Cause string

	genericiooptions.IOStreams
}

var initEnvLong = templates.LongDesc(`
	Declare which environment a cluster serves by writing the environment Secret
	(default name "environment", key "environment") into a namespace, or into every
	namespace with --all-namespaces (kube-system, kube-public and kube-node-lease are
	left out unless named with -n). Pods mount the Secret at /etc/secrets and read
	/etc/secrets/environment; envops reads it to refuse acting on the wrong cluster.

	A second run changes nothing and says so. A namespace that already holds another
	environment, or any other namespace of the cluster declaring one, is refused
	unless --force is given.`)

var initEnvExample = templates.Examples(`
	# Declare the current namespace of the current context as "dev"
	kubectl envops init-env dev

	# Declare every namespace of the prod cluster, and keep doing so for new ones
	kubectl envops init-env prod --context prod-cluster --all-namespaces --watch-namespaces

	# Show the Secret that would be written, validated by the server
	kubectl envops init-env staging -n web --dry-run=server -o yaml`)

// NewCmdInitEnv builds "kubectl envops init-env". runF, when set, replaces
// Run so tests can inspect the parsed options.
func NewCmdInitEnv(g *Globals, runF func(*InitEnvOptions) error) *cobra.Command {
	o := &InitEnvOptions{IOStreams: g.Streams}
	cmd := &cobra.Command{
		Use:     "init-env ENV",
		Short:   "Write the environment Secret that declares which environment a cluster serves",
		Long:    initEnvLong,
		Example: initEnvExample,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("init-env takes exactly one environment name, such as dev or prod; see 'kubectl envops init-env --help'")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Env = args[0]
			if err := o.Validate(); err != nil {
				return err
			}
			if err := o.Complete(g); err != nil {
				return err
			}
			o.Cause = changeCause(cmd, args, o.ChangeCause)
			if runF != nil {
				return runF(o)
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "Write the Secret into every namespace except kube-system, kube-public and kube-node-lease")
	f.BoolVar(&o.Force, "force", false, "Overwrite a Secret, or ignore other namespaces, that declare a different environment")
	f.StringVar(&o.DryRun, "dry-run", "none", `Must be "none", "client" or "server": client only prints what would be written, server has the API server validate it without persisting it`)
	f.Lookup("dry-run").NoOptDefVal = "client"
	f.StringVarP(&o.Output, "output", "o", "", "Print the Secrets written (or that would be written) as yaml|json instead of a summary")
	f.BoolVar(&o.WatchNamespaces, "watch-namespaces", false, "After writing, keep running and add the Secret to namespaces created later (implies --all-namespaces; Ctrl-C stops)")
	f.StringVar(&o.ChangeCause, "change-cause", "", "Why the Secret is written, recorded in its annotations (default: this command line, credentials redacted)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("dry-run", cobra.FixedCompletions([]string{"none", "client", "server"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.ValidArgsFunction = func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		cfg, err := g.LoadConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		return cfg.EnvironmentNames(), cobra.ShellCompDirectiveNoFileComp
	}
	return cmd
}

// Validate checks the command line without touching the cluster.
func (o *InitEnvOptions) Validate() error {
	if err := config.ValidateEnvironmentName(o.Env); err != nil {
		return usageError("%v", err)
	}
	switch o.DryRun {
	case "none", "":
		o.DryRunStrategy = cmdutil.DryRunNone
	case "client":
		o.DryRunStrategy = cmdutil.DryRunClient
	case "server":
		o.DryRunStrategy = cmdutil.DryRunServer
	default:
		return usageError("invalid --dry-run value %q: use none, client or server", o.DryRun)
	}
	switch o.Output {
	case "", "yaml", "json":
	default:
		return usageError("unknown output format %q for --output: use yaml or json, or omit it for a summary", o.Output)
	}
	if o.WatchNamespaces {
		if o.DryRunStrategy != cmdutil.DryRunNone || o.Output != "" {
			return usageError("--watch-namespaces writes as namespaces appear: it cannot be combined with --dry-run or --output")
		}
		o.AllNamespaces = true
	}
	return nil
}

// Complete loads the project file and resolves context, namespace and client.
func (o *InitEnvOptions) Complete(g *Globals) error {
	cfg, err := g.LoadConfig()
	if err != nil {
		return err
	}
	o.Config = cfg
	loader := g.ConfigFlags.ToRawKubeConfigLoader()
	raw, err := loader.RawConfig()
	if err != nil {
		return inputError(fmt.Errorf("cannot load kubeconfig: %w", err))
	}
	o.Context = *g.ConfigFlags.Context
	if o.Context == "" {
		o.Context = raw.CurrentContext
	}
	o.Namespace, o.ExplicitNamespace, err = loader.Namespace()
	if err != nil {
		return inputError(fmt.Errorf("cannot determine the namespace: %w", err))
	}
	if o.WatchNamespaces && o.ExplicitNamespace {
		return usageError("--watch-namespaces covers every namespace: drop -n/--namespace")
	}
	if o.AllNamespaces && o.ExplicitNamespace {
		return usageError("-n/--namespace and --all-namespaces exclude each other: pick one")
	}
	o.Client, err = g.Factory.KubernetesClientSet()
	if err != nil {
		return fmt.Errorf("cannot create a client for context %q: %w", o.Context, err)
	}
	o.Guard = rbac.NewGuard(o.Client, rbac.InitEnv).Check
	return nil
}

// Run writes the Secrets, then optionally keeps watching namespaces.
func (o *InitEnvOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := o.checkMapping(); err != nil {
		return err
	}
	record := audit.Record{Time: time.Now(), Environment: o.Env, Cause: o.Cause}
	// A client dry run only reads, so it needs no write access.
	if o.Guard != nil && o.DryRunStrategy != cmdutil.DryRunClient {
		user, err := o.Guard(ctx, o.Namespace, o.AllNamespaces)
		if err != nil {
			return o.explain(err)
		}
		record.User = user
	}
	namespaces := []string{o.Namespace}
	if o.AllNamespaces {
		var err error
		namespaces, err = environment.TargetNamespaces(ctx, o.Client)
		if err != nil {
			return o.explain(err)
		}
		if len(namespaces) == 0 {
			return fmt.Errorf("context %q has no namespaces besides the system ones: create one, or name a system namespace with -n", o.Context)
		}
	}

	// The whole cluster serves one environment, so look beyond the target
	// namespaces when permissions allow; the note is printed only on success.
	var note string
	declared, err := environment.Declarations(ctx, o.Client, o.Config.Secret)
	if err != nil {
		if !apierrors.IsForbidden(err) {
			return o.explain(err)
		}
		declared = nil
		note = fmt.Sprintf("note: other namespaces of context %q were not checked for a different environment (not allowed to list secrets cluster-wide)", o.Context)
	}
	// The Secrets are bound to this cluster, so that a copy on another
	// cluster is refused by the guard. A cluster without kube-system (only
	// fakes) is left unbound.
	identity, err := environment.ClusterID(ctx, o.Client)
	if err != nil && !apierrors.IsNotFound(err) {
		return o.explain(err)
	}
	changes, err := environment.Plan(ctx, o.Client, namespaces, o.Env, o.Config.Secret, environment.PlanOptions{Force: o.Force, Declared: declared, Identity: identity})
	if err != nil {
		return o.explain(err)
	}
	for _, c := range changes {
		if c.Action != environment.Unchanged {
			record.Stamp(c.Secret)
		}
	}

	written, err := o.write(ctx, changes)
	if err != nil {
		return o.explain(err)
	}
	if err := o.print(changes, written); err != nil {
		return err
	}
	if note != "" {
		fmt.Fprintln(o.ErrOut, note)
	}
	if o.WatchNamespaces {
		return o.watch(ctx, record)
	}
	return nil
}

// checkMapping refuses, without --force, to declare an environment that
// .envops.yaml maps to a different context.
func (o *InitEnvOptions) checkMapping() error {
	if o.Force {
		return nil
	}
	if env, ok := o.Config.Environments[o.Env]; ok && env.Context != o.Context {
		return fmt.Errorf("refusing to declare environment %q in context %q: %s maps %q to context %q; use --context %s, or --force if the mapping is wrong",
			o.Env, o.Context, o.Config.Path, o.Env, env.Context, env.Context)
	}
	for _, name := range o.Config.EnvironmentNames() {
		if name != o.Env && o.Config.Environments[name].Context == o.Context {
			return fmt.Errorf("refusing to declare environment %q in context %q: %s maps that context to environment %q; use the context of %q, or --force if the mapping is wrong",
				o.Env, o.Context, o.Config.Path, name, o.Env)
		}
	}
	return nil
}

// write sends the changes according to the dry-run strategy. A real run
// over several namespaces is first sent as a server dry run, so that a
// denial in any namespace leaves every namespace unchanged.
func (o *InitEnvOptions) write(ctx context.Context, changes []environment.Change) ([]*corev1.Secret, error) {
	switch o.DryRunStrategy {
	case cmdutil.DryRunClient:
		out := make([]*corev1.Secret, 0, len(changes))
		for _, c := range changes {
			out = append(out, c.Secret)
		}
		return out, nil
	case cmdutil.DryRunServer:
		return environment.Apply(ctx, o.Client, changes, true, FieldManager)
	}
	pending := 0
	for _, c := range changes {
		if c.Action != environment.Unchanged {
			pending++
		}
	}
	if pending > 1 {
		if _, err := environment.Apply(ctx, o.Client, changes, true, FieldManager); err != nil {
			return nil, err
		}
	}
	return environment.Apply(ctx, o.Client, changes, false, FieldManager)
}

// explain adds the context to errors so one line says where it happened.
func (o *InitEnvOptions) explain(err error) error {
	var ce *environment.ConflictError
	var ie *environment.IdentityError
	if errors.As(err, &ce) || errors.As(err, &ie) {
		return environment.WithContext(err, o.Context)
	}
	var denied *rbac.DeniedError
	if errors.As(err, &denied) {
		return fmt.Errorf("context %q: %w", o.Context, err)
	}
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("context %q: %w; ask for the role printed by \"kubectl envops rbac --for init-env\"", o.Context, err)
	}
	return fmt.Errorf("context %q: %w", o.Context, err)
}

func (o *InitEnvOptions) print(changes []environment.Change, written []*corev1.Secret) error {
	if o.Output != "" {
		objs := make([]runtime.Object, 0, len(written))
		for _, s := range written {
			objs = append(objs, environment.Sanitize(s, o.Config.Secret))
		}
		return printObjects(o.Out, o.Output, objs)
	}
	suffix := ""
	switch o.DryRunStrategy {
	case cmdutil.DryRunClient:
		suffix = " (dry run)"
	case cmdutil.DryRunServer:
		suffix = " (server dry run)"
	}
	counts := map[environment.Action]int{}
	for _, c := range changes {
		counts[c.Action]++
		detail := fmt.Sprintf("environment %q", o.Env)
		if c.Action == environment.Update && c.Previous != "" && c.Previous != o.Env {
			detail += fmt.Sprintf(", was %q", c.Previous)
		}
		fmt.Fprintf(o.Out, "secret/%s %s in namespace %q (%s)%s\n", o.Config.Secret.Name, c.Action, c.Namespace, detail, suffix)
	}
	if counts[environment.Unchanged] == len(changes) {
		fmt.Fprintf(o.Out, "context %q already declares environment %q there: nothing to change\n", o.Context, o.Env)
	}
	return nil
}

// watch adds the Secret to namespaces as they appear, until Ctrl-C.
func (o *InitEnvOptions) watch(ctx context.Context, record audit.Record) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(o.ErrOut, "watching namespaces in context %q for new ones; press Ctrl-C to stop\n", o.Context)
	err := environment.Watch(ctx, o.Client, environment.WatchOptions{
		Env:          o.Env,
		Secret:       o.Config.Secret,
		Force:        o.Force,
		FieldManager: FieldManager,
		Record:       &record,
		OnEvent: func(ev environment.WatchEvent) {
			switch {
			case ev.Err != nil:
				fmt.Fprintf(o.ErrOut, "error: namespace %q: %v\n", ev.Namespace, environment.WithContext(ev.Err, o.Context))
			case ev.Action != environment.Unchanged:
				fmt.Fprintf(o.Out, "secret/%s %s in namespace %q (environment %q)\n", o.Config.Secret.Name, ev.Action, ev.Namespace, o.Env)
			}
		},
	})
	if err != nil {
		return o.explain(err)
	}
	fmt.Fprintln(o.ErrOut, "stopped watching namespaces")
	return nil
}

// printObjects prints one object as is, several as a v1 List, in yaml or json.
func printObjects(out io.Writer, format string, objs []runtime.Object) error {
	printer, err := genericclioptions.NewJSONYamlPrintFlags().ToPrinter(format)
	if err != nil {
		return err
	}
	if len(objs) == 1 {
		return printer.PrintObj(objs[0], out)
	}
	list := &corev1.List{}
	list.APIVersion, list.Kind = "v1", "List"
	for _, obj := range objs {
		list.Items = append(list.Items, runtime.RawExtension{Object: obj})
	}
	return printer.PrintObj(list, out)
}
