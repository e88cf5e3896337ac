package cmd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/kubectl/pkg/util/templates"
)

// Names of the plugin's executables, without the ".exe" of Windows.
const (
	pluginExecutable     = "kubectl-envops"
	completionExecutable = "kubectl_complete-envops"
)

// completionShells are the shells "completion SHELL" writes scripts for.
var completionShells = []string{"bash", "zsh", "fish", "powershell"}

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
		ValidArgs: completionShells,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("name one shell: %s (or run %q)", strings.Join(completionShells, ", "), cmd.CommandPath()+" install")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd, args); err != nil {
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
	cmd.Flags().BoolVar(&o.NoDescriptions, "no-descriptions", false, "Leave out the descriptions of completion choices")
	cmd.AddCommand(NewCmdCompletionInstall(g, nil))
	return cmd
}

// Complete takes the shell from the arguments and the command tree the
// script describes.
func (o *CompletionOptions) Complete(cmd *cobra.Command, args []string) error {
	o.Shell = args[0]
	o.root = cmd.Root()
	return nil
}

// Validate checks the shell name.
func (o *CompletionOptions) Validate() error {
	for _, s := range completionShells {
		if o.Shell == s {
			return nil
		}
	}
	return usageError("unsupported shell %q: use one of %s", o.Shell, strings.Join(completionShells, ", "))
}

// Run prints the script.
func (o *CompletionOptions) Run() error {
	desc := !o.NoDescriptions
	switch o.Shell {
	case "bash":
		return o.root.GenBashCompletionV2(o.Out, desc)
	case "zsh":
		if desc {
			return o.root.GenZshCompletion(o.Out)
		}
		return o.root.GenZshCompletionNoDesc(o.Out)
	case "fish":
		return o.root.GenFishCompletion(o.Out, desc)
	default:
		if desc {
			return o.root.GenPowerShellCompletionWithDesc(o.Out)
		}
		return o.root.GenPowerShellCompletion(o.Out)
	}
}

// CompletionInstallOptions holds the flags of "kubectl envops completion install".
type CompletionInstallOptions struct {
	// Dir receives kubectl_complete-envops; by default the directory of the
	// kubectl-envops that kubectl runs (the first on PATH).
	Dir string

	// target is the file written; source is the shipped completion
	// executable to copy, or "" to write a script.
	target string
	source string

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
	cmd.Flags().StringVar(&o.Dir, "dir", "", "Directory to write kubectl_complete-envops into (default: the directory of kubectl-envops on PATH)")
	_ = cmd.MarkFlagDirname("dir")
	return cmd
}

func (o *CompletionInstallOptions) exe(name string) string {
	if o.goos == "windows" {
		return name + ".exe"
	}
	return name
}

// Complete finds the target directory and the shipped completion executable.
func (o *CompletionInstallOptions) Complete() error {
	if o.Dir == "" {
		plugin, err := o.lookPath(pluginExecutable)
		if err != nil {
			return fmt.Errorf("%s is not on PATH, so kubectl cannot run it as a plugin: put its directory on PATH, or name a directory with --dir", pluginExecutable)
		}
		o.Dir = filepath.Dir(plugin)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return fmt.Errorf("cannot resolve --dir %s: %w", o.Dir, err)
	}
	o.Dir = dir
	o.target = filepath.Join(o.Dir, o.exe(completionExecutable))

	// krew links only the plugin into its bin directory; the shipped
	// completion executable stays beside the real file, in krew's store.
	self, err := o.executable()
	if err != nil {
		return fmt.Errorf("cannot locate the running kubectl-envops: %w", err)
	}
	if real, err := filepath.EvalSymlinks(self); err == nil {
		self = real
	}
	shipped := filepath.Join(filepath.Dir(self), o.exe(completionExecutable))
	if info, err := os.Stat(shipped); err == nil && info.Mode().IsRegular() {
		o.source = shipped
	}
	return nil
}

// Validate checks that there is a directory to write into and something to
// write on this platform.
func (o *CompletionInstallOptions) Validate() error {
	info, err := os.Stat(o.Dir)
	if err != nil || !info.IsDir() {
		return usageError("directory %s does not exist: create it or choose another with --dir", o.Dir)
	}
	if o.source == "" && o.goos == "windows" {
		return fmt.Errorf("%s was not found beside kubectl-envops.exe: install kubectl-envops from a release archive or with krew, which ship it", o.exe(completionExecutable))
	}
	return nil
}

// completionScript answers kubectl's completion requests by asking the
// plugin beside it, or on PATH, through cobra's __complete command.
const completionScript = `#!/bin/sh
# Written by "kubectl envops completion install". kubectl runs this with the
# words typed after "kubectl envops"; the plugin prints the choices.
dir=$(dirname "$0")
if [ -x "$dir/kubectl-envops" ]; then
	exec "$dir/kubectl-envops" __complete "$@"
fi
exec kubectl-envops __complete "$@"
`

// Run writes the completion executable, replacing an older one atomically.
func (o *CompletionInstallOptions) Run() error {
	content := []byte(completionScript)
	what := "a script that asks " + pluginExecutable
	if o.source != "" {
		if same(o.source, o.target) {
			fmt.Fprintf(o.Out, "%s is already in place\n", o.target)
			return nil
		}
		b, err := os.ReadFile(o.source)
		if err != nil {
			return fmt.Errorf("cannot read %s: %w", o.source, err)
		}
		content = b
		what = "a copy of " + o.source
	}
	if err := writeExecutable(o.target, content); err != nil {
		return fmt.Errorf("cannot write %s: %w; choose a writable directory on PATH with --dir", o.target, err)
	}
	fmt.Fprintf(o.Out, "wrote %s (%s)\n", o.target, what)
	if !onPath(o.Dir) {
		fmt.Fprintf(o.ErrOut, "warning: %s is not on PATH; kubectl looks for %s there\n", o.Dir, completionExecutable)
	}
	return nil
}

func same(a, b string) bool {
	ai, err := os.Stat(a)
	if err != nil {
		return false
	}
	bi, err := os.Stat(b)
	return err == nil && os.SameFile(ai, bi)
}

func writeExecutable(path string, content []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func onPath(dir string) bool {
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if abs, err := filepath.Abs(d); err == nil && abs == dir {
			return true
		}
	}
	return false
}

// namespaceCompletionTimeout bounds the wait for an unreachable cluster, so
// that a TAB never hangs the shell.
const namespaceCompletionTimeout = 5 * time.Second

// registerGlobalFlagCompletions completes kubectl's global flags: contexts,
// clusters and users from the kubeconfig, namespaces from the cluster. The
// kubeconfig and context typed on the same line are honoured.
func registerGlobalFlagCompletions(root *cobra.Command, g *Globals) {
	completions := map[string]cobra.CompletionFunc{
		"context": kubeconfigNames(g, func(c *clientcmdapi.Config) map[string]string {
			names := map[string]string{}
			for name, ctx := range c.Contexts {
				names[name] = "cluster " + ctx.Cluster
			}
			return names
		}),
		"cluster": kubeconfigNames(g, func(c *clientcmdapi.Config) map[string]string {
			names := map[string]string{}
			for name, cluster := range c.Clusters {
				names[name] = cluster.Server
			}
			return names
		}),
		"user": kubeconfigNames(g, func(c *clientcmdapi.Config) map[string]string {
			names := map[string]string{}
			for name := range c.AuthInfos {
				names[name] = ""
			}
			return names
		}),
		"namespace": namespaceNames(g),
	}
	for flag, f := range completions {
		// Every one of these flags comes from ConfigFlags; a missing one
		// is a programming error that the completion tests show.
		_ = root.RegisterFlagCompletionFunc(flag, f)
	}
}

// kubeconfigNames completes names read from the kubeconfig, each with the
// description pick gives it.
func kubeconfigNames(g *Globals, pick func(*clientcmdapi.Config) map[string]string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		raw, err := g.Factory.ToRawKubeConfigLoader().RawConfig()
		if err != nil {
			cobra.CompErrorln(err.Error())
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return withPrefix(pick(&raw), toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// namespaceNames completes the namespaces of the cluster that the command
// line selects.
func namespaceNames(g *Globals) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		cs, err := g.Factory.KubernetesClientSet()
		if err != nil {
			cobra.CompErrorln(err.Error())
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		parent := cmd.Context()
		if parent == nil {
			parent = context.Background()
		}
		ctx, cancel := context.WithTimeout(parent, namespaceCompletionTimeout)
		defer cancel()
		list, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			cobra.CompErrorln(err.Error())
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names := map[string]string{}
		for _, ns := range list.Items {
			names[ns.Name] = ""
		}
		return withPrefix(names, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// withPrefix returns the names that start with prefix, sorted, each with
// its description when it has one.
func withPrefix(names map[string]string, prefix string) []cobra.Completion {
	keys := make([]string, 0, len(names))
	for k := range names {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	comps := make([]cobra.Completion, 0, len(keys))
	for _, k := range keys {
		if d := names[k]; d != "" {
			comps = append(comps, cobra.CompletionWithDesc(k, d))
		} else {
			comps = append(comps, k)
		}
	}
	return comps
}
