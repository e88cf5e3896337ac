package kube

import "syscall"

// pluginProcAttr puts the plugin in a process group of its own when
// ownGroup is set, and has the kernel kill it should the runner die.
func pluginProcAttr(ownGroup bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: ownGroup, Pdeathsig: syscall.SIGKILL}
}

// askParentDeathSignal has the kernel send SIGTERM to the runner when the
// thread of the command that started it ends, which the runner takes as
// the command's end.
func askParentDeathSignal() {
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0)
}
