package cmd

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/envops/kubectl-envops/pkg/audit"
)

// options is what the Options of every command implement: Complete fills
// in what the command line and the environment imply, Validate only checks,
// Run does the work.
type options interface {
	Complete(g *Globals, cmd *cobra.Command, args []string) error
	Validate() error
	Run(ctx context.Context) error
}

// runOptions is the RunE of every command: Complete, Validate, then Run,
// or runF instead of Run when tests want to inspect the options.
func runOptions[O options](g *Globals, o O, runF func(O) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := o.Complete(g, cmd, args); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		if runF != nil {
			return runF(o)
		}
		return o.Run(cmd.Context())
	}
}

// exactArgs accepts n arguments, and otherwise says so as a usage error;
// what names them ("one app name").
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError("%s takes exactly %s; see '%s --help'", cmd.Name(), what, cmd.CommandPath())
		}
		return nil
	}
}

// changeCause is the change cause a command that writes records: given
// (its --change-cause), or else its command line (audit.Cause).
func changeCause(cmd *cobra.Command, args []string, given string) string {
	var flags []string
	cmd.Flags().Visit(func(f *pflag.Flag) {
		// --diff previews the deploy that runs without it, so it records
		// that deploy's command line.
		if f.Name == "diff" {
			return
		}
		// A flag given several times is recorded as it was typed, once
		// per value.
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				flags = append(flags, "--"+f.Name+"="+v)
			}
			return
		}
		flags = append(flags, "--"+f.Name+"="+f.Value.String())
	})
	return audit.Cause(given, cmd.CommandPath(), args, flags)
}

// noArgs accepts no arguments, and otherwise says so as a usage error;
// hint says what to do instead.
func noArgs(hint string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 0 {
			return usageError("%s takes no arguments: %s; see '%s --help'", cmd.Name(), hint, cmd.CommandPath())
		}
		return nil
	}
}

// untilInterrupted is ctx ended by Ctrl-C or SIGTERM, for commands that
// stop cleanly (and resumably) when interrupted; context.Cause then gives
// an *InterruptedError naming the signal. A second signal, once the
// returned func has been called, ends the process as usual.
func untilInterrupted(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-sig:
			cancel(&InterruptedError{Signal: s})
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(sig)
		cancel(nil)
	}
}

// InterruptedError is a command stopped by a signal before it finished.
type InterruptedError struct{ Signal os.Signal }

func (e *InterruptedError) Error() string {
	name := "SIGTERM"
	if e.Signal == os.Interrupt {
		name = "SIGINT"
	}
	return "interrupted (" + name + ")"
}

// Is makes an interruption match context.Canceled, as the context's own
// error does.
func (e *InterruptedError) Is(target error) bool { return target == context.Canceled }
