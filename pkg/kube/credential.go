package kube

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/term"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// CredentialPluginCommand is the hidden command of this binary that runs a
// kubeconfig's credential plugin (user.exec) within bounds. client-go runs
// a plugin without a deadline and waits for it for ever, reads all it
// prints, and leaves it running when the command ends; so every client of
// this binary runs its plugin through this command instead, which client-go
// waits for in the plugin's place.
const CredentialPluginCommand = "__credential-plugin"

// MaxCredentialOutput bounds what a credential plugin may print: an
// ExecCredential holds a token, or a certificate and its key, a few KB.
const MaxCredentialOutput = 1 << 20

// The exit codes of the runner when it stops a plugin itself; any other
// code is the plugin's own.
const (
	exitPluginTimeout  = 124
	exitPluginTooLarge = 125
	exitPluginNotRun   = 127
)

// killGrace is how long a plugin has to exit after SIGTERM before the
// runner kills it.
const killGrace = 500 * time.Millisecond

// BoundCredentialPlugin makes every client built from c run its credential
// plugin, if its user has one, through CredentialPluginCommand of this
// binary: the plugin runs in its own process group, is stopped after bound
// (0: no bound) unless it can prompt on a terminal, may print at most
// MaxCredentialOutput, and is killed with the command. Called again on the
// same config, it keeps the smaller bound. c is changed and returned; the
// kubeconfig c was loaded from is not.
func BoundCredentialPlugin(c *rest.Config, bound time.Duration) *rest.Config {
	if c.ExecProvider == nil || c.ExecProvider.Command == "" {
		return c
	}
	self, err := os.Executable()
	if err != nil {
		// Without a path to this binary, client-go runs the plugin itself.
		return c
	}
	e := *c.ExecProvider
	if inner, ok := parseRunnerArgs(self, &e); ok {
		inner.bound = minBound(inner.bound, bound)
		e.Args = inner.args(os.Getpid())
		c.ExecProvider = &e
		return c
	}
	switch e.PluginPolicy.PolicyType {
	case clientcmdapi.PluginPolicyDenyAll:
		// client-go refuses to run the plugin: nothing to bound.
		return c
	case clientcmdapi.PluginPolicyAllowlist:
		if !allowed(e.Command, e.PluginPolicy.Allowlist) {
			// client-go refuses it with its own message.
			return c
		}
		// The plugin is allowed; the runner is what client-go now runs.
		e.PluginPolicy = clientcmdapi.PluginPolicy{PolicyType: clientcmdapi.PluginPolicyAllowlist, Allowlist: []clientcmdapi.AllowlistEntry{{Command: self}}}
	}
	r := runnerArgs{bound: bound, command: e.Command, rest: e.Args}
	e.Command, e.Args = self, r.args(os.Getpid())
	c.ExecProvider = &e
	return c
}

// allowed tells whether the credential plugin allowlist permits command,
// as client-go decides it: by the path as written or as found on PATH.
func allowed(command string, list []clientcmdapi.AllowlistEntry) bool {
	command = filepath.Clean(command)
	resolved, _ := exec.LookPath(command)
	for _, entry := range list {
		if entry.Command == command || (resolved != "" && entry.Command == resolved) {
			return true
		}
		if p, err := exec.LookPath(entry.Command); err == nil && resolved != "" && p == resolved {
			return true
		}
	}
	return false
}

func minBound(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0 || a < b:
		return a
	}
	return b
}

// runnerArgs is the command line of the runner: its bounds, then the
// plugin's command and arguments.
type runnerArgs struct {
	bound   time.Duration
	parent  int
	command string
	rest    []string
}

func (r runnerArgs) args(parent int) []string {
	return append([]string{CredentialPluginCommand, "--timeout=" + r.bound.String(), "--parent=" + strconv.Itoa(parent), "--", r.command}, r.rest...)
}

// parseRunnerArgs reads back a plugin config that already runs the runner.
func parseRunnerArgs(self string, e *clientcmdapi.ExecConfig) (runnerArgs, bool) {
	if e.Command != self || len(e.Args) == 0 || e.Args[0] != CredentialPluginCommand {
		return runnerArgs{}, false
	}
	r, err := parseRunner(e.Args[1:])
	return r, err == nil
}

func parseRunner(args []string) (runnerArgs, error) {
	var r runnerArgs
	fs := flag.NewFlagSet(CredentialPluginCommand, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.DurationVar(&r.bound, "timeout", 0, "")
	fs.IntVar(&r.parent, "parent", 0, "")
	if err := fs.Parse(args); err != nil {
		return r, err
	}
	if fs.NArg() == 0 {
		return r, errors.New("no plugin command")
	}
	r.command, r.rest = fs.Arg(0), fs.Args()[1:]
	return r, nil
}

// RunCredentialPlugin is CredentialPluginCommand: it runs the plugin its
// arguments name with the runner's stdin, passes on at most
// MaxCredentialOutput of what it prints, and returns the exit code for the
// process: the plugin's own, or one that says why the runner stopped it.
// The plugin's stderr is the runner's.
func RunCredentialPlugin(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	r, err := parseRunner(args)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", CredentialPluginCommand, err)
		return exitPluginNotRun
	}
	// A plugin that can prompt on a terminal waits for a person, who can
	// interrupt it: it keeps the terminal's process group, so that it can
	// read, and no clock. Anything else gets a group of its own, which is
	// stopped whole, and the bound.
	f, isFile := stdin.(*os.File)
	interactive := isFile && term.IsTerminal(int(f.Fd()))
	bound := r.bound
	if interactive {
		bound = 0
	}
	parentGone := watchParent(r.parent)

	cmd := exec.Command(r.command, r.rest...)
	cmd.Stdin, cmd.Stderr = stdin, stderr
	cmd.SysProcAttr = pluginProcAttr(!interactive)
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", CredentialPluginCommand, err)
		return exitPluginNotRun
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, stopSignals...)
	defer signal.Stop(signals)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", CredentialPluginCommand, err)
		return exitPluginNotRun
	}

	type read struct {
		data []byte
		err  error
	}
	reading := make(chan read, 1)
	go func() {
		var buf bytes.Buffer
		_, err := io.Copy(&buf, io.LimitReader(out, MaxCredentialOutput+1))
		if err == nil && buf.Len() > MaxCredentialOutput {
			err = errTooLarge
		}
		reading <- read{buf.Bytes(), err}
	}()
	var deadline <-chan time.Time
	if bound > 0 {
		t := time.NewTimer(bound)
		defer t.Stop()
		deadline = t.C
	}
	stop := func(code int) int {
		stopPlugin(cmd.Process, !interactive)
		_ = cmd.Wait()
		return code
	}
	select {
	case got := <-reading:
		if errors.Is(got.err, errTooLarge) {
			return stop(exitPluginTooLarge)
		}
		// The plugin closed its output: it is done, or about to be.
		waited := make(chan error, 1)
		go func() { waited <- cmd.Wait() }()
		select {
		case err := <-waited:
			if err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					return exitCodeOf(ee)
				}
				return exitPluginNotRun
			}
		case <-deadline:
			stopPlugin(cmd.Process, !interactive)
			<-waited
			return exitPluginTimeout
		case <-parentGone:
			stopPlugin(cmd.Process, !interactive)
			<-waited
			return exitPluginTimeout
		case <-signals:
			stopPlugin(cmd.Process, !interactive)
			<-waited
			return exitPluginTimeout
		}
		if _, err := stdout.Write(got.data); err != nil {
			return exitPluginNotRun
		}
		return 0
	case <-deadline:
		return stop(exitPluginTimeout)
	case <-parentGone:
		return stop(exitPluginTimeout)
	case <-signals:
		return stop(exitPluginTimeout)
	}
}

var errTooLarge = errors.New("output too large")

// exitCodeOf is the code a plugin exited with, or 128 plus the signal
// that ended it, as a shell reports it.
func exitCodeOf(ee *exec.ExitError) int {
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ee.ExitCode()
}

// CredentialPluginError is a credential plugin (user.exec of a
// kubeconfig) that the runner stopped, or that failed.
type CredentialPluginError struct {
	// Plugin is the plugin's command ("" when unknown), User the
	// kubeconfig user it belongs to.
	Plugin, User string
	// Code is the runner's exit code.
	Code int
	// Bound is the time the plugin was given and Flag the flag that sets it.
	Bound time.Duration
	Flag  string
}

func (e *CredentialPluginError) Error() string {
	who := "the credential plugin of your kubeconfig (user.exec)"
	switch {
	case e.Plugin != "" && e.User != "":
		who = fmt.Sprintf("the credential plugin %q of user %q (user.exec in your kubeconfig)", e.Plugin, e.User)
	case e.Plugin != "":
		who = fmt.Sprintf("the credential plugin %q (user.exec in your kubeconfig)", e.Plugin)
	}
	switch e.Code {
	case exitPluginTimeout:
		within, raise := "in time", "raise --request-timeout"
		if e.Bound > 0 {
			within = "within " + e.Bound.String()
		}
		if e.Flag != "" {
			raise = "raise " + e.Flag
		}
		return fmt.Sprintf("%s gave no credentials %s and was stopped: run it by hand to see what it waits for (a login?), or %s", who, within, raise)
	case exitPluginTooLarge:
		return fmt.Sprintf("%s printed more than %d KiB, which is no credential: run it by hand to see what it prints", who, MaxCredentialOutput>>10)
	case exitPluginNotRun:
		return fmt.Sprintf("%s could not be run: check that it is installed and on PATH (its error is printed above)", who)
	}
	return fmt.Sprintf("%s failed with exit code %d: run it by hand to see why", who, e.Code)
}

// pluginFailure matches client-go's message for a plugin that exited
// with an error; the runner is the plugin client-go sees.
var pluginFailure = regexp.MustCompile(`exec: executable (.+) failed with exit code (\d+)`)

// AsCredentialPluginError finds, in err, a failure of the credential
// plugin runner, which client-go reports only as text.
func AsCredentialPluginError(err error) (*CredentialPluginError, bool) {
	if err == nil {
		return nil, false
	}
	m := pluginFailure.FindStringSubmatch(err.Error())
	if m == nil {
		return nil, false
	}
	self, serr := os.Executable()
	if serr != nil || filepath.Clean(self) != m[1] {
		return nil, false
	}
	code, _ := strconv.Atoi(m[2])
	return &CredentialPluginError{Code: code}, true
}
