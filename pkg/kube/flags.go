package kube

import "k8s.io/cli-runtime/pkg/genericclioptions"

// NewConfigFlags is kubectl's global flags, with a discovery burst for
// clusters that serve many APIs and every client on the retrying
// transport.
func NewConfigFlags() *genericclioptions.ConfigFlags {
	return genericclioptions.NewConfigFlags(true).WithDiscoveryBurst(300).WithWrapConfigFn(WithTransientRetries)
}

// CopyConfigFlags copies the flags that say which kubeconfig, namespace,
// credentials and request bound to use, leaving out the context, for a
// command that reads another context with the same flags. Each copy gets a
// client factory of its own, since a factory keeps the first context it
// loads.
func CopyConfigFlags(src *genericclioptions.ConfigFlags) *genericclioptions.ConfigFlags {
	cf := NewConfigFlags()
	for _, f := range []struct{ dst, from *string }{
		{cf.KubeConfig, src.KubeConfig}, {cf.Namespace, src.Namespace}, {cf.Impersonate, src.Impersonate},
		{cf.Username, src.Username}, {cf.BearerToken, src.BearerToken}, {cf.Timeout, src.Timeout},
	} {
		if f.dst != nil && f.from != nil {
			*f.dst = *f.from
		}
	}
	if src.ImpersonateGroup != nil {
		*cf.ImpersonateGroup = append([]string(nil), *src.ImpersonateGroup...)
	}
	return cf
}
