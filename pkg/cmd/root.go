// Package cmd wires the kubectl-envops commands: flags are parsed into
// Options structs, and each command's Complete, Validate and Run do the work.
package cmd

import (
	"fmt"
	"io"
	"log"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/envops/kubectl-envops/pkg/kube"
	"github.com/envops/kubectl-envops/pkg/text"
)

// Globals is what every command shares: kubectl's global flags, the client
// factory built on them, and the process's streams.
type Globals struct {
	ConfigFlags *genericclioptions.ConfigFlags
	Factory     cmdutil.Factory
	Streams     genericiooptions.IOStreams
	// ConfigPath is the project file given by --config ("" = search upward).
	ConfigPath string

	// stepTimeout is the command's own --timeout, which bounds a
	// credential plugin too; verbosity is -v.
	stepTimeout time.Duration
	verbosity   int
	// kubeconfigErr is the check of the kubeconfig files, once made.
	kubeconfigChecked bool
	kubeconfigErr     error
}

var rootLong = templates.LongDesc(`
	kubectl envops does the chores of a platform team that runs one cluster per
	environment: it knows which environment a cluster is (from the environment
	Secret the cluster carries), renders each app's kustomize overlay for that
	environment, deploys it with a resumable rolling update, and keeps the
	label convention that monitoring depends on.

	It talks to clusters only through your kubeconfig and context. Put kubectl's
	global flags after "envops", for example "kubectl envops --context prod version".
	Each request to an API server gives up after --request-timeout (default 30s;
	0 waits for ever), retries included; a watch only until the server answers.`)

// The commands that bound a step use kube's time bound.
var withTimeoutCause = kube.WithTimeoutCause

// NewRootCmd builds the "kubectl envops" command tree.
func NewRootCmd(streams genericiooptions.IOStreams) *cobra.Command {
	root, _ := newRoot(streams)
	return root
}

// newRoot builds the command tree and the Globals its commands share.
func newRoot(streams genericiooptions.IOStreams) (*cobra.Command, *Globals) {
	configFlags := kube.NewConfigFlags()
	// A bounded default, so that a server that never answers fails the
	// command; the flag's help shows it.
	requestTimeout := kube.DefaultRequestTimeout.String()
	configFlags.Timeout = &requestTimeout
	g := &Globals{
		ConfigFlags: configFlags,
		Streams:     streams,
	}
	configFlags.WithWrapConfigFn(g.wrapConfig)
	g.Factory = cmdutil.NewFactory(checkedGetter{ConfigFlags: configFlags, check: g.checkKubeconfig})
	root := &cobra.Command{
		Use:           "kubectl-envops",
		Short:         "Environment-aware deploys, label hygiene and node agents for one-cluster-per-environment teams",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl envops",
		},
		// Runnable, so that cobra checks its arguments: a word that is no
		// command is a usage error, not a request for help.
		Args: unknownCommand,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return g.prepare(cmd)
		},
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("%v; see '%s --help'", err, c.CommandPath())
	})
	configFlags.AddFlags(root.PersistentFlags())
	// kubectl's global flags are printed once, by "options".
	root.SetUsageFunc(usage)
	root.CompletionOptions.DisableDefaultCmd = true
	registerGlobalFlagCompletions(root, g)
	root.PersistentFlags().StringVar(&g.ConfigPath, "config", "", "Path of the project file (default: the nearest .envops.yaml in this directory or above)")
	root.PersistentFlags().IntVarP(&g.verbosity, "v", "v", 0, "Log level of client-go's own log lines, printed on stderr from 1 up, as kubectl's -v")

	root.AddCommand(NewCmdVersion(g, nil), NewCmdConfig(g), NewCmdInitEnv(g, nil), NewCmdEnv(g, nil),
		NewCmdNew(g, nil), NewCmdGenerate(g, nil), NewCmdCompletion(g, nil), NewCmdLint(g, nil),
		NewCmdNodeAgent(g, nil), NewCmdDeploy(g, nil), NewCmdRBAC(g, nil), NewCmdHistory(g, nil),
		NewCmdStatus(g, nil), NewCmdPromote(g, nil), NewCmdTop(g, nil), NewCmdOptions(g))
	argsAreUsage(root)
	return root, g
}

// unknownCommand refuses an argument of the root command, which takes none.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		// cobra's own default for its suggestions.
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		return usageError("%s: did you mean %q?", msg, s[0])
	}
	return usageError("%s; see '%s --help'", msg, cmd.CommandPath())
}

// argsAreUsage makes the argument checks of every command, cobra's own
// included, return UsageErrors.
func argsAreUsage(c *cobra.Command) {
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			err := check(cmd, args)
			if err == nil || isA[*UsageError](err) {
				return err
			}
			return &UsageError{Err: err}
		}
	}
	for _, sub := range c.Commands() {
		argsAreUsage(sub)
	}
}

// Execute runs the command line and returns the process exit code; errors
// are printed as one line on the error stream.
func Execute(args []string, streams genericiooptions.IOStreams) int {
	if len(args) > 0 && args[0] == kube.CredentialPluginCommand {
		// client-go runs this binary in place of a credential plugin.
		return kube.RunCredentialPlugin(args[1:], streams.In, streams.Out, streams.ErrOut)
	}
	// kustomize writes warnings through the standard logger, timestamped,
	// straight to stderr; what matters reaches the user as an error.
	log.SetOutput(io.Discard)
	// So does client-go, through klog; -v lets it through (see prepare).
	routeLogs(0, nil)
	root, g := newRoot(streams)
	root.SetArgs(args)
	c, err := root.ExecuteC()
	if err == nil {
		return ExitOK
	}
	code := ExitCode(err)
	if isA[*SilentError](err) {
		return code
	}
	// An error may quote a server, a file or a Secret: escaped, it stays
	// one line that cannot forge another ("::error::...") or drive the
	// terminal.
	fmt.Fprintf(streams.ErrOut, "error: %s\n", text.Escape(strings.TrimSpace(translateError(g.explain(err), c.CommandPath()).Error())))
	return code
}
