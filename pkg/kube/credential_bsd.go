//go:build unix && !linux

package kube

import "syscall"

// pluginProcAttr puts the plugin in a process group of its own when
// ownGroup is set.
func pluginProcAttr(ownGroup bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: ownGroup}
}

// askParentDeathSignal does nothing where the system has no such signal:
// polling the parent does the work.
func askParentDeathSignal() {}
