package cmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/environment"
	"github.com/envops/kubectl-envops/pkg/rbac"
	"github.com/envops/kubectl-envops/pkg/render"
	"github.com/envops/kubectl-envops/pkg/rollout"
)

// Exit codes shared by every command.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
	// ExitInterrupted and ExitTerminated are the shell's codes for a
	// process ended by SIGINT and SIGTERM (128 + the signal's number).
	ExitInterrupted = 130
	ExitTerminated  = 143
)

// UsageError is a mistake in the command line: an argument, a flag's value,
// or flags that do not go together.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// usageError builds a UsageError; %w keeps the cause.
func usageError(format string, a ...any) error {
	return &UsageError{Err: fmt.Errorf(format, a...)}
}

// SilentError ends a command with an exit code and nothing more to say:
// what the command printed is the answer (deploy --diff found
// differences, as kubectl diff exits 1).
type SilentError struct{ Code int }

func (e *SilentError) Error() string { return "" }

// InputError is input the command cannot use: the project file, the
// kubeconfig, an app's files, manifests or kustomizations that are missing,
// unreadable or malformed.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// inputError marks err, when there is one, as an InputError.
func inputError(err error) error {
	if err == nil {
		return nil
	}
	return &InputError{Err: err}
}

// FindingsError is lint's answer when it found something at or above
// --fail-on: the report is printed, and the exit code says so.
type FindingsError struct {
	Count  int
	FailOn string
}

func (e *FindingsError) Error() string {
	noun := "findings"
	if e.Count == 1 {
		noun = "finding"
	}
	return fmt.Sprintf("lint found %d %s at or above severity %s (--fail-on)", e.Count, noun, e.FailOn)
}

// UncheckedError is lint's answer when a live cluster could not be read:
// nothing is known about the convention there, which must not read as
// findings (1).
type UncheckedError struct{ Err error }

func (e *UncheckedError) Error() string { return e.Err.Error() }
func (e *UncheckedError) Unwrap() error { return e.Err }

// exitCodes decides the exit code of every command from the type of its
// error; the first row that matches wins, and an error no row matches
// exits ExitError.
var exitCodes = []struct {
	what  string
	match func(error) bool
	code  int
}{
	{"a deploy that stopped because another took its lock over, and left the update to it", isA[*rollout.LockLostError], ExitError},
	{"an update that failed or was interrupted and is left in place for a resume", leftForResume, ExitResumable},
	{"an update that failed and was rolled back", isA[*rollout.FailedError], ExitError},
	{"a command stopped by Ctrl-C (SIGINT), leaving files as they were or complete", interruptedBy(os.Interrupt), ExitInterrupted},
	{"a command stopped by SIGTERM, the same way", interruptedBy(syscall.SIGTERM), ExitTerminated},
	{"a mistake in the command line", isA[*UsageError], ExitUsage},
	{"input that cannot be used", isA[*InputError], ExitUsage},
	{"an environment the project file does not define", is(config.ErrUnknownEnvironment), ExitUsage},
	{"a confirmation that needs --yes", is(environment.ErrNeedsYes), ExitUsage},
	{"a namespace that does not exist", is(environment.ErrNamespaceNotFound), ExitUsage},
	{"a file the command would overwrite", is(fs.ErrExist), ExitUsage},
	{"input kustomize must not read (too large, an alias bomb, a remote resource when turned off)", is(render.ErrInput), ExitUsage},
	{"a kubeconfig that cannot be used", is(environment.ErrInput), ExitUsage},
	{"lint findings at or above --fail-on", isA[*FindingsError], ExitError},
	{"lint that could not read a live cluster (denied, unreachable, too slow)", isA[*UncheckedError], ExitUsage},
}

// ExitCode is the process exit code for err.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var silent *SilentError
	if errors.As(err, &silent) {
		return silent.Code
	}
	for _, row := range exitCodes {
		if row.match(err) {
			return row.code
		}
	}
	return ExitError
}

func isA[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

// interruptedBy matches an *InterruptedError for sig.
func interruptedBy(sig os.Signal) func(error) bool {
	return func(err error) bool {
		var ie *InterruptedError
		return errors.As(err, &ie) && ie.Signal == sig
	}
}

func is(sentinel error) func(error) bool {
	return func(err error) bool { return errors.Is(err, sentinel) }
}

// leftForResume is a rolling update that stopped without rolling back.
func leftForResume(err error) bool {
	var fe *rollout.FailedError
	return errors.As(err, &fe) && !fe.RolledBack
}

// useOf maps a command path to the rbac use that grants it ("" for none).
func useOf(commandPath string) rbac.Use {
	for _, f := range strings.Fields(commandPath) {
		if u, err := rbac.ParseUse(f); err == nil && u != rbac.All {
			return u
		}
	}
	return ""
}

// translateError turns an RBAC refusal from the API server into one line
// that names the missing verb and resource, who was refused, and the
// command that grants access. Other errors are returned unchanged. Only the
// message changes: the exit code is taken from the error as the command
// returned it.
func translateError(err error, commandPath string) error {
	if err == nil {
		return nil
	}
	return rbac.Explain(err, useOf(commandPath))
}
