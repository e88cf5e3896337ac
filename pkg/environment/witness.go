package environment

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/envops/kubectl-envops/pkg/config"
)

// MappedTo lists the environments the project file maps to kubeContext,
// sorted; when some of them name namespace as their namespace, only those.
// A context serves one environment (a cluster per environment), so a
// mapping speaks for the whole context unless the project file shares the
// context out by namespace. It is empty when the project file says nothing
// of the context.
func MappedTo(cfg *config.Config, kubeContext, namespace string) []string {
	var all, here []string
	for env, m := range cfg.Environments {
		if m.Context != kubeContext {
			continue
		}
		all = append(all, env)
		if m.Namespace == namespace {
			here = append(here, env)
		}
	}
	if len(here) > 0 {
		all = here
	}
	slices.Sort(all)
	return all
}

// WitnessError says that the project file, the guard's second witness,
// maps the context (and namespace) to other environments than the one
// asked for, although the namespace's environment Secret says it is.
type WitnessError struct {
	// Env is the environment asked for (--env); the Secret declares it.
	Env       string
	Context   string
	Namespace string
	// Mapped are the environments the project file maps the context to.
	Mapped []string
	// Path is the project file; MappedContext is the context it maps Env
	// to ("" when it does not map Env).
	Path, MappedContext string
}

// Error names both witnesses, what each says, and how to settle it.
func (e *WitnessError) Error() string {
	mapped := make([]string, len(e.Mapped))
	for i, env := range e.Mapped {
		mapped[i] = fmt.Sprintf("%q", env)
	}
	path := cmp.Or(e.Path, config.FileName)
	var fixes []string
	if e.MappedContext != "" && e.MappedContext != e.Context {
		fixes = append(fixes, fmt.Sprintf("to act on %q, drop --context (%s maps %q to context %q)", e.Env, path, e.Env, e.MappedContext))
	}
	fixes = append(fixes,
		fmt.Sprintf("if context %q serves %q now, map it so in %s", e.Context, e.Env, path),
		fmt.Sprintf("if it serves %s, fix its Secret with \"kubectl envops init-env %s --force --context %s -n %s\"", mapped[0], e.Mapped[0], e.Context, e.Namespace))
	return fmt.Sprintf("environment mismatch: namespace %q of context %q declares environment %q in its Secret, but %s maps context %q to environment %s: the two disagree, so nothing was changed; %s",
		e.Namespace, e.Context, e.Env, path, e.Context, strings.Join(mapped, " or "), strings.Join(fixes, "; "))
}

// HearSecondWitness is the guard's second witness: once the namespace's
// environment Secret has said it serves env (err is nil), the project file
// must not map the context and namespace to other environments only.
// Other errors are returned as they are.
func HearSecondWitness(cfg *config.Config, kubeContext, namespace, env string, err error) error {
	if err != nil || cfg == nil {
		return err
	}
	mapped := MappedTo(cfg, kubeContext, namespace)
	if len(mapped) == 0 || slices.Contains(mapped, env) {
		return nil
	}
	e := &WitnessError{Env: env, Context: kubeContext, Namespace: namespace, Mapped: mapped, Path: cfg.Path}
	if m, ok := cfg.Environments[env]; ok {
		e.MappedContext = m.Context
	}
	return e
}
