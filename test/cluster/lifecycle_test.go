package cluster

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary start one component and wait, instead of
// running tests: the process whose death must take the component along.
const helperEnv = "ENVOPS_CLUSTER_TEST_START_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		os.Exit(startChildAndWait(dir))
	}
	os.Exit(m.Run())
}

// startChildAndWait starts a fake etcd with StopWithParent, prints its PID
// and blocks until stdin closes.
func startChildAndWait(dir string) int {
	// Keep this goroutine on the main thread, so the one below gets a
	// thread of its own (the main thread never ends before the process).
	runtime.LockOSThread()
	c := &Cluster{Name: "helper", Dir: dir, BinDir: dir, stopWithParent: true}
	ports, err := freePorts(1)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Started from a goroutine whose OS thread ends with it: the component
	// must survive that thread and die only with the process.
	errc := make(chan error, 1)
	tidc := make(chan int, 1)
	go func() {
		runtime.LockOSThread()
		tidc <- syscall.Gettid()
		errc <- c.start(Etcd, ports[0])
	}()
	tid := <-tidc
	if tid == os.Getpid() {
		fmt.Fprintln(os.Stderr, "the starting goroutine ran on the main thread")
		return 1
	}
	if err := <-errc; err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Report the component only once that thread is gone.
	task := fmt.Sprintf("/proc/self/task/%d", tid)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(task); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "the starting goroutine's thread did not end")
			return 1
		}
	}
	pid := c.process(Etcd).PID
	if !alive(pid) || killPending(pid) {
		fmt.Fprintln(os.Stderr, "the component was killed when the thread that started it ended")
		return 1
	}
	fmt.Println(pid)
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// killPending reports whether SIGKILL is queued for pid: the kernel queues
// it before the dying thread leaves /proc, so this sees a parent-death
// signal that has not been acted on yet.
func killPending(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return true
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "SigPnd" && k != "ShdPnd") {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err == nil && mask&(1<<(uint(syscall.SIGKILL)-1)) != 0 {
			return true
		}
	}
	return false
}

// A test binary killed outright (SIGKILL, or the panic of "go test
// -timeout") takes the components it started along.
func TestComponentsDieWithTheProcessThatStartedThem(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, Etcd), []byte("#!/bin/sh\nexec sleep 300\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), helperEnv+"="+dir)
	helper.Stderr = os.Stderr
	stdin, err := helper.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = helper.Process.Kill()
		_ = helper.Wait()
		t.Fatalf("the helper did not report its component: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("helper printed %q", line)
	}
	t.Cleanup(func() {
		if alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if !alive(pid) {
		t.Fatalf("the component (pid %d) is not running while its starter still runs", pid)
	}
	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the component (pid %d) still runs 10s after the process that started it was killed", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fakeGo is a go command that records each invocation (its CGO_ENABLED,
// working directory and arguments) and makes the files a real build would.
const fakeGo = `#!/bin/sh
echo "CGO_ENABLED=$CGO_ENABLED PWD=$(pwd) $*" >> "$FAKE_GO_LOG"
if [ -n "$FAKE_GO_SLEEP" ]; then
  sleep "$FAKE_GO_SLEEP" &
  echo $! > "$FAKE_GO_SLEEP_PID"
  wait
fi
case "$1" in
build)
  out= pkgs=
  while [ $# -gt 0 ]; do
    case "$1" in
      -o) shift; out="$1" ;;
      k8s.io/*|go.etcd.io/*|sigs.k8s.io/*) pkgs="$pkgs $1" ;;
    esac
    shift
  done
  for p in $pkgs; do
    n=${p##*/}
    [ "$n" = v3 ] && n=$(basename "$(dirname "$p")")
    echo binary > "$out$n"
  done ;;
install)
  for a in "$@"; do p="$a"; done
  p=${p%@*}
  echo binary > "$GOBIN/${p##*/}" ;;
mod) printf '{"Dir": "%s"}\n' "$FAKE_KWOK_DIR" ;;
*) exit 1 ;;
esac
`

// fakeToolchain puts fakeGo first on PATH and returns its log.
func fakeToolchain(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "go"), []byte(fakeGo), 0o755); err != nil {
		t.Fatal(err)
	}
	kwok := t.TempDir()
	for _, f := range []string{"stage/node/fast/node-initialize.yaml", "stage/node/heartbeat/node-heartbeat.yaml", "stage/pod/fast/pod-ready.yaml", "stage/pod/fast/pod-complete.yaml", "stage/pod/fast/pod-delete.yaml",
		"crd/bases/kwok.x-k8s.io_metrics.yaml", "crd/bases/kwok.x-k8s.io_clusterresourceusages.yaml", "crd/bases/kwok.x-k8s.io_resourceusages.yaml",
		"metrics/resource/metrics-resource.yaml", "metrics/usage/usage-from-annotation.yaml"} {
		p := filepath.Join(kwok, "kustomize", f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("kind: Stage\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	logPath := filepath.Join(t.TempDir(), "go.log")
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_GO_LOG", logPath)
	t.Setenv("FAKE_KWOK_DIR", kwok)
	return logPath
}

// The build says which component it builds and, as each is done, how long
// it took; every go invocation uses the settings the main module's builds
// use (-trimpath, CGO_ENABLED as the caller has it), so the Kubernetes
// packages they share are compiled once; the six control-plane programs
// come from one go build.
func TestBuildReportsEachComponentAndSharesCompileSettings(t *testing.T) {
	goLog := fakeToolchain(t)
	t.Setenv("CGO_ENABLED", "1") // not the default of a machine without a C compiler
	cache := t.TempDir()
	var log bytes.Buffer
	binDir, err := Build(context.Background(), BuildOptions{CacheDir: cache, Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if !complete(binDir) {
		t.Fatalf("binary directory %s is not complete", binDir)
	}
	for _, c := range []struct{ name, version string }{
		{KubeAPIServer, KubernetesVersion}, {ControllerManager, KubernetesVersion}, {Scheduler, KubernetesVersion},
		{Kubectl, KubernetesVersion}, {Etcd, EtcdVersion}, {Kwok, KwokVersion}, {MetricsServer, MetricsServerVersion},
	} {
		for _, want := range []string{"\nbuilding " + c.name + " " + c.version + "\n", "\nbuilt " + c.name + " " + c.version + " in "} {
			if !strings.Contains(log.String(), want) {
				t.Errorf("the build log lacks %q:\n%s", want, log.String())
			}
		}
	}
	b, err := os.ReadFile(goLog)
	if err != nil {
		t.Fatal(err)
	}
	calls := strings.Split(strings.TrimSpace(string(b)), "\n")
	builds := 0
	for _, call := range calls {
		if !strings.HasPrefix(call, "CGO_ENABLED=1 ") {
			t.Errorf("go ran with another CGO_ENABLED than its caller's (1): %s", call)
		}
		verb := strings.Fields(call)[2]
		if verb != "build" && verb != "mod" && verb != "install" {
			t.Errorf("go %s ran: only one go build, go install of metrics-server from its own module, and go mod download for the kwok stages are expected: %s", verb, call)
		}
		if (verb == "build" || verb == "install") && !strings.Contains(call, " -trimpath ") {
			t.Errorf("go %s ran without -trimpath: %s", verb, call)
		}
		if verb == "install" && !strings.HasSuffix(call, " "+metricsServerPkg+"@"+MetricsServerVersion) {
			t.Errorf("go install of another program than metrics-server %s: %s", MetricsServerVersion, call)
		}
		if verb == "build" {
			builds++
			for _, p := range controlPlane {
				if !strings.Contains(call, " "+p.pkg) {
					t.Errorf("the go build lacks %s: %s", p.pkg, call)
				}
			}
		}
	}
	if builds != 1 {
		t.Errorf("%d go build invocations, want one for all control-plane programs:\n%s", builds, b)
	}
}

// A harness binary built with -trimpath, run away from the checkout, still
// finds the tools module: it is embedded and written to the cache.
func TestBuildFromATrimpathBinaryUsesTheEmbeddedToolsModule(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "envops-cluster")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/envops-cluster")
	build.Env = os.Environ()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build envops-cluster: %v\n%s", err, out)
	}
	goLog := fakeToolchain(t)
	cache := t.TempDir()
	run := exec.Command(bin, "build")
	run.Dir = t.TempDir()
	run.Env = append(os.Environ(), "ENVOPS_CLUSTER_CACHE="+cache)
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("envops-cluster build: %v\n%s", err, out)
	}
	b, err := os.ReadFile(goLog)
	if err != nil {
		t.Fatal(err)
	}
	first := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	dir := strings.TrimPrefix(first[1], "PWD=")
	if !strings.HasPrefix(dir, cache+string(os.PathSeparator)) {
		t.Fatalf("go ran in %s, want a directory under the cache %s", dir, cache)
	}
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(mod, []byte("module github.com/envops/kubectl-envops/test/cluster/tools\n")) ||
		!bytes.Contains(mod, []byte("k8s.io/kubernetes "+KubernetesVersion)) || !bytes.Contains(mod, []byte("go.etcd.io/etcd/server/v3 "+EtcdVersion)) ||
		!bytes.Contains(mod, []byte("sigs.k8s.io/kwok "+KwokVersion)) {
		t.Errorf("go.mod of the tools module:\n%s", mod)
	}
	if sum, err := os.ReadFile(filepath.Join(dir, "go.sum")); err != nil || !bytes.Contains(sum, []byte("k8s.io/kubernetes "+KubernetesVersion)) {
		t.Errorf("go.sum of the tools module lacks k8s.io/kubernetes: %v", err)
	}
	src, err := os.ReadFile(filepath.Join(dir, "tools.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range controlPlane {
		if !bytes.Contains(src, []byte(strconv.Quote(p.pkg))) {
			t.Errorf("tools.go does not import %s:\n%s", p.pkg, src)
		}
	}
}

func TestMainBinaryName(t *testing.T) {
	for pkg, want := range map[string]string{
		"k8s.io/kubernetes/cmd/kubectl": "kubectl",
		"go.etcd.io/etcd/server/v3":     "server",
		"example.com/tool/v1":           "v1",
		"example.com/v2":                "example.com",
		"example.com/cmd/v2x":           "v2x",
	} {
		if got := mainBinaryName(pkg); got != want {
			t.Errorf("mainBinaryName(%q) = %q, want %q", pkg, got, want)
		}
	}
}

// The Makefile runs every go command with the compile settings of the
// control-plane build (-trimpath, CGO_ENABLED untouched), so that vet, unit
// tests, the plugin's builds and the control plane compile the Kubernetes
// packages they share once.
func TestMakefileUsesTheControlPlaneCompileSettings(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Skipf("not in a checkout: %v", err)
	}
	exports := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "export "); ok {
			if k, v, ok := strings.Cut(rest, ":="); ok {
				exports[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	if v, ok := exports["CGO_ENABLED"]; ok {
		t.Errorf("the Makefile exports CGO_ENABLED := %s; the control-plane build leaves it to the toolchain", v)
	}
	if !strings.Contains(exports["GOFLAGS"], "-trimpath") {
		t.Errorf("the Makefile's GOFLAGS (%q) lacks -trimpath, which the control-plane build uses", exports["GOFLAGS"])
	}
}
