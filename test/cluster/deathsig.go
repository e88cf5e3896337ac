package cluster

import (
	"os/exec"
	"runtime"
	"sync"
)

// The kernel sends a child its parent-death signal when the OS thread that
// forked it ends, not when the process does; Go ends threads at will (a
// goroutine that exits while locked to its thread takes the thread along).
// Children that must die with the process are therefore started from one
// goroutine locked to its thread for the life of the process.
var (
	starterOnce sync.Once
	starterReqs chan startReq
)

type startReq struct {
	cmd  *exec.Cmd
	done chan error
}

// startOnLockedThread starts cmd from the process's dedicated starter
// thread, which never exits before the process does.
func startOnLockedThread(cmd *exec.Cmd) error {
	starterOnce.Do(func() {
		starterReqs = make(chan startReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for r := range starterReqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	starterReqs <- startReq{cmd: cmd, done: done}
	return <-done
}
