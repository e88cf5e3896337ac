package kube

import (
	"fmt"
	"maps"
	"slices"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

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

// MaxKubeconfigFileBytes bounds each file a kubeconfig names: a
// certificate authority bundle, a client certificate or key, a token.
const MaxKubeconfigFileBytes = 4 << 20

// CheckKubeconfigReferences refuses the files that raw names for its
// clusters and users (certificate-authority, client-certificate,
// client-key, tokenFile) when one is not a regular file or is larger than
// MaxKubeconfigFileBytes: client-go reads each whole when it builds a
// client, and would wait on a FIFO for ever.
func CheckKubeconfigReferences(raw clientcmdapi.Config) error {
	for _, name := range slices.Sorted(maps.Keys(raw.Clusters)) {
		if c := raw.Clusters[name]; c != nil && c.CertificateAuthority != "" {
			if err := inputfile.Check(c.CertificateAuthority, fmt.Sprintf("the certificate-authority of cluster %q", name), MaxKubeconfigFileBytes); err != nil {
				return err
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(raw.AuthInfos)) {
		u := raw.AuthInfos[name]
		if u == nil {
			continue
		}
		for _, f := range []struct{ field, path string }{{"client-certificate", u.ClientCertificate}, {"client-key", u.ClientKey}, {"tokenFile", u.TokenFile}} {
			if f.path == "" {
				continue
			}
			if err := inputfile.Check(f.path, fmt.Sprintf("the %s of user %q", f.field, name), MaxKubeconfigFileBytes); err != nil {
				return err
			}
		}
	}
	return nil
}
