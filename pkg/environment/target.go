package environment

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes"

	"github.com/envops/kubectl-envops/pkg/config"
)

// Target is the cluster and namespace a command acts on, resolved from
// --env, .envops.yaml and kubectl's flags.
type Target struct {
	// Env is the expected environment.
	Env string
	// Context is the effective kube context name.
	Context string
	// Namespace is the effective namespace.
	Namespace string
	// Mapping is the environment's entry in .envops.yaml (zero if none).
	Mapping config.Environment
	// Mapped is true when .envops.yaml defines Env.
	Mapped bool
	Config *config.Config
	Client kubernetes.Interface
	// Warn receives the guard's warnings (nil: none are printed).
	Warn io.Writer
}

// Verify runs the guard: the target namespace must declare Env.
func (t *Target) Verify(ctx context.Context) error {
	return t.VerifyNamespace(ctx, t.Namespace)
}

// VerifyNamespace runs the guard on another namespace of the same cluster.
func (t *Target) VerifyNamespace(ctx context.Context, namespace string) error {
	warning, err := CheckIn(ctx, t.Client, t.Context, namespace, t.Env, t.Config.Secret)
	if warning != "" && t.Warn != nil {
		fmt.Fprintln(t.Warn, warning)
	}
	return err
}

// ErrNeedsYes is matched by Confirm's refusal when there is no terminal to
// ask on: the command line lacks --yes.
var ErrNeedsYes = errors.New("confirmation needs --yes")

type needsYes struct{ error }

func (e needsYes) Is(target error) bool { return target == ErrNeedsYes }

// Confirm asks for the environment's name on a terminal when .envops.yaml
// marks it confirm: true; without a terminal it requires --yes. action
// completes "about to ...", e.g. "deploy web".
func (t *Target) Confirm(streams genericiooptions.IOStreams, yes bool, action string) error {
	if !t.Mapping.Confirm || yes {
		return nil
	}
	if !printers.IsTerminal(streams.In) {
		return needsYes{fmt.Errorf("environment %q asks for confirmation (confirm: true in %s) and stdin is not a terminal: pass --yes to %s in context %q", t.Env, t.Config.Path, action, t.Context)}
	}
	return ConfirmTyped(streams.In, streams.ErrOut, t.Env, fmt.Sprintf("about to %s in environment %q (context %q, namespace %q)", action, t.Env, t.Context, t.Namespace))
}

// ConfirmTyped asks the user to type word and fails unless they do.
func ConfirmTyped(in io.Reader, out io.Writer, word, what string) error {
	fmt.Fprintf(out, "%s.\nType %q to continue: ", what, word)
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("cannot read the confirmation: %w", err)
	}
	if strings.TrimSpace(line) != word {
		return fmt.Errorf("confirmation did not match %q: nothing was changed", word)
	}
	return nil
}
