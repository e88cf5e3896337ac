package kube_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/envops/kubectl-envops/pkg/kube"
)

// FuzzKubeconfig feeds arbitrary bytes to the path every command takes
// with a kubeconfig: the file check, client-go's loading, and a client
// for each context with the credential plugin bounded. Nothing may panic;
// a plugin, when the config keeps one, runs through the runner with its
// own command line intact after "--"; the loaded kubeconfig is not
// changed.
func FuzzKubeconfig(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/hostile/*.yaml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("apiVersion: v1\nkind: Config\n"))
	self, err := os.Executable()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "kubeconfig")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := kube.CheckKubeconfigFiles(path); err != nil {
			t.Fatalf("a regular file of %d bytes is refused: %v", len(data), err)
		}
		loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(&clientcmd.ClientConfigLoadingRules{ExplicitPath: path}, &clientcmd.ConfigOverrides{})
		raw, err := loader.RawConfig()
		if err != nil || kube.CheckKubeconfigReferences(raw) != nil {
			return
		}
		names := make([]string, 0, len(raw.Contexts))
		for name := range raw.Contexts {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names[:min(len(names), 20)] {
			rc, err := clientcmd.NewNonInteractiveClientConfig(raw, name, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
			if err != nil {
				continue
			}
			var before []string
			if rc.ExecProvider != nil {
				before = append([]string{rc.ExecProvider.Command}, rc.ExecProvider.Args...)
			}
			rc.Timeout = time.Second
			rc = kube.WithTransientRetries(rc)
			if e := rc.ExecProvider; e != nil && before != nil && before[0] != "" {
				i := slices.Index(e.Args, "--")
				if e.Command != self || len(e.Args) == 0 || e.Args[0] != kube.CredentialPluginCommand || i < 0 || !slices.Equal(e.Args[i+1:], before) && before[0] != self {
					t.Fatalf("context %q: plugin %q runs as %s %q", name, before, e.Command, e.Args)
				}
				if u := raw.AuthInfos[raw.Contexts[name].AuthInfo]; u != nil && u.Exec != nil && u.Exec.Command == self {
					t.Fatalf("context %q: the loaded kubeconfig was changed", name)
				}
			}
			_, _ = kubernetes.NewForConfig(rc)
		}
	})
}
