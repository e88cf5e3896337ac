package cmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/envops/kubectl-envops/pkg/version"
)

// VersionOptions holds the flags of "kubectl envops version".
type VersionOptions struct {
	Output string
	// Client is kubectl's --client, which scripts pass: the plugin's
	// version never asks a server, so it changes nothing.
	Client bool

	print *outputFlags
	genericiooptions.IOStreams
}

var versionExample = templates.Examples(`
	# Print the plugin's version
	kubectl envops version

	# Print it as JSON, for scripts
	kubectl envops version -o json

	# Print the version alone
	kubectl envops version -o jsonpath='{.version}'`)

// NewCmdVersion builds "kubectl envops version"; runF replaces Run in tests.
func NewCmdVersion(g *Globals, runF func(*VersionOptions) error) *cobra.Command {
	o := &VersionOptions{IOStreams: g.Streams}
	cmd := &cobra.Command{Use: "version", Short: "Print the plugin's version, commit, Go and client-go versions",
		Example: versionExample, Args: cobra.NoArgs, RunE: runOptions(g, o, runF)}
	o.output().addFlags(cmd, "Output format, default text.")
	cmd.Flags().BoolVar(&o.Client, "client", false, "Print the plugin's own version only, as kubectl version --client does; the same as without it, since version never contacts a server")
	return cmd
}

func (o *VersionOptions) output() *outputFlags { return outputOf(&o.print, &o.Output) }

// Complete has nothing to resolve: the build's identity is fixed.
func (o *VersionOptions) Complete(*Globals, *cobra.Command, []string) error { return nil }

// Validate checks the output format.
func (o *VersionOptions) Validate() error { return o.output().validate() }

// Run prints the build's identity.
func (o *VersionOptions) Run(context.Context) error {
	i := version.Get()
	if !o.output().isOwn() {
		return o.output().printValue(o.Out, i)
	}
	_, err := fmt.Fprintf(o.Out, "kubectl-envops %s\n  commit:     %s\n  go:         %s\n  client-go:  %s\n  platform:   %s\n",
		i.Version, i.Commit, i.GoVersion, i.ClientGoVersion, i.Platform)
	return err
}
