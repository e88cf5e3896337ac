package cluster

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A real cluster starts, a second one beside it does not collide, and down
// leaves no process and no listening port behind.
func TestUpSideBySideAndDownLeavesNothing(t *testing.T) {
	ctx := context.Background()
	binDir, err := Build(ctx, BuildOptions{Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	a, err := Up(ctx, Options{Name: "dev", Nodes: 2, StateDir: state, BinDir: binDir, Log: testLog{t}, StopWithParent: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Down()
	// Same name while it runs: refused with a clear message, the first untouched.
	if _, err := Up(ctx, Options{Name: "dev", StateDir: state, BinDir: binDir, StopWithParent: true}); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second up of a running cluster: err = %v, want 'already running'", err)
	}
	// Another state directory: a second control plane on other ports.
	b, err := Up(ctx, Options{Name: "dev", Nodes: 1, StateDir: t.TempDir(), BinDir: binDir, Log: testLog{t}, StopWithParent: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Down()
	if a.Server == b.Server {
		t.Fatalf("two clusters share a server address %s", a.Server)
	}
	if !a.Healthy(ctx) || !b.Healthy(ctx) {
		t.Fatal("both clusters should answer /readyz")
	}
	if got := len(a.Nodes); got != 2 {
		t.Errorf("cluster a has %d nodes, want 2", got)
	}

	procs := append(append([]Process{}, a.Processes...), b.Processes...)
	if err := a.Down(); err != nil {
		t.Fatal(err)
	}
	if !b.Healthy(ctx) {
		t.Fatal("stopping one cluster must not affect the other")
	}
	if err := b.Down(); err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if alive(p.PID) {
			t.Errorf("%s (pid %d) still runs after down", p.Name, p.PID)
		}
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+itoa(p.Port), time.Second); err == nil {
			c.Close()
			t.Errorf("port %d of %s still listens after down", p.Port, p.Name)
		}
	}
	if _, err := os.Stat(a.Dir); !os.IsNotExist(err) {
		t.Errorf("state directory %s still exists after down", a.Dir)
	}
}

func TestFailureModesSayWhatFailedAndWhere(t *testing.T) {
	ctx := context.Background()

	t.Run("missing go toolchain", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		_, err := Build(ctx, BuildOptions{CacheDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "go toolchain not found on PATH") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("build failure names the log", func(t *testing.T) {
		tools := t.TempDir()
		if err := os.WriteFile(filepath.Join(tools, "go.mod"), []byte("module broken\n\ngo 1.26\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cache := t.TempDir()
		_, err := Build(ctx, BuildOptions{CacheDir: cache, ToolsDir: tools})
		if err == nil || !strings.Contains(err.Error(), "building kube-apiserver") || !strings.Contains(err.Error(), "log: "+cache) {
			t.Fatalf("err = %v", err)
		}
		logPath := strings.TrimSpace(err.Error()[strings.LastIndex(err.Error(), "log: ")+5:])
		if b, rerr := os.ReadFile(logPath); rerr != nil || len(b) == 0 {
			t.Fatalf("the named log %s should hold the build's output: %v", logPath, rerr)
		}
	})

	t.Run("port in use", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		c := &Cluster{Dir: t.TempDir(), BinDir: t.TempDir()}
		err = c.start(Etcd, l.Addr().(*net.TCPAddr).Port)
		if err == nil || !strings.Contains(err.Error(), "is in use") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("component never ready times out naming its log", func(t *testing.T) {
		bin := t.TempDir()
		// An etcd that starts but never answers.
		if err := os.WriteFile(filepath.Join(bin, Etcd), []byte("#!/bin/sh\nexec sleep 30\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err := Up(ctx, Options{Name: "stuck", StateDir: t.TempDir(), BinDir: bin, ReadyTimeout: 2 * time.Second})
		if err == nil || !strings.Contains(err.Error(), "etcd was not ready") || !strings.Contains(err.Error(), "etcd.log") {
			t.Fatalf("err = %v", err)
		}
		if time.Since(start) > 20*time.Second {
			t.Errorf("a stuck component should fail at the stated timeout, took %s", time.Since(start))
		}
	})

	t.Run("component that dies says so", func(t *testing.T) {
		bin := t.TempDir()
		if err := os.WriteFile(filepath.Join(bin, Etcd), []byte("#!/bin/sh\necho 'listen tcp: bind: address already in use' >&2\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := Up(ctx, Options{Name: "dies", StateDir: t.TempDir(), BinDir: bin, ReadyTimeout: 30 * time.Second})
		if err == nil || !strings.Contains(err.Error(), "etcd exited before it was ready") || !strings.Contains(err.Error(), "already in use") {
			t.Fatalf("err = %v", err)
		}
	})
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func itoa(i int) string { return strconv.Itoa(i) }

// The API server can be stopped and started again as it was: fault tests
// rely on it.
func TestRestartAPIServer(t *testing.T) {
	ctx := context.Background()
	binDir, err := Build(ctx, BuildOptions{Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Up(ctx, Options{Name: "faults", Nodes: 1, StateDir: t.TempDir(), BinDir: binDir, StopWithParent: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Down()
	if err := c.StopComponent(KubeAPIServer); err != nil {
		t.Fatal(err)
	}
	if c.Healthy(ctx) {
		t.Fatal("the API server still answers after StopComponent")
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := c.StartComponent(sctx, KubeAPIServer); err != nil {
		t.Fatal(err)
	}
	if !c.Healthy(ctx) {
		t.Fatal("the API server should answer after StartComponent")
	}
	// State on disk follows the new PID, so down still finds it.
	loaded, err := Load(filepath.Dir(c.Dir), c.Name)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.process(KubeAPIServer).PID != c.process(KubeAPIServer).PID {
		t.Error("saved state does not record the restarted API server's PID")
	}
}
