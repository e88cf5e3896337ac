package cmd

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/kubectl/pkg/util/templates"
)

// optionsHint ends every command's help, in place of the global flags,
// which "kubectl envops options" prints once.
const optionsHint = `Use "kubectl envops options" for a list of global command-line options (applies to all commands).`

// NewCmdOptions builds "kubectl envops options": the global flags, printed
// once here rather than in the help of every command, as kubectl options
// does.
func NewCmdOptions(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "options",
		Short: "Print the flags every command takes (kubectl's global flags and --config)",
		Long: templates.LongDesc(`
			Print the flags every command of the plugin takes: kubectl's global
			flags (--kubeconfig, --context, -n, --as, --request-timeout, ...) and
			the project file's --config. Give them after "envops", as in
			"kubectl envops --context prod status".`),
		Example: templates.Examples(`
			# Print the flags every command takes
			kubectl envops options`),
		Args: noArgs("it prints the global flags"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, "The following options can be passed to any command:")
			fmt.Fprintln(out)
			_, err := io.WriteString(out, cmd.Root().PersistentFlags().FlagUsages())
			return err
		},
	}
}

// usage is the usage part of every command's help: the usage line,
// aliases, examples, subcommands and the command's own flags, then the
// line naming "kubectl envops options" instead of the global flags.
func usage(c *cobra.Command) error {
	var b strings.Builder
	b.WriteString("Usage:\n")
	if c.Runnable() {
		fmt.Fprintf(&b, "  %s\n", c.UseLine())
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(&b, "  %s [command]\n", c.CommandPath())
	}
	if len(c.Aliases) > 0 {
		fmt.Fprintf(&b, "\nAliases:\n  %s\n", c.NameAndAliases())
	}
	if c.HasExample() {
		fmt.Fprintf(&b, "\nExamples:\n%s\n", c.Example)
	}
	if c.HasAvailableSubCommands() {
		b.WriteString("\nAvailable Commands:\n")
		width := 0
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() || sub.Name() == "help" {
				width = max(width, len(sub.Name()))
			}
		}
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				fmt.Fprintf(&b, "  %-*s  %s\n", width, sub.Name(), sub.Short)
			}
		}
	}
	// The root's persistent flags are the global ones.
	flags := c.LocalFlags()
	if !c.HasParent() {
		flags = c.LocalNonPersistentFlags()
	}
	if flags.HasAvailableFlags() {
		fmt.Fprintf(&b, "\nFlags:\n%s", flags.FlagUsages())
	}
	b.WriteString("\n")
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(&b, "Use \"%s [command] --help\" for more information about a command.\n", c.CommandPath())
	}
	b.WriteString(optionsHint + "\n")
	_, err := io.WriteString(c.OutOrStderr(), b.String())
	return err
}
