package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
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
	Output          string
	WatchNamespaces bool
	ChangeCause     string
	// CreateNamespace creates the target namespace when it does not exist.
	CreateNamespace bool

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

	print *outputFlags
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
		Args:    exactArgs(1, "one environment name, such as dev or prod"),
		RunE:    runOptions(g, o, runF),
	}
	f := cmd.Flags()
	f.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "Write the Secret into every namespace except kube-system, kube-public and kube-node-lease")
	f.BoolVar(&o.Force, "force", false, "Overwrite a Secret, or ignore other namespaces, that declare a different environment")
	addDryRunFlag(cmd, `Must be "none", "client" or "server": client only prints what would be written, server has the API server validate it without persisting it`)
	o.output().addFlags(cmd, "Print the Secrets written (or that would be written) instead of a summary:")
	f.BoolVar(&o.WatchNamespaces, "watch-namespaces", false, "After writing, keep running and add the Secret to namespaces created later (implies --all-namespaces; Ctrl-C stops)")
	f.StringVar(&o.ChangeCause, "change-cause", "", "Why the Secret is written, recorded in its annotations (default: this command line, credentials redacted)")
	f.BoolVar(&o.CreateNamespace, "create-namespace", false, "Create the namespace first when it does not exist (a new cluster)")
	cmd.ValidArgsFunction = projectNames(g, true, cobra.ShellCompDirectiveError, (*config.Config).EnvironmentNames)
	return cmd
}

func (o *InitEnvOptions) output() *outputFlags {
	return outputOf(&o.print, &o.Output).withNames()
}

// Complete loads the project file and resolves the dry-run strategy,
// context, namespace and client.
func (o *InitEnvOptions) Complete(g *Globals, cmd *cobra.Command, args []string) error {
	o.Env = args[0]
	o.Cause = changeCause(cmd, args, o.ChangeCause)
	var err error
	if o.DryRunStrategy, err = dryRunStrategy(cmd); err != nil {
		return err
	}
	if err := o.output().validate(); err != nil {
		return err
	}
	// --watch-namespaces covers every namespace.
	o.AllNamespaces = o.AllNamespaces || o.WatchNamespaces
	if o.Config, err = g.LoadConfig(); err != nil {
		return err
	}
	// The environment resolves as for every command: its mapped context
	// and namespace unless --context or -n say otherwise.
	t, err := g.resolve(o.Config, o.Env)
	if err != nil {
		return err
	}
	o.Context, o.Namespace, o.Client = t.Context, t.Namespace, t.Client
	o.ExplicitNamespace = *g.ConfigFlags.Namespace != ""
	o.Guard = rbac.NewGuard(o.Client, rbac.InitEnv).Check
	return nil
}

// Validate checks the command line without touching the cluster.
func (o *InitEnvOptions) Validate() error {
	if err := o.output().validate(); err != nil {
		return err
	}
	if err := config.ValidateEnvironmentName(o.Env); err != nil {
		return usageError("%v", err)
	}
	switch {
	case o.WatchNamespaces && (o.DryRunStrategy != cmdutil.DryRunNone || !o.output().isOwn()):
		return usageError("--watch-namespaces writes as namespaces appear: it cannot be combined with --dry-run or --output")
	case o.WatchNamespaces && o.ExplicitNamespace:
		return usageError("--watch-namespaces covers every namespace: drop -n/--namespace")
	case o.AllNamespaces && o.ExplicitNamespace:
		return usageError("-n/--namespace and --all-namespaces exclude each other: pick one")
	case o.AllNamespaces && o.CreateNamespace:
		return usageError("--create-namespace creates the one namespace written: drop it, or drop --all-namespaces")
	}
	return nil
}

// Run writes the Secrets, then optionally keeps watching namespaces.
func (o *InitEnvOptions) Run(ctx context.Context) error {
	if !o.Force {
		if err := environment.CheckMapping(o.Config, o.Env, o.Context); err != nil {
			return err
		}
	}
	record := audit.Record{Time: time.Now(), Environment: o.Env, Cause: o.Cause}
	// A client dry run only reads, so it needs no write access.
	if o.Guard != nil && o.DryRunStrategy != cmdutil.DryRunClient {
		user, err := o.Guard(ctx, o.Namespace, o.AllNamespaces)
		if err != nil {
			return environment.ExplainInit(err, o.Context)
		}
		record.User = user
	}
	if o.CreateNamespace {
		created, err := environment.CreateNamespace(ctx, o.Client, o.Namespace, o.DryRunStrategy, FieldManager)
		if err != nil {
			return environment.ExplainInit(err, o.Context)
		}
		if created && o.output().isOwn() {
			fmt.Fprintf(o.Out, "namespace/%s created%s\n", o.Namespace, map[cmdutil.DryRunStrategy]string{cmdutil.DryRunClient: " (dry run)", cmdutil.DryRunServer: " (server dry run)"}[o.DryRunStrategy])
		}
	}
	res, err := environment.Init(ctx, o.Client, environment.InitRequest{Env: o.Env, Context: o.Context, Namespace: o.Namespace,
		AllNamespaces: o.AllNamespaces, Force: o.Force, DryRun: o.DryRunStrategy, Secret: o.Config.Secret, Record: record, FieldManager: FieldManager})
	if err != nil {
		return environment.ExplainInit(err, o.Context)
	}
	if err := o.printResult(res); err != nil {
		return err
	}
	// The note is printed only on success.
	if res.Note != "" {
		printLine(o.ErrOut, "%s", res.Note)
	}
	if o.WatchNamespaces {
		return o.watch(ctx, record)
	}
	return nil
}

func (o *InitEnvOptions) printResult(res *environment.InitResult) error {
	if !o.output().isOwn() {
		objs := make([]runtime.Object, 0, len(res.Written))
		for _, s := range res.Written {
			objs = append(objs, environment.Sanitize(s, o.Config.Secret))
		}
		return o.output().printObjects(o.Out, objs)
	}
	suffix := map[cmdutil.DryRunStrategy]string{cmdutil.DryRunClient: " (dry run)", cmdutil.DryRunServer: " (server dry run)"}[o.DryRunStrategy]
	unchanged := 0
	for _, c := range res.Changes {
		if c.Action == environment.Unchanged {
			unchanged++
		}
		detail := fmt.Sprintf("environment %q", o.Env)
		if c.Action == environment.Update && c.Previous != "" && c.Previous != o.Env {
			detail += fmt.Sprintf(", was %q", c.Previous)
		}
		printLine(o.Out, "secret/%s %s in namespace %q (%s)%s", o.Config.Secret.Name, c.Action, c.Namespace, detail, suffix)
	}
	if unchanged == len(res.Changes) {
		fmt.Fprintf(o.Out, "context %q already declares environment %q there: nothing to change\n", o.Context, o.Env)
	}
	return nil
}

// watch adds the Secret to namespaces as they appear, until Ctrl-C.
func (o *InitEnvOptions) watch(ctx context.Context, record audit.Record) error {
	ctx, stop := untilInterrupted(ctx)
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
				printLine(o.ErrOut, "error: namespace %q: %v", ev.Namespace, environment.WithContext(ev.Err, o.Context))
			case ev.Action != environment.Unchanged:
				printLine(o.Out, "secret/%s %s in namespace %q (environment %q)", o.Config.Secret.Name, ev.Action, ev.Namespace, o.Env)
			}
		},
	})
	if err != nil {
		return environment.ExplainInit(err, o.Context)
	}
	fmt.Fprintln(o.ErrOut, "stopped watching namespaces")
	return nil
}
