package cmd

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/render"
)

// NewOptions holds the flags of "kubectl envops new".
type NewOptions struct {
	App          render.NewApp
	Replicas     map[string]int
	Environments []string

	cfg  *config.Config
	fsys filesys.FileSystem

	genericiooptions.IOStreams
}

var newLong = templates.LongDesc(`
	Scaffold a new app: apps/APP/base/ holds the controller and a kustomization
	that sets the convention labels (app, tier, role, language) on the controller
	and its pods, and apps/APP/overlays/ENV/ sets the replicas of each environment
	in .envops.yaml. The controller selects its pods by the name label only.

	Existing files are never overwritten.`)

var newExample = templates.Examples(`
	# A frontend served by a ReplicationController, one overlay per environment
	kubectl envops new web --tier frontend --role server --image registry.example.com/web:1.0.0 --port 8080

	# A backend Deployment with three replicas in prod
	kubectl envops new api --tier backend --role api --language go --image registry.example.com/api:2.3 \
	  --kind Deployment --replicas prod=3`)

// NewCmdNew builds "kubectl envops new". runF, when set, replaces Run so
// tests can inspect the parsed options.
func NewCmdNew(g *Globals, runF func(*NewOptions) error) *cobra.Command {
	o := &NewOptions{IOStreams: g.Streams}
	cmd := &cobra.Command{
		Use:     "new APP --tier T --role R --image IMG [--language L] [--kind ReplicationController|Deployment] [--port P]",
		Short:   "Scaffold an app: a kustomize base and one overlay per environment",
		Long:    newLong,
		Example: newExample,
		Args:    exactArgs(1, "one app name"),
		RunE:    runOptions(g, o, runF),
	}
	f := cmd.Flags()
	f.StringVar(&o.App.Tier, "tier", "", "Tier label of the app, e.g. frontend or backend (required)")
	f.StringVar(&o.App.Role, "role", "", "Role label of the app, e.g. server or worker (required)")
	f.StringVar(&o.App.Image, "image", "", "Container image, e.g. registry.example.com/web:1.0.0 (required)")
	f.StringVar(&o.App.Language, "language", "", "Language label of the app, e.g. go")
	f.StringVar(&o.App.Kind, "kind", render.KindReplicationController, "Controller kind: ReplicationController or Deployment")
	f.Int32Var(&o.App.Port, "port", 0, "Container port to declare (default: none)")
	f.StringToIntVar(&o.Replicas, "replicas", nil, "Replicas per environment, e.g. dev=1,prod=3 (default: 1 each)")
	f.StringSliceVar(&o.Environments, "env", nil, "Environments to create overlays for (default: those in .envops.yaml)")
	_ = cmd.RegisterFlagCompletionFunc("kind", cobra.FixedCompletions([]string{render.KindReplicationController, render.KindDeployment}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("env", environmentNameCompletion(g))
	return cmd
}

// Complete loads the project file and fills the environments.
func (o *NewOptions) Complete(g *Globals, _ *cobra.Command, args []string) error {
	o.App.Name = args[0]
	cfg, err := g.LoadConfig()
	if err != nil {
		return err
	}
	o.cfg = cfg
	// Writes stay in the apps directory and never follow a link.
	o.fsys = render.ConfinedFS(cfg.AppsDir())
	o.App.Environments = o.Environments
	if len(o.App.Environments) == 0 {
		o.App.Environments = cfg.EnvironmentNames()
	}
	o.App.Replicas = map[string]int32{}
	for env, n := range o.Replicas {
		o.App.Replicas[env] = int32(n)
	}
	return nil
}

// Validate checks the required flags; the values themselves are checked
// against the label convention by the scaffolder.
func (o *NewOptions) Validate() error {
	for _, r := range []struct{ flag, value string }{{"--tier", o.App.Tier}, {"--role", o.App.Role}, {"--image", o.App.Image}} {
		if r.value == "" {
			return usageError("%s is required; see 'kubectl envops new --help'", r.flag)
		}
	}
	if len(o.App.Environments) == 0 {
		return usageError("no environments to create overlays for: define them under \"environments:\" in %s or pass --env dev,prod", config.FileName)
	}
	for env, n := range o.Replicas {
		if n < 0 || n > math.MaxInt32 {
			return usageError("invalid --replicas %s=%d: use 0 or more", env, n)
		}
	}
	if err := o.App.Validate(o.cfg); err != nil {
		return usageError("%w", err)
	}
	return nil
}

// Run writes the files and lists them. Ctrl-C or SIGTERM, like a full
// disk, leaves nothing of the app behind.
func (o *NewOptions) Run(ctx context.Context) error {
	ctx, stop := untilInterrupted(ctx)
	defer stop()
	paths, err := render.Scaffold(ctx, o.fsys, o.cfg, o.App)
	if err != nil {
		return err
	}
	wd, _ := os.Getwd()
	for _, p := range paths {
		if rel, err := filepath.Rel(wd, p); err == nil && wd != "" {
			p = rel
		}
		printLine(o.Out, "created %s", p)
	}
	fmt.Fprintf(o.Out, "render it with: kubectl envops generate %s --env %s\n", o.App.Name, o.App.Environments[0])
	return nil
}
