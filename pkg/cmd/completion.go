package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"

	"github.com/envops/kubectl-envops/pkg/completion"
	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/render"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/kubectl/pkg/util/templates"
)

// CompletionOptions holds the flags of "kubectl envops completion SHELL".
type CompletionOptions struct {
	Shell          string
	NoDescriptions bool

	root *cobra.Command
	genericiooptions.IOStreams
}

var completionLong = templates.LongDesc(`
	Print a shell completion script for the kubectl-envops program, or set up
	completion of "kubectl envops".

	Pressing Tab after "kubectl envops" runs kubectl's own completion, which asks
	the kubectl_complete-envops executable found on PATH. The release archives
	ship it beside kubectl-envops; krew does not link it, so krew users run
	"kubectl envops completion install" once, which writes it beside the
	installed plugin. Completion offers commands, flags, environments from
	.envops.yaml, apps from the apps directory, kubeconfig contexts and the
	cluster's namespaces.

	The scripts printed for bash, zsh, fish and powershell complete the
	kubectl-envops program when it is run by that name.`)

var completionExample = templates.Examples(`
	# Complete "kubectl envops <TAB>" after installing the plugin with krew
	kubectl envops completion install

	# Complete kubectl-envops in every new bash shell
	echo 'source <(kubectl-envops completion bash)' >> ~/.bashrc

	# Complete kubectl-envops in zsh
	kubectl-envops completion zsh > "${fpath[1]}/_kubectl-envops"

	# Complete kubectl-envops in fish
	kubectl-envops completion fish > ~/.config/fish/completions/kubectl-envops.fish`)

// NewCmdCompletion builds "kubectl envops completion SHELL" and its
// "install" subcommand. runF, when set, replaces Run so tests can inspect
// the parsed options.
func NewCmdCompletion(g *Globals, runF func(*CompletionOptions) error) *cobra.Command {
	o := &CompletionOptions{IOStreams: g.Streams}
	cmd := &cobra.Command{
		Use:       "completion SHELL",
		Short:     "Print a shell completion script, or install completion for \"kubectl envops\"",
		Long:      completionLong,
		Example:   completionExample,
		ValidArgs: completion.Shells,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("name one shell: %s (or run %q)", strings.Join(completion.Shells, ", "), cmd.CommandPath()+" install")
			}
			return nil
		},
		RunE: runOptions(g, o, runF),
	}
	cmd.Flags().BoolVar(&o.NoDescriptions, "no-descriptions", false, "Leave out the descriptions of completion choices")
	cmd.AddCommand(NewCmdCompletionInstall(g, nil))
	return cmd
}

// Complete takes the shell from the arguments and the command tree the
// script describes.
func (o *CompletionOptions) Complete(_ *Globals, cmd *cobra.Command, args []string) error {
	o.Shell = args[0]
	o.root = cmd.Root()
	return nil
}

// Validate checks the shell name.
func (o *CompletionOptions) Validate() error {
	if slices.Contains(completion.Shells, o.Shell) {
		return nil
	}
	return usageError("unsupported shell %q: use one of %s", o.Shell, strings.Join(completion.Shells, ", "))
}

// Run prints the script.
func (o *CompletionOptions) Run(context.Context) error {
	return completion.Script(o.Out, o.root, o.Shell, !o.NoDescriptions)
}

// CompletionInstallOptions holds the flags of "kubectl envops completion install".
type CompletionInstallOptions struct {
	// Dir receives kubectl_complete-envops; by default the directory of the
	// kubectl-envops that kubectl runs (the first on PATH).
	Dir string

	plan completion.Plan
	// These are os.Executable, exec.LookPath and runtime.GOOS; tests replace them.
	executable func() (string, error)
	lookPath   func(string) (string, error)
	goos       string

	genericiooptions.IOStreams
}

var completionInstallLong = templates.LongDesc(`
	Write kubectl_complete-envops beside the installed plugin, so that kubectl's
	own shell completion completes the commands, flags and arguments of
	"kubectl envops".

	It copies the kubectl_complete-envops that ships beside the plugin (in the
	release archive and in krew's installation). Where there is none, as after
	"go install", it writes a small shell script instead. Either one asks the
	plugin found beside it, so it stays right when the plugin is upgraded.
	kubectl's own completion must be set up in the shell (see "kubectl
	completion --help").`)

var completionInstallExample = templates.Examples(`
	# After "kubectl krew install envops"
	kubectl envops completion install

	# Write it into a directory of your choice (it must be on PATH)
	kubectl envops completion install --dir ~/bin`)

// NewCmdCompletionInstall builds "kubectl envops completion install".
// runF, when set, replaces Run so tests can inspect the parsed options.
func NewCmdCompletionInstall(g *Globals, runF func(*CompletionInstallOptions) error) *cobra.Command {
	o := &CompletionInstallOptions{
		IOStreams:  g.Streams,
		executable: os.Executable,
		lookPath:   exec.LookPath,
		goos:       runtime.GOOS,
	}
	cmd := &cobra.Command{
		Use:     "install",
		Short:   "Write kubectl_complete-envops beside the installed plugin, for \"kubectl envops <TAB>\"",
		Long:    completionInstallLong,
		Example: completionInstallExample,
		Args:    cobra.NoArgs,
		RunE:    runOptions(g, o, runF),
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "", "Directory to write kubectl_complete-envops into (default: the directory of kubectl-envops on PATH)")
	_ = cmd.MarkFlagDirname("dir")
	return cmd
}

func (o *CompletionInstallOptions) host() completion.Host {
	return completion.Host{Executable: o.executable, LookPath: o.lookPath, GOOS: o.goos}
}

// Complete finds the target directory and the shipped completion executable.
func (o *CompletionInstallOptions) Complete(*Globals, *cobra.Command, []string) error {
	plan, err := completion.Locate(o.host(), o.Dir)
	o.plan, o.Dir = plan, plan.Dir
	return err
}

// Validate checks that there is a directory to write into and something to
// write on this platform.
func (o *CompletionInstallOptions) Validate() error {
	err := o.plan.Check(o.host())
	if errors.Is(err, completion.ErrNoDir) {
		return &UsageError{Err: err}
	}
	return err
}

// Run writes the completion executable.
func (o *CompletionInstallOptions) Run(context.Context) error {
	what, err := completion.Install(o.plan)
	switch {
	case err != nil:
		return err
	case what == "":
		fmt.Fprintf(o.Out, "%s is already in place\n", o.plan.Target)
		return nil
	}
	fmt.Fprintf(o.Out, "wrote %s (%s)\n", o.plan.Target, what)
	if !completion.OnPath(o.Dir) {
		fmt.Fprintf(o.ErrOut, "warning: %s is not on PATH; kubectl looks for %s there\n", o.Dir, completion.CompletionExecutable)
	}
	return nil
}

// registerGlobalFlagCompletions completes kubectl's global flags: contexts,
// clusters and users from the kubeconfig, namespaces from the cluster. The
// kubeconfig and context typed on the same line are honoured.
func registerGlobalFlagCompletions(root *cobra.Command, g *Globals) {
	// Every one of these flags comes from ConfigFlags; a missing one is a
	// programming error that the completion tests show.
	raw := func() (clientcmdapi.Config, error) { return g.Factory.ToRawKubeConfigLoader().RawConfig() }
	for _, flag := range []string{"context", "cluster", "user"} {
		_ = root.RegisterFlagCompletionFunc(flag, completion.KubeconfigFunc(raw, flag))
	}
	_ = root.RegisterFlagCompletionFunc("namespace", completion.NamespaceFunc(func() (kubernetes.Interface, error) { return g.Factory.KubernetesClientSet() }))
}

// appNameCompletion offers the app names of the project as the first
// argument.
func appNameCompletion(g *Globals) cobra.CompletionFunc {
	return projectNames(g, true, cobra.ShellCompDirectiveNoFileComp, func(cfg *config.Config) []string {
		apps, _ := render.Apps(cfg)
		return apps
	})
}

// environmentNameCompletion offers the environments of the project file.
func environmentNameCompletion(g *Globals) cobra.CompletionFunc {
	return projectNames(g, false, cobra.ShellCompDirectiveNoFileComp, (*config.Config).EnvironmentNames)
}

// environmentListCompletion offers the environments of the project file
// for a comma-separated list: after "dev,", the others, each following it.
func environmentListCompletion(g *Globals) cobra.CompletionFunc {
	single := environmentNameCompletion(g)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		names, directive := single(cmd, args, toComplete)
		return listItems(names, toComplete), directive
	}
}

// listItems completes the last item of a comma-separated list: the names
// not yet in it, each after the items typed.
func listItems(names []string, toComplete string) []string {
	i := strings.LastIndexByte(toComplete, ',')
	if i < 0 {
		return names
	}
	named := strings.Split(toComplete[:i], ",")
	var out []string
	for _, n := range names {
		if !slices.Contains(named, n) {
			out = append(out, toComplete[:i+1]+n)
		}
	}
	return out
}

// projectNames offers names read from the project file, as the first
// argument only when firstArg; a project file that cannot be read gives
// onError.
func projectNames(g *Globals, firstArg bool, onError cobra.ShellCompDirective, names func(*config.Config) []string) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if firstArg && len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		cfg, err := g.LoadConfig()
		if err != nil {
			return nil, onError
		}
		return names(cfg), cobra.ShellCompDirectiveNoFileComp
	}
}
