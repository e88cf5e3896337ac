//go:build unix

package kube

import (
	"os"
	"syscall"
	"time"
)

// stopSignals end the runner, and the plugin with it.
var stopSignals = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP}

// stopPlugin ends the plugin: its whole process group when it has one, so
// that what it started ends too. SIGTERM first, so that it can clean up,
// then SIGKILL after a grace period.
func stopPlugin(p *os.Process, group bool) {
	target := p.Pid
	if group {
		target = -p.Pid
	}
	_ = syscall.Kill(target, syscall.SIGTERM)
	time.Sleep(killGrace)
	_ = syscall.Kill(target, syscall.SIGKILL)
}

// watchParent is closed once the process that started the runner is
// gone, so that the runner and its plugin never outlive the command. The
// parent is asked to signal the runner at its death where the system
// can (see credential_linux.go); polling catches the rest.
func watchParent(parent int) <-chan struct{} {
	gone := make(chan struct{})
	if parent <= 0 {
		return gone
	}
	askParentDeathSignal()
	go func() {
		for os.Getppid() == parent {
			time.Sleep(100 * time.Millisecond)
		}
		close(gone)
	}()
	return gone
}
