// Command kubectl-envops is the kubectl plugin "kubectl envops".
package main

import (
	"os"

	"github.com/envops/kubectl-envops/pkg/cmd"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	os.Exit(cmd.Execute(os.Args[1:], streams))
}
