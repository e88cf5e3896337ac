package kube

import (
	"os"
	"syscall"
)

// stopSignals end the runner, and the plugin with it.
var stopSignals = []os.Signal{os.Interrupt}

// pluginProcAttr starts the plugin in a process group of its own, which
// console interrupts meant for the command do not reach.
func pluginProcAttr(ownGroup bool) *syscall.SysProcAttr {
	if !ownGroup {
		return nil
	}
	return &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

// stopPlugin kills the plugin.
func stopPlugin(p *os.Process, _ bool) { _ = p.Kill() }

// watchParent never fires on Windows, where a process is not told of its
// parent's end; the time bound still applies.
func watchParent(int) <-chan struct{} { return make(chan struct{}) }
