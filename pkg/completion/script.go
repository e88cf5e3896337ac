package completion

import (
	"io"

	"github.com/spf13/cobra"
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
