package environment

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/kube"
)

// ErrInput is wrapped by the errors of Bind that come from the kubeconfig
// (it cannot be loaded, it lacks the context): input the command cannot
// use, not a failure of the cluster.
var ErrInput = errors.New("unusable kubeconfig")

type inputError struct{ error }

func (e inputError) Unwrap() []error { return []error{e.error, ErrInput} }

// Target is the cluster and namespace a command acts on, resolved once
// from --env, .envops.yaml and kubectl's flags (Bind), and passed on as a
// value: nothing later rereads or rewrites the flags.
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
	// Getter is the client configuration of Context and Namespace, with
	// every other flag as the user gave it; Dynamic and Mapper come from it.
	Getter genericclioptions.RESTClientGetter
	// Warn receives the guard's warnings (nil: none are printed).
	Warn io.Writer
}

// Bind resolves the target's context and namespace from kubectl's flags
// and the environment's mapping, and builds its client. --context wins
// over the mapped context; -n wins over the mapped namespace, which wins
// over the context's own. flags are read, never changed. Errors from the
// kubeconfig wrap ErrInput.
func (t *Target) Bind(flags *genericclioptions.ConfigFlags) error {
	kubeContext, namespace := deref(flags.Context), deref(flags.Namespace)
	if t.Mapped {
		kubeContext = cmp.Or(kubeContext, t.Mapping.Context)
		namespace = cmp.Or(namespace, t.Mapping.Namespace)
	}
	t.Getter = kube.Derive(flags, kubeContext, namespace)
	loader := t.Getter.ToRawKubeConfigLoader()
	raw, err := loader.RawConfig()
	if err != nil {
		return inputError{fmt.Errorf("cannot load kubeconfig: %w", err)}
	}
	t.Context = cmp.Or(kubeContext, raw.CurrentContext)
	if err := t.CheckContext(raw); err != nil {
		return inputError{err}
	}
	if t.Namespace, _, err = loader.Namespace(); err != nil {
		return inputError{fmt.Errorf("cannot determine the namespace: %w", err)}
	}
	rc, err := t.Getter.ToRESTConfig()
	if err != nil {
		return inputError{fmt.Errorf("context %q: %w", t.Context, err)}
	}
	if t.Client, err = kubernetes.NewForConfig(rc); err != nil {
		return fmt.Errorf("cannot create a client for context %q: %w", t.Context, err)
	}
	return nil
}

// Dynamic is a dynamic client of the target's context.
func (t *Target) Dynamic() (dynamic.Interface, error) {
	rc, err := t.Getter.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("context %q: %w", t.Context, err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("cannot create a client for context %q: %w", t.Context, err)
	}
	return dyn, nil
}

// Mapper maps the kinds the target's cluster serves to their resources.
func (t *Target) Mapper() (meta.RESTMapper, error) {
	m, err := t.Getter.ToRESTMapper()
	if err != nil {
		return nil, fmt.Errorf("cannot discover the API of context %q: %w", t.Context, err)
	}
	return m, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Verify runs the guard: the target namespace must declare Env.
func (t *Target) Verify(ctx context.Context) error {
	return t.VerifyNamespace(ctx, t.Namespace)
}

// VerifyNamespace runs the guard on another namespace of the same cluster.
func (t *Target) VerifyNamespace(ctx context.Context, namespace string) error {
	warning, err := CheckIn(ctx, t.Client, t.Context, namespace, t.Env, t.Config.Secret)
	err = HearSecondWitness(t.Config, t.Context, namespace, t.Env, err)
	if warning != "" && t.Warn != nil && err == nil {
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

// NewTarget starts the target of env: its mapping in cfg, when cfg maps
// it. Without any mapping the current context is used and the guard alone
// decides whether it serves env. Its errors are the command line's.
func NewTarget(cfg *config.Config, env string) (*Target, error) {
	if env == "" {
		choices := "for example dev or prod"
		if names := cfg.EnvironmentNames(); len(names) > 0 {
			choices = "one of " + strings.Join(names, ", ")
		}
		return nil, fmt.Errorf("--env is required: name the environment to act on (%s)", choices)
	}
	if err := config.ValidateEnvironmentName(env); err != nil {
		return nil, err
	}
	t := &Target{Env: env, Config: cfg}
	mapping, err := cfg.Environment(env)
	switch {
	case err == nil:
		t.Mapping, t.Mapped = mapping, true
	case !errors.Is(err, config.ErrUnknownEnvironment) || len(cfg.Environments) > 0:
		return nil, err
	}
	return t, nil
}

// CheckContext checks that the kubeconfig holds the target's context.
func (t *Target) CheckContext(raw clientcmdapi.Config) error {
	if _, ok := raw.Contexts[t.Context]; ok {
		return nil
	}
	switch {
	case t.Mapped && t.Context == t.Mapping.Context:
		return fmt.Errorf("environment %q maps to context %q in %s, but your kubeconfig has no such context: fix the mapping or add the context", t.Env, t.Context, t.Config.Path)
	case t.Context == "":
		return fmt.Errorf("no current context in your kubeconfig: pass --context, or map %q to a context in %s", t.Env, config.FileName)
	}
	return fmt.Errorf("context %q not found in your kubeconfig: check \"kubectl config get-contexts\"", t.Context)
}
