// Package cluster builds and runs real Kubernetes control planes on
// 127.0.0.1 for tests and demos: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok for simulated nodes, all
// compiled from Go modules. Several clusters run side by side, one per
// environment, each with its own ports, PKI and state directory.
package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
)

// Versions of the control-plane programs; the tools module pins the same.
const (
	KubernetesVersion = "v1.37.2"
	EtcdVersion       = "v3.7.0"
	KwokVersion       = "v0.8.0"
)

// Binary names inside a binary directory.
const (
	Etcd              = "etcd"
	KubeAPIServer     = "kube-apiserver"
	ControllerManager = "kube-controller-manager"
	Scheduler         = "kube-scheduler"
	Kubectl           = "kubectl"
	Kwok              = "kwok"
	kwokStagesFile    = "kwok-stages.yaml"
)

// BuildOptions controls where binaries are built and cached.
type BuildOptions struct {
	// CacheDir holds one directory per version set; default
	// $ENVOPS_CLUSTER_CACHE, else $XDG_CACHE_HOME/kubectl-envops/cluster.
	CacheDir string
	// ToolsDir is the Go module pinning the control plane (test/cluster/tools).
	ToolsDir string
	// Log receives one line per step.
	Log io.Writer
}

// DefaultCacheDir is where built binaries are kept between runs.
func DefaultCacheDir() string {
	if d := os.Getenv("ENVOPS_CLUSTER_CACHE"); d != "" {
		return d
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "kubectl-envops", "cluster")
}

// DefaultToolsDir locates the tools module beside this package's source.
func DefaultToolsDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "tools"
	}
	return filepath.Join(filepath.Dir(file), "tools")
}

// Build compiles the control-plane binaries unless the cache already holds
// them for these versions, and returns the binary directory. Concurrent
// builds (parallel test runs) wait for each other through a file lock.
func Build(ctx context.Context, o BuildOptions) (string, error) {
	if o.CacheDir == "" {
		o.CacheDir = DefaultCacheDir()
	}
	if o.ToolsDir == "" {
		o.ToolsDir = DefaultToolsDir()
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	binDir := filepath.Join(o.CacheDir, fmt.Sprintf("k8s-%s_etcd-%s_kwok-%s", KubernetesVersion, EtcdVersion, KwokVersion))
	if complete(binDir) {
		return binDir, nil
	}
	if err := os.MkdirAll(o.CacheDir, 0o755); err != nil {
		return "", fmt.Errorf("create cache directory: %w", err)
	}
	unlock, err := lockFile(filepath.Join(o.CacheDir, ".build.lock"), o.Log)
	if err != nil {
		return "", err
	}
	defer unlock()
	if complete(binDir) { // built by another process while we waited
		return binDir, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("go toolchain not found on PATH: install Go 1.26 or newer (https://go.dev/doc/install) to build the local control plane")
	}
	if _, err := os.Stat(filepath.Join(o.ToolsDir, "go.mod")); err != nil {
		return "", fmt.Errorf("tools module not found at %s: run from a checkout of kubectl-envops", o.ToolsDir)
	}
	staging := binDir + ".partial"
	if err := os.MkdirAll(staging, 0o755); err != nil {
		return "", err
	}
	// -s -w: no symbol tables or DWARF, which only lengthen the link.
	ldflags := fmt.Sprintf("-s -w -X k8s.io/component-base/version.gitVersion=%s -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37", KubernetesVersion)
	steps := []struct {
		what string
		args []string
		env  []string
	}{
		{"kube-apiserver, kube-controller-manager, kube-scheduler and kubectl " + KubernetesVersion,
			[]string{"build", "-trimpath", "-ldflags", ldflags, "-o", staging + string(os.PathSeparator),
				"k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kube-controller-manager",
				"k8s.io/kubernetes/cmd/kube-scheduler", "k8s.io/kubernetes/cmd/kubectl"}, nil},
		{"etcd " + EtcdVersion, []string{"build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(staging, Etcd), "go.etcd.io/etcd/server/v3"}, nil},
		// kwok needs older k8s.io modules than the control plane: build it in its own module graph.
		{"kwok " + KwokVersion, []string{"install", "-trimpath", "-ldflags", "-s -w", "sigs.k8s.io/kwok/cmd/kwok@" + KwokVersion}, []string{"GOBIN=" + staging}},
		{"kwok stage definitions", []string{"mod", "download", "-json", "sigs.k8s.io/kwok@" + KwokVersion}, nil},
	}
	for i, s := range steps {
		fmt.Fprintf(o.Log, "building %s (first run only; cached in %s)\n", s.what, o.CacheDir)
		logPath := filepath.Join(o.CacheDir, fmt.Sprintf("build-%d.log", i+1))
		out, err := runGo(ctx, goBin, o.ToolsDir, logPath, s.env, s.args...)
		if err != nil {
			return "", fmt.Errorf("building %s failed: %v; log: %s", s.what, err, logPath)
		}
		if s.args[0] == "mod" {
			if err := writeKwokStages(out, filepath.Join(staging, kwokStagesFile)); err != nil {
				return "", fmt.Errorf("collecting kwok stages: %w; log: %s", err, logPath)
			}
		}
	}
	if err := os.RemoveAll(binDir); err != nil {
		return "", err
	}
	if err := os.Rename(staging, binDir); err != nil {
		return "", err
	}
	return binDir, nil
}

func complete(binDir string) bool {
	for _, n := range []string{Etcd, KubeAPIServer, ControllerManager, Scheduler, Kubectl, Kwok, kwokStagesFile} {
		if _, err := os.Stat(filepath.Join(binDir, n)); err != nil {
			return false
		}
	}
	return true
}

// runGo runs the go command, logging to logPath, and returns its stdout.
func runGo(ctx context.Context, goBin, dir, logPath string, env []string, args ...string) ([]byte, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = io.MultiWriter(&stdout, logf)
	cmd.Stderr = logf
	fmt.Fprintf(logf, "$ go %s\n", strings.Join(args, " "))
	if err := cmd.Run(); err != nil {
		return nil, err
	}
	return stdout.Bytes(), nil
}

// writeKwokStages concatenates the stage definitions that ship in the kwok
// module: without stages kwok refuses to start.
func writeKwokStages(modJSON []byte, dst string) error {
	var mod struct{ Dir string }
	if err := json.Unmarshal(modJSON, &mod); err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, f := range []string{
		"kustomize/stage/node/fast/node-initialize.yaml",
		"kustomize/stage/node/heartbeat/node-heartbeat.yaml",
		"kustomize/stage/pod/fast/pod-ready.yaml",
		"kustomize/stage/pod/fast/pod-complete.yaml",
		"kustomize/stage/pod/fast/pod-delete.yaml",
	} {
		b, err := os.ReadFile(filepath.Join(mod.Dir, f))
		if err != nil {
			return err
		}
		buf.WriteString("---\n")
		buf.Write(b)
		buf.WriteString("\n")
	}
	return os.WriteFile(dst, buf.Bytes(), 0o644)
}

func lockFile(path string, log io.Writer) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Fprintf(log, "waiting for another build of the control plane (lock %s)\n", path)
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, err
		}
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
