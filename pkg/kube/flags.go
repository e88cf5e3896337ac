package kube

import "k8s.io/cli-runtime/pkg/genericclioptions"

// NewConfigFlags is kubectl's global flags, with a discovery burst for
// clusters that serve many APIs and every client on the retrying
// transport.
func NewConfigFlags() *genericclioptions.ConfigFlags {
	return genericclioptions.NewConfigFlags(true).WithDiscoveryBurst(300).WithWrapConfigFn(WithTransientRetries)
}

// Derive returns a copy of kubectl's flags src with every value kept
// except the context and the namespace, which are set to kubeContext and
// namespace when they are not empty: the flags of one target, resolved
// once, while src stays as the user gave it. Each copy loads its own view
// of the kubeconfig and builds its own clients, since a loader keeps the
// first context it reads.
func Derive(src *genericclioptions.ConfigFlags, kubeContext, namespace string) *genericclioptions.ConfigFlags {
	cf := NewConfigFlags()
	if src.WrapConfigFn != nil {
		cf.WrapConfigFn = src.WrapConfigFn
	}
	for _, f := range []struct{ dst, from *string }{
		{cf.CacheDir, src.CacheDir}, {cf.KubeConfig, src.KubeConfig},
		{cf.ClusterName, src.ClusterName}, {cf.AuthInfoName, src.AuthInfoName},
		{cf.Context, src.Context}, {cf.Namespace, src.Namespace},
		{cf.APIServer, src.APIServer}, {cf.TLSServerName, src.TLSServerName},
		{cf.CertFile, src.CertFile}, {cf.KeyFile, src.KeyFile}, {cf.CAFile, src.CAFile},
		{cf.BearerToken, src.BearerToken}, {cf.Impersonate, src.Impersonate}, {cf.ImpersonateUID, src.ImpersonateUID},
		{cf.Username, src.Username}, {cf.Password, src.Password}, {cf.Timeout, src.Timeout}, {cf.ProxyURL, src.ProxyURL},
	} {
		if f.dst != nil && f.from != nil {
			*f.dst = *f.from
		}
	}
	for _, f := range []struct{ dst, from *bool }{{cf.Insecure, src.Insecure}, {cf.DisableCompression, src.DisableCompression}} {
		if f.dst != nil && f.from != nil {
			*f.dst = *f.from
		}
	}
	for _, f := range []struct{ dst, from *[]string }{{cf.ImpersonateGroup, src.ImpersonateGroup}, {cf.ImpersonateUserExtra, src.ImpersonateUserExtra}} {
		if f.dst != nil && f.from != nil {
			*f.dst = append([]string(nil), *f.from...)
		}
	}
	if kubeContext != "" {
		*cf.Context = kubeContext
	}
	if namespace != "" {
		*cf.Namespace = namespace
	}
	return cf
}
