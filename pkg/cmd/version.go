package cmd

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"
	"sigs.k8s.io/yaml"

	"github.com/envops/kubectl-envops/pkg/version"
)

// VersionOptions holds the flags of "kubectl envops version".
type VersionOptions struct {
	Output string
	info   version.Info

	genericiooptions.IOStreams
}

var versionExample = templates.Examples(`
	# Print the plugin's version
	kubectl envops version

	# Print it as JSON, for scripts
	kubectl envops version -o json`)

// NewCmdVersion builds "kubectl envops version". runF, when set, replaces
// Run so tests can inspect the parsed options.
func NewCmdVersion(g *Globals, runF func(*VersionOptions) error) *cobra.Command {
	o := &VersionOptions{IOStreams: g.Streams}
	cmd := &cobra.Command{
		Use:     "version",
		Short:   "Print the plugin's version, commit, Go and client-go versions",
		Example: versionExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return o.Run()
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: one of json|yaml (default: text)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Complete reads the build's identity.
func (o *VersionOptions) Complete() error {
	o.info = version.Get()
	return nil
}

// Validate checks the output format.
func (o *VersionOptions) Validate() error {
	switch o.Output {
	case "", "json", "yaml":
		return nil
	}
	return usageError("unknown output format %q for --output: use json or yaml, or omit it for text", o.Output)
}

// Run prints the version.
func (o *VersionOptions) Run() error {
	switch o.Output {
	case "json":
		b, err := json.MarshalIndent(o.info, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(o.Out, string(b))
		return err
	case "yaml":
		b, err := yaml.Marshal(o.info)
		if err != nil {
			return err
		}
		_, err = o.Out.Write(b)
		return err
	}
	i := o.info
	_, err := fmt.Fprintf(o.Out, "kubectl-envops %s\n  commit:     %s\n  go:         %s\n  client-go:  %s\n  platform:   %s\n",
		i.Version, i.Commit, i.GoVersion, i.ClientGoVersion, i.Platform)
	return err
}
