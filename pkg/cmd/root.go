// Package cmd wires the kubectl-envops commands: flags are parsed into
// Options structs, and each command's Complete, Validate and Run do the work.
package cmd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"
)

// Exit codes shared by every command.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// ExitCodeError carries a specific exit code up to Execute.
type ExitCodeError struct {
	Code int
	Err  error
}

func (e *ExitCodeError) Error() string { return e.Err.Error() }
func (e *ExitCodeError) Unwrap() error { return e.Err }

// usageError marks an error in the command line (exit code 2).
func usageError(format string, a ...any) error {
	return &ExitCodeError{Code: ExitUsage, Err: fmt.Errorf(format, a...)}
}

// Globals is what every command shares: kubectl's global flags, the client
// factory built on them, and the process's streams.
type Globals struct {
	ConfigFlags *genericclioptions.ConfigFlags
	Factory     cmdutil.Factory
	Streams     genericiooptions.IOStreams
	// ConfigPath is the project file given by --config ("" = search upward).
	ConfigPath string
}

var rootLong = templates.LongDesc(`
	kubectl envops does the chores of a platform team that runs one cluster per
	environment: it knows which environment a cluster is (from the environment
	Secret the cluster carries), renders each app's kustomize overlay for that
	environment, deploys it with a resumable rolling update, and keeps the
	label convention that monitoring depends on.

	It talks to clusters only through your kubeconfig and context. Put kubectl's
	global flags after "envops", for example "kubectl envops --context prod version".`)

// NewRootCmd builds the "kubectl envops" command tree.
func NewRootCmd(streams genericiooptions.IOStreams) *cobra.Command {
	configFlags := genericclioptions.NewConfigFlags(true).WithDiscoveryBurst(300).WithWrapConfigFn(withTransientRetries)
	g := &Globals{
		ConfigFlags: configFlags,
		Factory:     cmdutil.NewFactory(configFlags),
		Streams:     streams,
	}
	root := &cobra.Command{
		Use:           "kubectl-envops",
		Short:         "Environment-aware deploys, label hygiene and node agents for one-cluster-per-environment teams",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl envops",
		},
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("%v; see '%s --help'", err, c.CommandPath())
	})
	configFlags.AddFlags(root.PersistentFlags())
	root.CompletionOptions.DisableDefaultCmd = true
	registerGlobalFlagCompletions(root, g)
	root.PersistentFlags().StringVar(&g.ConfigPath, "config", "", "Path of the project file (default: the nearest .envops.yaml in this directory or above)")

	root.AddCommand(NewCmdVersion(g, nil))
	root.AddCommand(NewCmdConfig(g))
	root.AddCommand(NewCmdInitEnv(g, nil))
	root.AddCommand(NewCmdEnv(g, nil))
	root.AddCommand(NewCmdNew(g, nil))
	root.AddCommand(NewCmdGenerate(g, nil))
	root.AddCommand(NewCmdCompletion(g, nil))
	root.AddCommand(NewCmdLint(g, nil))
	root.AddCommand(NewCmdNodeAgent(g, nil))
	root.AddCommand(NewCmdDeploy(g, nil))
	root.AddCommand(NewCmdRBAC(g, nil))
	root.AddCommand(NewCmdHistory(g, nil))
	root.AddCommand(NewCmdStatus(g, nil))
	root.AddCommand(NewCmdPromote(g, nil))
	return root
}

// Execute runs the command line and returns the process exit code; errors
// are printed as one line on the error stream.
func Execute(args []string, streams genericiooptions.IOStreams) int {
	root := NewRootCmd(streams)
	root.SetArgs(args)
	c, err := root.ExecuteC()
	if err == nil {
		return ExitOK
	}
	err = translateError(err, c.CommandPath())
	code := ExitError
	var ec *ExitCodeError
	if errors.As(err, &ec) {
		code = ec.Code
	} else if isCobraUsageError(err) {
		code = ExitUsage
	}
	if ec == nil || ec.Err != nil {
		fmt.Fprintf(streams.ErrOut, "error: %s\n", strings.TrimSpace(err.Error()))
	}
	return code
}

// isCobraUsageError recognises the argument errors cobra itself raises.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "invalid argument", "unknown flag", "unknown shorthand flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
