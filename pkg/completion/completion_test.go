package completion

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}

func host(self string, goos string) Host {
	return Host{
		Executable: func() (string, error) { return self, nil },
		LookPath:   func(string) (string, error) { return "", errors.New("not on PATH") },
		GOOS:       goos,
	}
}

// krew links the plugin into its bin directory; the completion executable
// shipped beside the real file is found through the link and copied.
func TestInstallCopiesTheShippedExecutableThroughKrewsLink(t *testing.T) {
	root := t.TempDir()
	store, bin := filepath.Join(root, "store"), filepath.Join(root, "bin")
	write(t, filepath.Join(store, PluginExecutable), "plugin")
	write(t, filepath.Join(store, CompletionExecutable), "shipped")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(store, PluginExecutable), filepath.Join(bin, PluginExecutable)); err != nil {
		t.Fatal(err)
	}
	h := host(filepath.Join(bin, PluginExecutable), "linux")
	p, err := Locate(h, bin)
	if err != nil {
		t.Fatal(err)
	}
	if p.Source != filepath.Join(store, CompletionExecutable) || p.Target != filepath.Join(bin, CompletionExecutable) {
		t.Fatalf("plan %+v, want the store's executable copied into bin", p)
	}
	if err := p.Check(h); err != nil {
		t.Fatal(err)
	}
	if what, err := Install(p); err != nil || what != "a copy of "+p.Source {
		t.Fatalf("Install = %q, %v", what, err)
	}
	if b, _ := os.ReadFile(p.Target); string(b) != "shipped" {
		t.Errorf("target holds %q, want the shipped executable", b)
	}
	// Installing again where the shipped file already is changes nothing.
	if what, err := Install(Plan{Dir: store, Target: p.Source, Source: p.Source}); err != nil || what != "" {
		t.Errorf("Install onto itself = %q, %v; want nothing to do", what, err)
	}
}

func TestCheckRefuses(t *testing.T) {
	dir := t.TempDir()
	if err := (Plan{Dir: filepath.Join(dir, "missing")}).Check(host("", "linux")); !errors.Is(err, ErrNoDir) {
		t.Errorf("a missing directory: %v, want ErrNoDir", err)
	}
	if err := (Plan{Dir: dir}).Check(host("", "windows")); !errors.Is(err, ErrNotShipped) {
		t.Errorf("windows without the shipped executable: %v, want ErrNotShipped", err)
	}
	if err := (Plan{Dir: dir}).Check(host("", "linux")); err != nil {
		t.Errorf("linux without the shipped executable writes a script: %v", err)
	}
	if _, err := Locate(host("", "linux"), ""); err == nil {
		t.Error("Locate without --dir and without the plugin on PATH succeeded")
	}
}

func TestNames(t *testing.T) {
	cfg := &clientcmdapi.Config{
		Contexts: map[string]*clientcmdapi.Context{"dev": {Cluster: "c1"}, "prod": {Cluster: "c2"}},
		Clusters: map[string]*clientcmdapi.Cluster{"c1": {Server: "https://a"}},
	}
	if got, want := WithPrefix(KubeconfigNames(cfg, "context"), "p"), []string{"prod\tcluster c2"}; !slices.Equal(got, want) {
		t.Errorf("contexts %q, want %q", got, want)
	}
	if got, want := WithPrefix(KubeconfigNames(cfg, "cluster"), ""), []string{"c1\thttps://a"}; !slices.Equal(got, want) {
		t.Errorf("clusters %q, want %q", got, want)
	}
	cs := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "web"}}, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "api"}})
	ns, err := Namespaces(context.Background(), cs)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := WithPrefix(ns, ""), []string{"api", "web"}; !slices.Equal(got, want) {
		t.Errorf("namespaces %q, want %q", got, want)
	}
}
