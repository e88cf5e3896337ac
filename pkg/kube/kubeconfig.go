package kube

import (
	"k8s.io/client-go/tools/clientcmd"

	"github.com/envops/kubectl-envops/pkg/inputfile"
)

// MaxKubeconfigBytes bounds each kubeconfig file. One of 10,000 contexts,
// each with its own certificate and key, is about 60 MiB; one of a few
// hundred contexts is well under 1 MiB.
const MaxKubeconfigBytes = 64 << 20

// CheckKubeconfigFiles refuses the kubeconfig files that kubectl's flags
// select (explicit, the --kubeconfig path; else each file of $KUBECONFIG;
// else ~/.kube/config) when one is not a regular file or is larger than
// MaxKubeconfigBytes, before client-go reads it whole: --kubeconfig
// /dev/zero, or a FIFO, would otherwise fill the memory or wait for ever.
func CheckKubeconfigFiles(explicit string) error {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = explicit
	for _, path := range rules.GetLoadingPrecedence() {
		if err := inputfile.Check(path, "kubeconfig", MaxKubeconfigBytes); err != nil {
			return err
		}
	}
	return nil
}
