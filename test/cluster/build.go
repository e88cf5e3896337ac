// Package cluster builds and runs real Kubernetes control planes on
// 127.0.0.1 for tests and demos: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok for simulated nodes (and
// their emulated resource usage) and metrics-server behind the aggregation
// layer, all compiled from Go modules. Several clusters run side by side, one per
// environment, each with its own ports, PKI and state directory.
package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Versions of the control-plane programs; the tools module pins the same.
const (
	KubernetesVersion = "v1.37.2"
	EtcdVersion       = "v3.7.0"
	KwokVersion       = "v0.8.0"
	// MetricsServerVersion serves the metrics API (metrics.k8s.io) from
	// what kwok's simulated kubelets report.
	MetricsServerVersion = "v0.8.0"
)

// Binary names inside a binary directory.
const (
	Etcd              = "etcd"
	KubeAPIServer     = "kube-apiserver"
	ControllerManager = "kube-controller-manager"
	Scheduler         = "kube-scheduler"
	Kubectl           = "kubectl"
	Kwok              = "kwok"
	MetricsServer     = "metrics-server"
	kwokStagesFile    = "kwok-stages.yaml"
	// kwokCRDsFile holds the CRDs of kwok's emulated resource usage, and
	// kwokUsageFile the objects that turn it on (see metrics.go).
	kwokCRDsFile  = "kwok-crds.yaml"
	kwokUsageFile = "kwok-usage.yaml"
)

// DefaultBuildTimeout bounds a build of the control plane when neither
// BuildOptions.Timeout nor $ENVOPS_CLUSTER_BUILD_TIMEOUT says otherwise. A
// cold build takes about 10 minutes on two idle cores and has passed 20 on
// loaded ones.
const DefaultBuildTimeout = 60 * time.Minute

// BuildTimeoutEnv names the environment variable that sets the build's
// limit (a Go duration such as 90m).
const BuildTimeoutEnv = "ENVOPS_CLUSTER_BUILD_TIMEOUT"

// BuildOptions controls where binaries are built and cached.
type BuildOptions struct {
	// CacheDir holds one directory per version set; default
	// $ENVOPS_CLUSTER_CACHE, else $XDG_CACHE_HOME/kubectl-envops/cluster.
	CacheDir string
	// ToolsDir is a Go module pinning the control plane; default: the
	// module embedded in this package, written out under CacheDir.
	ToolsDir string
	// Log receives one line per step.
	Log io.Writer
	// Timeout bounds the build on its own, whatever the caller's context
	// allows for starting clusters; zero means $ENVOPS_CLUSTER_BUILD_TIMEOUT,
	// else DefaultBuildTimeout.
	Timeout time.Duration
}

// BuildTimeout is the build's limit: timeout when set, else the one
// $ENVOPS_CLUSTER_BUILD_TIMEOUT names, else DefaultBuildTimeout.
func BuildTimeout(timeout time.Duration) (time.Duration, error) {
	if timeout > 0 {
		return timeout, nil
	}
	v := os.Getenv(BuildTimeoutEnv)
	if v == "" {
		return DefaultBuildTimeout, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("invalid %s=%q: use a positive duration such as 90m", BuildTimeoutEnv, v)
	}
	return d, nil
}

// BuildTimeoutError is a build stopped by its own limit.
type BuildTimeoutError struct {
	Limit      time.Duration
	Components string
	Log        string
}

func (e *BuildTimeoutError) Error() string {
	return fmt.Sprintf("building the control plane (%s) did not finish within %s, the build's own limit: the machine may be loaded; "+
		"raise the limit with --build-timeout (envops-cluster) or %s=2h and run again (compiled packages are kept, so it resumes); log: %s",
		e.Components, e.Limit, BuildTimeoutEnv, e.Log)
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

// The tools module pins the control-plane programs. Its go.mod and go.sum
// are kept as tools/tools.mod and tools/tools.sum so that they belong to
// this package and can be embedded: a binary built with -trimpath, or run
// away from the checkout, has no source tree to find them in. To change a
// version, copy both to go.mod and go.sum in an empty directory together
// with the tools.go that WriteToolsDir writes, run "go get", and copy them
// back.
var (
	//go:embed tools/tools.mod
	toolsMod []byte
	//go:embed tools/tools.sum
	toolsSum []byte
)

// controlPlane lists the programs built from the tools module, by binary
// name and main package.
var controlPlane = []struct{ name, pkg string }{
	{KubeAPIServer, "k8s.io/kubernetes/cmd/kube-apiserver"},
	{ControllerManager, "k8s.io/kubernetes/cmd/kube-controller-manager"},
	{Scheduler, "k8s.io/kubernetes/cmd/kube-scheduler"},
	{Kubectl, "k8s.io/kubernetes/cmd/kubectl"},
	{Etcd, "go.etcd.io/etcd/server/v3"},
	{Kwok, "sigs.k8s.io/kwok/cmd/kwok"},
}

// metricsServerPkg is built apart, from its own module with the
// requirements it pins: its generated OpenAPI definitions do not match the
// Kubernetes libraries of the tools module, so built there it stops at
// start-up ("cannot find model definition").
const metricsServerPkg = "sigs.k8s.io/metrics-server/cmd/metrics-server"

// BinDirName is the directory of one version set under the cache: a cache
// built without a component of this set is never taken for it.
func BinDirName() string {
	return fmt.Sprintf("k8s-%s_etcd-%s_kwok-%s_metrics-server-%s", KubernetesVersion, EtcdVersion, KwokVersion, MetricsServerVersion)
}

// toolsGo is the tools module's only source file: it imports every program
// so that "go mod tidy" keeps their requirements.
func toolsGo() []byte {
	var b bytes.Buffer
	b.WriteString("//go:build tools\n\n// Package tools pins the control-plane programs; it is never compiled.\npackage tools\n\nimport (\n")
	for _, p := range controlPlane {
		fmt.Fprintf(&b, "\t_ %q\n", p.pkg)
	}
	b.WriteString(")\n")
	return b.Bytes()
}

// WriteToolsDir writes the embedded tools module into a directory under
// cacheDir named by its content, and returns that directory.
func WriteToolsDir(cacheDir string) (string, error) {
	files := map[string][]byte{"go.mod": toolsMod, "go.sum": toolsSum, "tools.go": toolsGo()}
	h := sha256.New()
	for _, n := range []string{"go.mod", "go.sum", "tools.go"} {
		h.Write([]byte(n))
		h.Write(files[n])
	}
	dir := filepath.Join(cacheDir, "tools-"+hex.EncodeToString(h.Sum(nil))[:12])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("write the tools module: %w", err)
	}
	for n, b := range files {
		if old, err := os.ReadFile(filepath.Join(dir, n)); err == nil && bytes.Equal(old, b) {
			continue
		}
		// Write then rename: a reader never sees half a file.
		tmp := filepath.Join(dir, "."+n+".tmp")
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return "", fmt.Errorf("write the tools module: %w", err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, n)); err != nil {
			return "", fmt.Errorf("write the tools module: %w", err)
		}
	}
	return dir, nil
}

// Build compiles the control-plane binaries unless the cache already holds
// them for these versions, and returns the binary directory. Concurrent
// builds (parallel test runs) wait for each other through a file lock.
func Build(ctx context.Context, o BuildOptions) (string, error) {
	if o.CacheDir == "" {
		o.CacheDir = DefaultCacheDir()
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	binDir := filepath.Join(o.CacheDir, BinDirName())
	if complete(binDir) {
		return binDir, nil
	}
	limit, err := BuildTimeout(o.Timeout)
	if err != nil {
		return "", err
	}
	// The build's own limit, apart from whatever the caller allows for
	// starting clusters: a cold build on a loaded machine is slow, not stuck.
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if err := os.MkdirAll(o.CacheDir, 0o755); err != nil {
		return "", fmt.Errorf("create cache directory: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(o.CacheDir, ".build.lock"), o.Log)
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
	if o.ToolsDir == "" {
		if o.ToolsDir, err = WriteToolsDir(o.CacheDir); err != nil {
			return "", err
		}
	}
	if _, err := os.Stat(filepath.Join(o.ToolsDir, "go.mod")); err != nil {
		return "", fmt.Errorf("tools module not found at %s: run from a checkout of kubectl-envops", o.ToolsDir)
	}
	staging := binDir + ".partial"
	if err := os.RemoveAll(staging); err != nil {
		return "", err
	}
	if err := os.MkdirAll(staging, 0o755); err != nil {
		return "", err
	}
	// The go command links each binary in its work directory and renames
	// it into staging: on the same file system, a binary that appears is
	// complete, which is how progress is reported below.
	workTmp := filepath.Join(o.CacheDir, "tmp")
	if err := os.MkdirAll(workTmp, 0o755); err != nil {
		return "", err
	}
	defer os.RemoveAll(workTmp)
	// CGO_ENABLED stays as the caller has it, as for the main module's
	// builds and tests, so that the packages both import share compile
	// keys (see the Makefile).
	env := []string{"GOTMPDIR=" + workTmp}

	// One go build for every program of the tools module: the compiler
	// works on all of them at once, and the packages they share (most of
	// Kubernetes) are compiled once. -s -w: no symbol tables or DWARF,
	// which only lengthen the link; -X is link-time only.
	ldflags := fmt.Sprintf("-s -w -X k8s.io/component-base/version.gitVersion=%s -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37", KubernetesVersion)
	args := []string{"build", "-trimpath", "-v", "-ldflags", ldflags, "-o", staging + string(os.PathSeparator)}
	var progress []component
	for _, p := range controlPlane {
		args = append(args, p.pkg)
		version := KubernetesVersion
		switch p.name {
		case Etcd:
			version = EtcdVersion
		case Kwok:
			version = KwokVersion
		}
		progress = append(progress, component{name: p.name, version: version, file: filepath.Join(staging, mainBinaryName(p.pkg))})
	}
	fmt.Fprintf(o.Log, "building the control plane (first run only; cached in %s)\n", o.CacheDir)
	logPath := filepath.Join(o.CacheDir, "build-1.log")
	if _, err := runGoReporting(ctx, goBin, o.ToolsDir, logPath, env, progress, o.Log, args...); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "", &BuildTimeoutError{Limit: limit, Components: componentNames(progress), Log: logPath}
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("building %s was interrupted; log: %s", componentNames(progress), logPath)
		}
		return "", fmt.Errorf("building %s failed: %v; log: %s", componentNames(progress), err, logPath)
	}
	if err := os.Rename(filepath.Join(staging, mainBinaryName("go.etcd.io/etcd/server/v3")), filepath.Join(staging, Etcd)); err != nil {
		return "", err
	}

	// metrics-server, from its own module: "go install PKG@VERSION" uses
	// that module's go.mod and go.sum as they are.
	ms := []component{{name: MetricsServer, version: MetricsServerVersion, file: filepath.Join(staging, mainBinaryName(metricsServerPkg))}}
	logPath = filepath.Join(o.CacheDir, "build-3.log")
	if _, err := runGoReporting(ctx, goBin, o.CacheDir, logPath, append(env, "GOBIN="+staging), ms, o.Log,
		"install", "-trimpath", "-v", "-ldflags", "-s -w", metricsServerPkg+"@"+MetricsServerVersion); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "", &BuildTimeoutError{Limit: limit, Components: MetricsServer, Log: logPath}
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("building %s was interrupted; log: %s", MetricsServer, logPath)
		}
		return "", fmt.Errorf("building %s failed: %v; log: %s", MetricsServer, err, logPath)
	}

	// kwok ships its stage definitions beside its sources, not in its binary.
	logPath = filepath.Join(o.CacheDir, "build-2.log")
	out, err := runGo(ctx, goBin, o.ToolsDir, logPath, env, "mod", "download", "-json", "sigs.k8s.io/kwok@"+KwokVersion)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "", &BuildTimeoutError{Limit: limit, Components: "the kwok stage definitions", Log: logPath}
		}
		return "", fmt.Errorf("fetching the kwok stage definitions failed: %v; log: %s", err, logPath)
	}
	if err := writeKwokStages(out, filepath.Join(staging, kwokStagesFile)); err != nil {
		return "", fmt.Errorf("collecting kwok stages: %w; log: %s", err, logPath)
	}
	if err := writeKwokMetrics(out, staging); err != nil {
		return "", fmt.Errorf("collecting kwok's resource usage definitions: %w; log: %s", err, logPath)
	}
	if err := os.RemoveAll(binDir); err != nil {
		return "", err
	}
	if err := os.Rename(staging, binDir); err != nil {
		return "", err
	}
	return binDir, nil
}

// mainBinaryName is the file name "go build -o DIR/" gives a main package:
// its last path element, or the one before a major-version suffix.
func mainBinaryName(pkg string) string {
	elems := strings.Split(pkg, "/")
	last := elems[len(elems)-1]
	major := len(last) >= 2 && last[0] == 'v' && last[1] >= '1' && last[1] <= '9' && last != "v1" &&
		strings.Trim(last[1:], "0123456789") == ""
	if len(elems) > 1 && major {
		return elems[len(elems)-2]
	}
	return last
}

// component is one binary of a running build, for progress lines.
type component struct {
	name, version, file string
	done                bool
}

func componentNames(cs []component) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

// runGoReporting runs the go command like runGo and, while it runs, logs
// one line per component when it starts and one when its binary appears,
// with the time since the start; a line every two minutes says how far the
// compile has got, so a long first build never looks stuck.
func runGoReporting(ctx context.Context, goBin, dir, logPath string, env []string, cs []component, log io.Writer, args ...string) ([]byte, error) {
	start := time.Now()
	for _, c := range cs {
		fmt.Fprintf(log, "building %s %s\n", c.name, c.version)
	}
	var compiled atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		lastNote := start
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			pending := 0
			for i := range cs {
				if cs[i].done {
					continue
				}
				if _, err := os.Stat(cs[i].file); err == nil {
					cs[i].done = true
					fmt.Fprintf(log, "built %s %s in %s\n", cs[i].name, cs[i].version, time.Since(start).Round(time.Second))
					continue
				}
				pending++
			}
			if pending > 0 && time.Since(lastNote) >= 2*time.Minute {
				lastNote = time.Now()
				fmt.Fprintf(log, "still building (%s elapsed, %d packages compiled so far)\n", time.Since(start).Round(time.Second), compiled.Load())
			}
		}
	}()
	out, err := runGoCounting(ctx, goBin, dir, logPath, env, &compiled, args...)
	close(stop)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if !c.done {
			fmt.Fprintf(log, "built %s %s in %s\n", c.name, c.version, time.Since(start).Round(time.Second))
		}
	}
	return out, nil
}

func complete(binDir string) bool {
	for _, n := range []string{Etcd, KubeAPIServer, ControllerManager, Scheduler, Kubectl, Kwok, MetricsServer, kwokStagesFile, kwokCRDsFile, kwokUsageFile} {
		if _, err := os.Stat(filepath.Join(binDir, n)); err != nil {
			return false
		}
	}
	return true
}

// runGo runs the go command, logging to logPath, and returns its stdout.
func runGo(ctx context.Context, goBin, dir, logPath string, env []string, args ...string) ([]byte, error) {
	return runGoCounting(ctx, goBin, dir, logPath, env, nil, args...)
}

// runGoCounting is runGo that also counts the lines of stderr, which "go
// build -v" writes one per package it compiles.
func runGoCounting(ctx context.Context, goBin, dir, logPath string, env []string, lines *atomic.Int64, args ...string) ([]byte, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, goBin, args...)
	// Its own process group, ended as a whole: the compilers and linkers
	// the go command runs must not outlive a build that was stopped.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = io.MultiWriter(&stdout, logf)
	cmd.Stderr = logf
	if lines != nil {
		cmd.Stderr = io.MultiWriter(logf, lineCounter{lines})
	}
	fmt.Fprintf(logf, "$ %s go %s\n", strings.Join(env, " "), strings.Join(args, " "))
	if err := cmd.Run(); err != nil {
		return nil, err
	}
	return stdout.Bytes(), nil
}

type lineCounter struct{ n *atomic.Int64 }

func (c lineCounter) Write(p []byte) (int, error) {
	c.n.Add(int64(bytes.Count(p, []byte{'\n'})))
	return len(p), nil
}

// writeKwokStages concatenates the stage definitions that ship in the kwok
// module: without stages kwok refuses to start.
func writeKwokStages(modJSON []byte, dst string) error {
	dir, err := moduleDir(modJSON)
	if err != nil {
		return err
	}
	return concatYAML(dst, dir,
		"kustomize/stage/node/fast/node-initialize.yaml",
		"kustomize/stage/node/heartbeat/node-heartbeat.yaml",
		"kustomize/stage/pod/fast/pod-ready.yaml",
		"kustomize/stage/pod/fast/pod-complete.yaml",
		"kustomize/stage/pod/fast/pod-delete.yaml")
}

// moduleDir is the directory of a downloaded module, from what
// "go mod download -json" printed for it.
func moduleDir(modJSON []byte) (string, error) {
	var mod struct{ Dir string }
	if err := json.Unmarshal(modJSON, &mod); err != nil {
		return "", err
	}
	return mod.Dir, nil
}

// concatYAML writes the files of dir to dst as one YAML stream.
func concatYAML(dst, dir string, files ...string) error {
	var buf bytes.Buffer
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return err
		}
		buf.WriteString("---\n")
		buf.Write(b)
		buf.WriteString("\n")
	}
	return os.WriteFile(dst, buf.Bytes(), 0o644)
}

// lockFile takes an exclusive lock on path, waiting for another build that
// holds it until ctx ends.
func lockFile(ctx context.Context, path string, log io.Writer) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Fprintf(log, "waiting for another build of the control plane (lock %s)\n", path)
		for {
			err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				f.Close()
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					return nil, fmt.Errorf("another build of the control plane held %s past this build's limit: wait for it, or raise the limit with --build-timeout or %s", path, BuildTimeoutEnv)
				}
				return nil, ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
