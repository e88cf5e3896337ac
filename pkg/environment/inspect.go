package environment

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/envops/kubectl-envops/pkg/config"
)

// Report is what a cluster declares about its environment, seen from one
// namespace: the environment as read there, and how the namespaces agree.
type Report struct {
	Reading
	Survey
}

// Reading is the environment as read from one namespace.
type Reading struct {
	// Namespace is the namespace that was asked.
	Namespace string `json:"namespace"`
	// Environment is the cluster's environment: the asked namespace's value,
	// or else the value every other namespace agrees on ("" if neither).
	Environment string `json:"environment"`
	// Source is the namespace Environment was read from.
	Source string `json:"source,omitempty"`
}

// Survey is what every namespace of the cluster declares.
type Survey struct {
	// Declared groups namespaces by the environment they declare; nil when
	// the Secrets could not be listed.
	Declared map[string][]string `json:"declared,omitempty"`
	// Missing lists namespaces (system ones aside) without the Secret; nil
	// when namespaces could not be listed.
	Missing []string `json:"missing,omitempty"`
	// Unchecked says why Declared or Missing are unknown.
	Unchecked string `json:"unchecked,omitempty"`
}

// Consistent is true unless namespaces declare different environments.
func (s *Survey) Consistent() bool { return len(s.Declared) <= 1 }

// Environments lists the environments the namespaces declare, sorted.
func (s *Survey) Environments() []string { return slices.Sorted(maps.Keys(s.Declared)) }

// Inspect reads the environment of namespace and, where permissions allow,
// of every other namespace. Only failing to read namespace itself (other
// than its Secret being absent) is an error: a namespace that does not
// exist, or is being deleted and has lost its Secret, is a *NamespaceError.
func Inspect(ctx context.Context, client kubernetes.Interface, namespace string, s config.Secret) (*Report, error) {
	r := &Report{Reading: Reading{Namespace: namespace}}
	value, err := Read(ctx, client, namespace, s)
	switch {
	case err == nil:
		r.Environment, r.Source = value, namespace
	case !errors.Is(err, ErrNotDeclared):
		return nil, err
	default:
		if nsErr := namespaceState(ctx, client, namespace, true); nsErr != nil {
			return nil, nsErr
		}
	}

	declared, err := Declarations(ctx, client, s)
	if err != nil {
		r.Unchecked = err.Error()
		return r, nil
	}
	r.Declared = map[string][]string{}
	for ns, env := range declared {
		r.Declared[env] = append(r.Declared[env], ns)
	}
	for _, nss := range r.Declared {
		slices.Sort(nss)
	}
	if r.Environment == "" && len(r.Declared) == 1 {
		for env, nss := range r.Declared {
			r.Environment, r.Source = env, nss[0]
		}
	}

	nsList, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		r.Unchecked = fmt.Sprintf("cannot list namespaces: %v", err)
		return r, nil
	}
	r.Missing = []string{}
	for _, ns := range nsList.Items {
		if _, ok := declared[ns.Name]; ok || IsSystemNamespace(ns.Name) || ns.Status.Phase == corev1.NamespaceTerminating {
			continue
		}
		r.Missing = append(r.Missing, ns.Name)
	}
	slices.Sort(r.Missing)
	return r, nil
}

// TargetNamespaces lists the namespaces "all namespaces" means: every
// active namespace except SystemNamespaces, sorted.
func TargetNamespaces(ctx context.Context, client kubernetes.Interface) ([]string, error) {
	list, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("cannot list namespaces: %w", err)
	}
	var out []string
	for _, ns := range list.Items {
		if IsSystemNamespace(ns.Name) || ns.Status.Phase == corev1.NamespaceTerminating {
			continue
		}
		out = append(out, ns.Name)
	}
	slices.Sort(out)
	return out, nil
}
