// Command kubectl_complete-envops completes "kubectl envops <TAB>": kubectl's
// own shell completion runs it with the words typed after "envops" and shows
// what it prints. It asks the plugin itself through cobra's __complete
// command, so a copy of it never falls behind when the plugin is upgraded.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

func main() {
	dir := ""
	if self, err := os.Executable(); err == nil {
		dir = filepath.Dir(self)
	}
	plugin, err := findPlugin(dir, runtime.GOOS)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	os.Exit(run(plugin, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// findPlugin prefers the plugin in dir, the one this executable was
// installed with, over the first kubectl-envops on PATH.
func findPlugin(dir, goos string) (string, error) {
	name := "kubectl-envops"
	if goos == "windows" {
		name += ".exe"
	}
	if dir != "" {
		beside := filepath.Join(dir, name)
		if info, err := os.Stat(beside); err == nil && !info.IsDir() {
			return beside, nil
		}
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s is neither beside %s nor on PATH: install the plugin, or put it on PATH", name, "kubectl_complete-envops")
	}
	return path, nil
}

// run asks the plugin for completions and passes its output and exit code on.
func run(plugin string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := exec.Command(plugin, append([]string{"__complete"}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exitErr):
		return exitErr.ExitCode()
	default:
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
}
