package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A build that outlasts its own limit stops there and says that it hit a
// limit, which one, and how to raise it; the compilers it started (here a
// sleep under the fake go command) are stopped with it, not left running.
func TestBuildStopsAtItsOwnLimitAndSaysHowToRaiseIt(t *testing.T) {
	fakeToolchain(t)
	pidFile := filepath.Join(t.TempDir(), "sleep.pid")
	t.Setenv("FAKE_GO_SLEEP", "60")
	t.Setenv("FAKE_GO_SLEEP_PID", pidFile)
	cache := t.TempDir()
	start := time.Now()
	_, err := Build(context.Background(), BuildOptions{CacheDir: cache, Timeout: 500 * time.Millisecond})
	var te *BuildTimeoutError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v, want a BuildTimeoutError", err)
	}
	msg := err.Error()
	for _, want := range []string{"did not finish within 500ms", "the build's own limit", "--build-timeout", BuildTimeoutEnv + "=", "log: " + cache} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "signal: killed") {
		t.Errorf("the error shows the kill, not the limit: %s", msg)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("the build ran %s past a 500ms limit", took)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	for deadline := time.Now().Add(10 * time.Second); alive(pid); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("a process the build started (pid %d) outlived the stopped build", pid)
		}
	}
}

// The limit comes from the option, else the environment, else the default;
// a bad value in the environment is named.
func TestBuildTimeoutSources(t *testing.T) {
	t.Setenv(BuildTimeoutEnv, "")
	if d, err := BuildTimeout(0); err != nil || d != DefaultBuildTimeout {
		t.Errorf("no option, no environment: %s, %v; want %s", d, err, DefaultBuildTimeout)
	}
	t.Setenv(BuildTimeoutEnv, "2h")
	if d, err := BuildTimeout(0); err != nil || d != 2*time.Hour {
		t.Errorf("environment 2h: %s, %v", d, err)
	}
	if d, err := BuildTimeout(time.Minute); err != nil || d != time.Minute {
		t.Errorf("the option wins over the environment: %s, %v", d, err)
	}
	for _, bad := range []string{"soon", "-5m", "0s"} {
		t.Setenv(BuildTimeoutEnv, bad)
		if _, err := BuildTimeout(0); err == nil || !strings.Contains(err.Error(), BuildTimeoutEnv) {
			t.Errorf("environment %q: err = %v, want one naming %s", bad, err, BuildTimeoutEnv)
		}
	}
}

// The start-up limit of a set of clusters does not cut a build that takes
// longer than it: the build completes, and only starting is bounded.
func TestStartTimeoutDoesNotCutTheBuild(t *testing.T) {
	fakeToolchain(t)
	t.Setenv("FAKE_GO_SLEEP", "2")
	t.Setenv("FAKE_GO_SLEEP_PID", filepath.Join(t.TempDir(), "sleep.pid"))
	cache := t.TempDir()
	_, err := StartSet(context.Background(), SetOptions{Names: []string{"dev"}, StateDir: t.TempDir(),
		Build: BuildOptions{CacheDir: cache}, StartTimeout: time.Millisecond})
	if err == nil {
		t.Fatal("fake binaries cannot start a cluster; want an error from the start")
	}
	var te *BuildTimeoutError
	if errors.As(err, &te) || strings.Contains(err.Error(), "building") {
		t.Fatalf("the build failed under the start-up limit: %v", err)
	}
	if !complete(filepath.Join(cache, BinDirName())) {
		t.Fatalf("the build did not complete (start-up error: %v)", err)
	}
}

// A cache built before metrics-server was part of the control plane is not
// taken for a complete one.
func TestCacheWithoutMetricsServerIsNotReused(t *testing.T) {
	if !strings.Contains(BinDirName(), "metrics-server-"+MetricsServerVersion) {
		t.Errorf("the cache directory %q does not name the metrics-server version", BinDirName())
	}
	dir := t.TempDir()
	for _, n := range []string{Etcd, KubeAPIServer, ControllerManager, Scheduler, Kubectl, Kwok, kwokStagesFile} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if complete(dir) {
		t.Error("a binary directory without metrics-server and kwok's usage definitions counts as complete")
	}
}
