// Package completion sets up shell completion of "kubectl envops": it finds
// where kubectl looks for kubectl_complete-envops and writes it there.
package completion

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Names of the plugin's executables, without the ".exe" of Windows.
const (
	PluginExecutable     = "kubectl-envops"
	CompletionExecutable = "kubectl_complete-envops"
)

// Shells are the shells a completion script is printed for.
var Shells = []string{"bash", "zsh", "fish", "powershell"}

// Errors of Plan.Check: the directory to write into is missing; on Windows
// no script can stand in for a missing shipped completion executable.
var (
	ErrNoDir      = errors.New("create it or choose another with --dir")
	ErrNotShipped = errors.New("install kubectl-envops from a release archive or with krew, which ship it")
)

// Host is what Locate asks of the system; tests replace its functions.
type Host struct {
	// Executable is os.Executable, LookPath is exec.LookPath.
	Executable func() (string, error)
	LookPath   func(string) (string, error)
	// GOOS is runtime.GOOS.
	GOOS string
}

// Exe is name as an executable of the host's system.
func (h Host) Exe(name string) string {
	if h.GOOS == "windows" {
		return name + ".exe"
	}
	return name
}

// Plan is where completion is installed and from what.
type Plan struct {
	// Dir receives Target, the completion executable.
	Dir, Target string
	// Source is the shipped completion executable to copy, or "" to write
	// a script.
	Source string
}

// Locate plans an install into dir, by default the directory of the
// kubectl-envops that kubectl runs (the first on PATH).
func Locate(h Host, dir string) (Plan, error) {
	if dir == "" {
		plugin, err := h.LookPath(PluginExecutable)
		if err != nil {
			return Plan{}, fmt.Errorf("%s is not on PATH, so kubectl cannot run it as a plugin: put its directory on PATH, or name a directory with --dir", PluginExecutable)
		}
		dir = filepath.Dir(plugin)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Plan{}, fmt.Errorf("cannot resolve --dir %s: %w", dir, err)
	}
	p := Plan{Dir: abs, Target: filepath.Join(abs, h.Exe(CompletionExecutable))}

	// krew links only the plugin into its bin directory; the shipped
	// completion executable stays beside the real file, in krew's store.
	self, err := h.Executable()
	if err != nil {
		return Plan{}, fmt.Errorf("cannot locate the running kubectl-envops: %w", err)
	}
	if real, err := filepath.EvalSymlinks(self); err == nil {
		self = real
	}
	shipped := filepath.Join(filepath.Dir(self), h.Exe(CompletionExecutable))
	if info, err := os.Stat(shipped); err == nil && info.Mode().IsRegular() {
		p.Source = shipped
	}
	return p, nil
}

// Check tells whether the plan can be carried out: the directory exists,
// and on Windows there is an executable to copy.
func (p Plan) Check(h Host) error {
	if info, err := os.Stat(p.Dir); err != nil || !info.IsDir() {
		return fmt.Errorf("directory %s does not exist: %w", p.Dir, ErrNoDir)
	}
	if p.Source == "" && h.GOOS == "windows" {
		return fmt.Errorf("%s was not found beside kubectl-envops.exe: %w", h.Exe(CompletionExecutable), ErrNotShipped)
	}
	return nil
}

// script answers kubectl's completion requests by asking the plugin beside
// it, or on PATH, through cobra's __complete command.
const script = `#!/bin/sh
# Written by "kubectl envops completion install". kubectl runs this with the
# words typed after "kubectl envops"; the plugin prints the choices.
dir=$(dirname "$0")
if [ -x "$dir/kubectl-envops" ]; then
	exec "$dir/kubectl-envops" __complete "$@"
fi
exec kubectl-envops __complete "$@"
`

// Install writes the completion executable, replacing an older one
// atomically. It returns what was written ("" when the shipped executable
// is already the target).
func Install(p Plan) (string, error) {
	content := []byte(script)
	what := "a script that asks " + PluginExecutable
	if p.Source != "" {
		if same(p.Source, p.Target) {
			return "", nil
		}
		b, err := os.ReadFile(p.Source)
		if err != nil {
			return "", fmt.Errorf("cannot read %s: %w", p.Source, err)
		}
		content = b
		what = "a copy of " + p.Source
	}
	if err := writeExecutable(p.Target, content); err != nil {
		return "", fmt.Errorf("cannot write %s: %w; choose a writable directory on PATH with --dir", p.Target, err)
	}
	return what, nil
}

func same(a, b string) bool {
	ai, err := os.Stat(a)
	if err != nil {
		return false
	}
	bi, err := os.Stat(b)
	return err == nil && os.SameFile(ai, bi)
}

func writeExecutable(path string, content []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// OnPath tells whether dir is a directory of $PATH.
func OnPath(dir string) bool {
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if abs, err := filepath.Abs(d); err == nil && abs == dir {
			return true
		}
	}
	return false
}
