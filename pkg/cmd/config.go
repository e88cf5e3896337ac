package cmd

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
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

	loadConfig func() (*config.Config, error)
	cfg        *config.Config
	genericiooptions.IOStreams
}

var configViewExample = templates.Examples(`
	# Show the effective project configuration, defaults filled in
	kubectl envops config view

	# Show the configuration of another project file, as JSON
	kubectl envops config view --config ../other/.envops.yaml -o json`)

// NewCmdConfigView builds "kubectl envops config view". runF, when set,
// replaces Run so tests can inspect the parsed options.
func NewCmdConfigView(g *Globals, runF func(*ConfigViewOptions) error) *cobra.Command {
	o := &ConfigViewOptions{IOStreams: g.Streams, loadConfig: g.LoadConfig}
	cmd := &cobra.Command{
		Use:     "view",
		Short:   "Print the effective .envops.yaml with defaults filled in",
		Example: configViewExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			if err := o.Complete(); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return o.Run()
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "yaml", "Output format: one of yaml|json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Validate checks the output format before any file is read.
func (o *ConfigViewOptions) Validate() error {
	switch o.Output {
	case "yaml", "json":
		return nil
	}
	return usageError("unknown output format %q for --output: use yaml or json", o.Output)
}

// Complete loads the project file.
func (o *ConfigViewOptions) Complete() error {
	cfg, err := o.loadConfig()
	if err != nil {
		return err
	}
	o.cfg = cfg
	return nil
}

// Run prints the configuration; the YAML form starts with a comment saying
// where it came from.
func (o *ConfigViewOptions) Run() error {
	if o.Output == "json" {
		b, err := json.MarshalIndent(o.cfg, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(o.Out, string(b))
		return err
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
