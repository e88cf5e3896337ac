package cmd

import (
	"cmp"
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/kubectl/pkg/util/templates"
	"sigs.k8s.io/yaml"

	"github.com/envops/kubectl-envops/pkg/config"
)

// LoadConfig loads the project file given by --config, or the nearest
// .envops.yaml at or above the working directory, or the defaults.
// Its errors are InputErrors.
func (g *Globals) LoadConfig() (*config.Config, error) {
	var cfg *config.Config
	var err error
	if g.ConfigPath != "" {
		cfg, err = config.Load(g.ConfigPath)
	} else {
		cfg, err = config.Find("")
	}
	return cfg, inputError(err)
}

// kubeconfig reads the kubeconfig that kubectl's flags select, and sets
// kubeContext to the context they make current.
func (g *Globals) kubeconfig(kubeContext *string) (clientcmdapi.Config, error) {
	raw, err := g.rawKubeconfig()
	if err != nil {
		return raw, err
	}
	*kubeContext = cmp.Or(*g.ConfigFlags.Context, raw.CurrentContext)
	return raw, nil
}

// rawKubeconfig reads the kubeconfig that kubectl's flags select; one
// that cannot be loaded is input the command cannot use.
func (g *Globals) rawKubeconfig() (clientcmdapi.Config, error) {
	raw, err := g.loader().RawConfig()
	if err != nil {
		return raw, inputError(fmt.Errorf("cannot load kubeconfig: %w", err))
	}
	return raw, nil
}

// namespace is the namespace kubectl's flags select, and whether -n gave it.
func (g *Globals) namespace() (string, bool, error) {
	ns, explicit, err := g.loader().Namespace()
	if err != nil {
		return "", false, inputError(fmt.Errorf("cannot determine the namespace: %w", err))
	}
	return ns, explicit, nil
}

// NewCmdConfig builds "kubectl envops config", the parent of "config view".
func NewCmdConfig(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect the project file .envops.yaml",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageError("missing subcommand: use \"kubectl envops config view\"")
		},
	}
	cmd.AddCommand(NewCmdConfigView(g, nil))
	return cmd
}

// ConfigViewOptions holds the flags of "kubectl envops config view".
type ConfigViewOptions struct {
	Output string

	cfg   *config.Config
	print *outputFlags
	genericiooptions.IOStreams
}

var configViewLong = templates.LongDesc(`
	Print the project file the commands use, with every default filled in: the
	file given by --config, or else the nearest .envops.yaml in the working
	directory or above it, or else the defaults alone.`)

var configViewExample = templates.Examples(`
	# Show the effective project configuration, defaults filled in
	kubectl envops config view

	# Show the configuration of another project file, as JSON
	kubectl envops config view --config ../other/.envops.yaml -o json

	# Show the context of the prod environment
	kubectl envops config view -o jsonpath='{.environments.prod.context}'`)

// NewCmdConfigView builds "kubectl envops config view". runF, when set,
// replaces Run so tests can inspect the parsed options.
func NewCmdConfigView(g *Globals, runF func(*ConfigViewOptions) error) *cobra.Command {
	o := &ConfigViewOptions{IOStreams: g.Streams}
	cmd := &cobra.Command{
		Use:     "view",
		Short:   "Print the effective .envops.yaml with defaults filled in",
		Long:    configViewLong,
		Example: configViewExample,
		Args:    cobra.NoArgs,
		RunE:    runOptions(g, o, runF),
	}
	o.output().addFlags(cmd, "Output format, default yaml with a comment naming the file.")
	return cmd
}

func (o *ConfigViewOptions) output() *outputFlags { return outputOf(&o.print, &o.Output, "yaml") }

// Complete loads the project file, once the output format is known good.
func (o *ConfigViewOptions) Complete(g *Globals, _ *cobra.Command, _ []string) error {
	if err := o.output().validate(); err != nil {
		return err
	}
	cfg, err := g.LoadConfig()
	o.cfg = cfg
	return err
}

// Validate checks the output format.
func (o *ConfigViewOptions) Validate() error {
	return o.output().validate()
}

// Run prints the configuration; the YAML form starts with a comment saying
// where it came from.
func (o *ConfigViewOptions) Run(context.Context) error {
	if !o.output().isOwn() {
		return o.output().printValue(o.Out, o.cfg)
	}
	b, err := yaml.Marshal(o.cfg)
	if err != nil {
		return err
	}
	source := "# from " + o.cfg.Path
	if o.cfg.Path == "" {
		source = fmt.Sprintf("# no %s found in %s or above: defaults", config.FileName, o.cfg.Dir())
	}
	_, err = fmt.Fprintf(o.Out, "%s\n%s", source, b)
	return err
}
