package kubetest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Plugin is a fake credential plugin (user.exec of a kubeconfig): a shell
// script that records the process IDs of what it starts.
type Plugin struct {
	// Path is the script.
	Path string
	// pids is the file the script writes its process IDs to.
	pids string
}

// writePlugin writes the script name, whose body may name the file of
// process IDs as PIDS.
func writePlugin(t testing.TB, name, body string) *Plugin {
	t.Helper()
	dir := t.TempDir()
	p := &Plugin{Path: filepath.Join(dir, name), pids: filepath.Join(dir, "pids")}
	script := "#!/bin/sh\necho $$ >> '" + p.pids + "'\n" + strings.ReplaceAll(body, "PIDS", "'"+p.pids+"'")
	if err := os.WriteFile(p.Path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// HangingPlugin never answers, as a login plugin waiting for an SSO
// prompt in CI does: it starts a child that sleeps, and waits for it.
func HangingPlugin(t testing.TB) *Plugin {
	return writePlugin(t, "hanging-login", "sleep 100000 &\necho $! >> PIDS\nwait\n")
}

// FloodingPlugin prints without end.
func FloodingPlugin(t testing.TB) *Plugin {
	return writePlugin(t, "flooding-login", "exec yes '{\"kind\":\"ExecCredential\"}'\n")
}

// TokenPlugin answers with an ExecCredential holding token.
func TokenPlugin(t testing.TB, token string) *Plugin {
	return writePlugin(t, "token-login", fmt.Sprintf(`printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}'
`, token))
}

// PIDs are the processes the plugin started, itself included, over all
// its runs.
func (p *Plugin) PIDs(t testing.TB) []int {
	t.Helper()
	data, err := os.ReadFile(p.pids)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

// WaitStarted waits until the plugin has started at least n processes.
func (p *Plugin) WaitStarted(t testing.TB, n int, within time.Duration) {
	t.Helper()
	for end := time.Now().Add(within); len(p.PIDs(t)) < n; {
		if time.Now().After(end) {
			t.Fatalf("the plugin %s started %d processes within %s, want %d", p.Path, len(p.PIDs(t)), within, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Running lists the plugin's processes still alive after waiting up to
// within for them to end.
func (p *Plugin) Running(t testing.TB, within time.Duration) []int {
	t.Helper()
	end := time.Now().Add(within)
	for {
		var alive []int
		for _, pid := range p.PIDs(t) {
			if Alive(pid) {
				alive = append(alive, pid)
			}
		}
		if len(alive) == 0 || time.Now().After(end) {
			return alive
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Alive tells whether the process pid runs: a zombie, dead but not yet
// reaped by its parent, does not.
func Alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if os.IsNotExist(err) {
		if _, perr := os.Stat("/proc/self"); perr == nil {
			return false
		}
	}
	if err == nil {
		// The state follows the command name, which is in parentheses.
		s := string(data)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
			return s[i+2] != 'Z' && s[i+2] != 'X'
		}
	}
	return syscall.Kill(pid, 0) == nil
}
