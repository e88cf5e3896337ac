// Package environment reads, writes and verifies the environment Secret, the
// Secret through which a cluster declares which environment it serves.
package environment

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/kube"
	"github.com/envops/kubectl-envops/pkg/text"
)

// ErrNotDeclared is wrapped by Read when the namespace has no environment
// Secret, or the Secret lacks the environment key.
var ErrNotDeclared = errors.New("no environment declared")

// Read returns the environment the Secret s declares in namespace. Only the
// environment key's value is ever returned; other keys are not looked at.
// A namespace that does not exist, or is being deleted, is a
// *NamespaceError rather than a namespace without the Secret.
func Read(ctx context.Context, client kubernetes.Interface, namespace string, s config.Secret) (string, error) {
	secret, err := client.CoreV1().Secrets(namespace).Get(ctx, s.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("%w: namespace %q has no Secret %q", ErrNotDeclared, namespace, s.Name)
	}
	if err != nil {
		return "", fmt.Errorf("cannot read Secret %q in namespace %q: %w", s.Name, namespace, err)
	}
	value, ok := valueOf(secret.Data, s.Key)
	if !ok {
		return "", fmt.Errorf("%w: Secret %q in namespace %q has no key %q", ErrNotDeclared, s.Name, namespace, s.Key)
	}
	return value, nil
}

// MaxValueShown bounds an environment value as this package returns it.
// An environment is named by a DNS label of at most 63 characters, so a
// longer value is never one, and clipping it changes no comparison; but a
// Secret may hold up to a megabyte, which no line should echo.
const MaxValueShown = 100

// valueOf extracts the environment key, trimmed (files written with echo
// carry a trailing newline that pods reading the mount would also trim),
// and clipped to MaxValueShown bytes with a note of its size.
func valueOf(data map[string][]byte, key string) (string, bool) {
	v, ok := data[key]
	return text.Clip(strings.TrimSpace(string(v)), MaxValueShown), ok
}

// Verify is the guard: it succeeds only if namespace declares exactly the
// expected environment. Otherwise it returns a *GuardError (or a read
// error); pass it through WithContext so the message names the context.
func Verify(ctx context.Context, client kubernetes.Interface, namespace, expected string, s config.Secret) error {
	_, err := Check(ctx, client, namespace, expected, s)
	return err
}

// Check is Verify that also says whether the Secret is bound to its
// cluster. A Secret bound to another cluster (copied, or restored from a
// backup) fails with an *IdentityError; an unbound one (written by an
// earlier version) passes with Binding.Unbound set. A namespace that does
// not exist or is being deleted fails with a *NamespaceError, before
// anything can wait on it.
func Check(ctx context.Context, client kubernetes.Interface, namespace, expected string, s config.Secret) (Binding, error) {
	secret, err := client.CoreV1().Secrets(namespace).Get(ctx, s.Name, metav1.GetOptions{})
	if nsErr := namespaceState(ctx, client, namespace, apierrors.IsNotFound(err)); nsErr != nil {
		nsErr.Expected = expected
		return Binding{}, nsErr
	}
	switch {
	case apierrors.IsNotFound(err):
		err = fmt.Errorf("%w: namespace %q has no Secret %q", ErrNotDeclared, namespace, s.Name)
		return Binding{}, &GuardError{Namespace: namespace, Expected: expected, Secret: s, Missing: true, Err: err}
	case err != nil:
		return Binding{}, fmt.Errorf("cannot read Secret %q in namespace %q: %w", s.Name, namespace, err)
	}
	found, ok := valueOf(secret.Data, s.Key)
	switch {
	case !ok:
		err = fmt.Errorf("%w: Secret %q in namespace %q has no key %q", ErrNotDeclared, s.Name, namespace, s.Key)
		return Binding{}, &GuardError{Namespace: namespace, Expected: expected, Secret: s, Missing: true, Err: err}
	case found != expected:
		return Binding{}, &GuardError{Namespace: namespace, Expected: expected, Found: found, Secret: s}
	}
	return checkIdentity(ctx, client, namespace, found, secret.Annotations)
}

// GuardError says that a namespace does not declare the expected environment.
type GuardError struct {
	// Context is the kube context, set by WithContext.
	Context   string
	Namespace string
	Expected  string
	// Found is the declared environment; empty when Missing.
	Found string
	// Missing is true when the namespace declares no environment at all.
	Missing bool
	Secret  config.Secret
	Err     error
}

// Error names where the guard looked, what it found and how to fix it.
func (e *GuardError) Error() string {
	where, flags := locate(e.Context, e.Namespace)
	if e.Missing {
		return fmt.Sprintf("%s declares no environment (no Secret %q with key %q), expected %q; if this cluster serves %q run \"kubectl envops init-env %s %s\", otherwise pick the right cluster with --context or --env",
			where, e.Secret.Name, e.Secret.Key, e.Expected, e.Expected, e.Expected, flags)
	}
	return fmt.Sprintf("environment mismatch: %s holds environment %q, not %q; check with \"kubectl envops env %s\" and pick the cluster that serves %q with --context or --env",
		where, e.Found, e.Expected, flags, e.Expected)
}

// Unwrap returns the read error behind a missing declaration.
func (e *GuardError) Unwrap() error { return e.Err }

// ErrNamespaceNotFound is matched by the *NamespaceError of a namespace
// that does not exist.
var ErrNamespaceNotFound = errors.New("namespace not found")

// NamespaceError says that the namespace a command acts on does not exist,
// or is being deleted.
type NamespaceError struct {
	// Context is the kube context, set by WithContext.
	Context   string
	Namespace string
	// Expected is the environment the guard looked for ("" when none was).
	Expected string
	// Terminating is true for a namespace being deleted; else it is missing.
	Terminating bool
}

// Error names the namespace, what is wrong with it and what to do.
func (e *NamespaceError) Error() string {
	where, flags := locate(e.Context, e.Namespace)
	get := "kubectl get namespaces"
	if e.Context != "" {
		get += " --context " + e.Context
	}
	if e.Terminating {
		return fmt.Sprintf("%s is being deleted (Terminating): nothing can run in it; pick another namespace with -n, or wait until %q no longer lists it and create it again", where, get)
	}
	if e.Expected != "" {
		// A new cluster's namespaces do not exist yet: init-env makes one.
		return fmt.Sprintf("%s not found: check the name given to -n (or the context's namespace; list them with %q), or, on a new cluster that serves %q, create and declare it with \"kubectl envops init-env %s --create-namespace %s\"", where, get, e.Expected, e.Expected, flags)
	}
	return fmt.Sprintf("%s not found: check the name given to -n (or the context's namespace); list the namespaces with %q", where, get)
}

// Is matches ErrNamespaceNotFound for a namespace that does not exist.
func (e *NamespaceError) Is(target error) bool {
	return target == ErrNamespaceNotFound && !e.Terminating
}

// namespaceState returns a *NamespaceError when namespace is being deleted,
// or, when the caller found nothing in it (absent), does not exist. A
// caller not allowed to read namespaces learns nothing, and goes on.
func namespaceState(ctx context.Context, client kubernetes.Interface, namespace string, absent bool) *NamespaceError {
	ns, err := client.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && absent:
		return &NamespaceError{Namespace: namespace}
	case err != nil:
		// A namespace not found while its Secret was read, or one the
		// caller may not read, says nothing more than the Secret.
		return nil
	case ns.Status.Phase == corev1.NamespaceTerminating || ns.DeletionTimestamp != nil:
		return &NamespaceError{Namespace: namespace, Terminating: true}
	}
	return nil
}

// WithContext records the kube context in the guard's errors so that their
// message names it; other errors are returned unchanged.
func WithContext(err error, kubeContext string) error {
	var nse *NamespaceError
	if errors.As(err, &nse) {
		c := *nse
		c.Context = kubeContext
		return &c
	}
	var ge *GuardError
	if errors.As(err, &ge) {
		c := *ge
		c.Context = kubeContext
		return &c
	}
	var ie *IdentityError
	if errors.As(err, &ie) {
		c := *ie
		c.Context = kubeContext
		return &c
	}
	var ce *ConflictError
	if errors.As(err, &ce) {
		c := *ce
		c.Context = kubeContext
		return &c
	}
	return err
}

// CheckIn is Check through kubeContext: its errors name the context, and
// a Secret not bound to its cluster yields a warning saying how to bind it.
// It is the guard before a change, which its caller bounds in time: an API
// server that refuses connections, as one does while it restarts, is asked
// again until ctx ends.
func CheckIn(ctx context.Context, client kubernetes.Interface, kubeContext, namespace, expected string, s config.Secret) (warning string, err error) {
	binding, err := Check(kube.RetryRefused(ctx), client, namespace, expected, s)
	if err == nil {
		if binding.Unbound {
			warning = fmt.Sprintf("warning: the environment Secret %q in context %q namespace %q is not bound to its cluster (written by an earlier version); bind it with \"kubectl envops init-env %s --context %s -n %s\"",
				s.Name, kubeContext, namespace, expected, kubeContext, namespace)
		}
		return warning, nil
	}
	var ge *GuardError
	var ie *IdentityError
	var nse *NamespaceError
	if errors.As(err, &ge) || errors.As(err, &ie) || errors.As(err, &nse) {
		return "", WithContext(err, kubeContext)
	}
	return "", fmt.Errorf("context %q: %w", kubeContext, err)
}

// locate names a namespace, through its context when known, for a message
// (where) and for a command line (flags).
func locate(kubeContext, namespace string) (where, flags string) {
	if kubeContext == "" {
		return fmt.Sprintf("namespace %q", namespace), "-n " + namespace
	}
	return fmt.Sprintf("context %q namespace %q", kubeContext, namespace), "--context " + kubeContext + " -n " + namespace
}
