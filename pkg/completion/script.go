package completion

import (
	"io"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Script writes the completion script of root for shell, one of Shells,
// with the descriptions of the choices when desc.
func Script(w io.Writer, root *cobra.Command, shell string, desc bool) error {
	switch shell {
	case "bash":
		return root.GenBashCompletionV2(w, desc)
	case "zsh":
		if desc {
			return root.GenZshCompletion(w)
		}
		return root.GenZshCompletionNoDesc(w)
	case "fish":
		return root.GenFishCompletion(w, desc)
	default:
		if desc {
			return root.GenPowerShellCompletionWithDesc(w)
		}
		return root.GenPowerShellCompletion(w)
	}
}

// KubeconfigFunc completes the names of kind ("context", "cluster" or
// "user") in the kubeconfig that raw reads when the shell asks, so that the
// kubeconfig and context typed on the same line are honoured.
func KubeconfigFunc(raw func() (clientcmdapi.Config, error), kind string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		cfg, err := raw()
		if err != nil {
			cobra.CompErrorln(err.Error())
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return WithPrefix(KubeconfigNames(&cfg, kind), toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// NamespaceFunc completes the namespaces of the cluster that client
// reaches when the shell asks.
func NamespaceFunc(client func() (kubernetes.Interface, error)) cobra.CompletionFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		cs, err := client()
		if err == nil {
			var names map[string]string
			if names, err = Namespaces(cmd.Context(), cs); err == nil {
				return WithPrefix(names, toComplete), cobra.ShellCompDirectiveNoFileComp
			}
		}
		cobra.CompErrorln(err.Error())
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}
