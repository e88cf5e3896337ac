package environment

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/util/retry"

	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/config"
)

// Labels marking the environment Secrets this tool writes.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "kubectl-envops"
)

// SystemNamespaces are left out of "all namespaces" unless named explicitly.
var SystemNamespaces = []string{"kube-system", "kube-public", "kube-node-lease"}

// IsSystemNamespace reports whether ns is one of SystemNamespaces.
func IsSystemNamespace(ns string) bool {
	for _, s := range SystemNamespaces {
		if ns == s {
			return true
		}
	}
	return false
}

// Action is what Ensure does, or would do, in one namespace.
type Action string

// Actions of a Change.
const (
	Create    Action = "created"
	Update    Action = "updated"
	Unchanged Action = "unchanged"
)

// Change is the planned write of the environment Secret in one namespace.
type Change struct {
	Namespace string
	Action    Action
	// Previous is the environment the namespace declared before ("" if none).
	Previous string
	// Key is the Secret's environment key, the one key this tool writes.
	Key string
	// Secret is the object to send: the existing Secret with the environment
	// key and label set, or a new one. It may hold other keys of an existing
	// Secret, so print it only through Sanitize.
	Secret *corev1.Secret
}

// Desired returns the environment Secret as this tool writes it.
func Desired(namespace, env string, s config.Secret) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      s.Name,
			Namespace: namespace,
			Labels:    map[string]string{ManagedByLabel: ManagedByValue},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{s.Key: []byte(env)},
	}
}

// Sanitize returns a copy of secret safe to print: only the environment key
// is kept, and server bookkeeping that says nothing to the reader is dropped.
func Sanitize(secret *corev1.Secret, s config.Secret) *corev1.Secret {
	out := secret.DeepCopy()
	out.APIVersion, out.Kind = "v1", "Secret"
	out.ManagedFields = nil
	out.StringData = nil
	out.Data = nil
	if v, ok := valueOf(secret.Data, s.Key); ok {
		out.Data = map[string][]byte{s.Key: []byte(v)}
	}
	// The last-applied annotation may hold every key of the Secret.
	delete(out.Annotations, corev1.LastAppliedConfigAnnotation)
	if len(out.Annotations) == 0 {
		out.Annotations = nil
	}
	return out
}

// Declarations returns, for each namespace holding the environment Secret
// with the environment key, the environment it declares; namespaces being
// deleted are left out. It lists Secrets by name across all namespaces,
// which needs "list" on secrets cluster-wide.
func Declarations(ctx context.Context, client kubernetes.Interface, s config.Secret) (map[string]string, error) {
	list, err := client.CoreV1().Secrets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", s.Name).String(),
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list Secrets %q in all namespaces: %w", s.Name, err)
	}
	out := map[string]string{}
	for i := range list.Items {
		if v, ok := valueOf(list.Items[i].Data, s.Key); ok {
			out[list.Items[i].Namespace] = v
		}
	}
	if len(out) == 0 {
		return out, nil
	}
	// A namespace being deleted no longer speaks for the cluster. Without
	// permission to list namespaces every declaration is kept.
	nsList, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err == nil {
		for _, ns := range nsList.Items {
			if ns.Status.Phase == corev1.NamespaceTerminating {
				delete(out, ns.Name)
			}
		}
	}
	return out, nil
}

// ConflictError says that the cluster already declares another environment.
type ConflictError struct {
	// Context is the kube context, set by WithContext.
	Context string
	// Env is the environment that was to be written.
	Env string
	// Found maps namespaces to the other environments they declare.
	Found map[string]string
	// Target is true when a target namespace itself holds the other value.
	Target bool
	// Namespaces are the namespaces that were to be written.
	Namespaces []string
	Secret     config.Secret
}

// Error lists the other environments by namespace, and the way out.
func (e *ConflictError) Error() string {
	byEnv := map[string][]string{}
	for ns, env := range e.Found {
		byEnv[env] = append(byEnv[env], ns)
	}
	envs := slices.Sorted(maps.Keys(byEnv))
	parts := make([]string, 0, len(envs))
	for _, env := range envs {
		nss := byEnv[env]
		slices.Sort(nss)
		const most = 5
		more := ""
		if len(nss) > most {
			more = fmt.Sprintf(" and %d more", len(nss)-most)
			nss = nss[:most]
		}
		word := "namespace"
		if len(nss) > 1 || more != "" {
			word = "namespaces"
		}
		parts = append(parts, fmt.Sprintf("%q in %s %s%s", env, word, strings.Join(nss, ", "), more))
	}
	where := "the cluster"
	if e.Context != "" {
		where = fmt.Sprintf("context %q", e.Context)
	}
	into := ""
	switch len(e.Namespaces) {
	case 0:
	case 1:
		into = fmt.Sprintf(" in namespace %q", e.Namespaces[0])
	default:
		into = fmt.Sprintf(" in %d namespaces", len(e.Namespaces))
	}
	return fmt.Sprintf("refusing to declare environment %q%s: %s already declares %s (Secret %q); one cluster serves one environment, so pick the right cluster with --context, or pass --force to overwrite",
		e.Env, into, where, strings.Join(parts, "; "), e.Secret.Name)
}

// PlanOptions tunes Plan.
type PlanOptions struct {
	// Force allows overwriting a different environment.
	Force bool
	// Declared is the result of Declarations, when the caller could list
	// them; nil means only the target namespaces are checked.
	Declared map[string]string
	// Identity is the cluster's identity (ClusterID) to bind the Secrets
	// to; "" leaves bindings as they are. A Secret bound to another cluster
	// is refused with an *IdentityError unless Force.
	Identity string
}

// Plan reads the environment Secret in each namespace and returns the
// change that makes it declare env. Without Force it refuses with a
// *ConflictError when any target, or any namespace in opts.Declared,
// declares another environment. It writes nothing.
func Plan(ctx context.Context, client kubernetes.Interface, namespaces []string, env string, s config.Secret, opts PlanOptions) ([]Change, error) {
	conflicts := map[string]string{}
	target := false
	for ns, v := range opts.Declared {
		if v != env {
			conflicts[ns] = v
		}
	}
	changes := make([]Change, 0, len(namespaces))
	for _, ns := range namespaces {
		existing, err := client.CoreV1().Secrets(ns).Get(ctx, s.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			secret := Desired(ns, env, s)
			if opts.Identity != "" {
				secret.Annotations = map[string]string{IdentityAnnotation: opts.Identity}
			}
			changes = append(changes, Change{Namespace: ns, Action: Create, Key: s.Key, Secret: secret})
			continue
		case err != nil:
			return nil, fmt.Errorf("cannot read Secret %q in namespace %q: %w", s.Name, ns, err)
		}
		prev, _ := valueOf(existing.Data, s.Key)
		if prev != "" && prev != env {
			conflicts[ns] = prev
			target = true
		}
		bound := existing.Annotations[IdentityAnnotation]
		if opts.Identity != "" && bound != "" && bound != opts.Identity && !opts.Force {
			return nil, &IdentityError{Namespace: ns, Env: prev, Recorded: bound, Actual: opts.Identity}
		}
		rebind := opts.Identity != "" && bound != opts.Identity
		c := Change{Namespace: ns, Previous: prev, Action: Unchanged, Key: s.Key, Secret: existing.DeepCopy()}
		if prev != env || existing.Labels[ManagedByLabel] != ManagedByValue || rebind {
			if rebind {
				if c.Secret.Annotations == nil {
					c.Secret.Annotations = map[string]string{}
				}
				c.Secret.Annotations[IdentityAnnotation] = opts.Identity
			}
			c.Action = Update
			c.Secret.APIVersion, c.Secret.Kind = "v1", "Secret"
			if c.Secret.Labels == nil {
				c.Secret.Labels = map[string]string{}
			}
			c.Secret.Labels[ManagedByLabel] = ManagedByValue
			if c.Secret.Data == nil {
				c.Secret.Data = map[string][]byte{}
			}
			c.Secret.Data[s.Key] = []byte(env)
		}
		changes = append(changes, c)
	}
	if len(conflicts) > 0 && !opts.Force {
		return nil, &ConflictError{Env: env, Found: conflicts, Target: target, Namespaces: namespaces, Secret: s}
	}
	return changes, nil
}

// Apply sends the changes. With dryRun the server validates them and
// persists nothing. The returned Secrets are what the server answered
// (or the planned object for unchanged namespaces).
func Apply(ctx context.Context, client kubernetes.Interface, changes []Change, dryRun bool, fieldManager string) ([]*corev1.Secret, error) {
	var dr []string
	if dryRun {
		dr = []string{metav1.DryRunAll}
	}
	out := make([]*corev1.Secret, 0, len(changes))
	for _, c := range changes {
		secrets := client.CoreV1().Secrets(c.Namespace)
		var got *corev1.Secret
		var err error
		switch c.Action {
		case Create:
			got, err = secrets.Create(ctx, c.Secret, metav1.CreateOptions{DryRun: dr, FieldManager: fieldManager})
		case Update:
			got, err = updateOnFreshRead(ctx, secrets, c, metav1.UpdateOptions{DryRun: dr, FieldManager: fieldManager})
		default:
			got = c.Secret
		}
		if err != nil {
			return out, writeError(c, err)
		}
		out = append(out, got)
	}
	return out, nil
}

// updateOnFreshRead updates the Secret, and when someone else changed it
// since it was read (a conflict), reads it again, carries over only what
// this tool writes (the environment key, its label and the audit
// annotations) and tries again, so that the other change is kept.
func updateOnFreshRead(ctx context.Context, secrets corev1client.SecretInterface, c Change, opts metav1.UpdateOptions) (*corev1.Secret, error) {
	want := c.Secret
	obj := want
	var got *corev1.Secret
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var err error
		got, err = secrets.Update(ctx, obj, opts)
		if !apierrors.IsConflict(err) {
			return err
		}
		fresh, gerr := secrets.Get(ctx, want.Name, metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		obj = fresh.DeepCopy()
		obj.APIVersion, obj.Kind = want.APIVersion, want.Kind
		if obj.Labels == nil {
			obj.Labels = map[string]string{}
		}
		obj.Labels[ManagedByLabel] = ManagedByValue
		for _, k := range append([]string{IdentityAnnotation}, audit.Keys...) {
			if v, ok := want.Annotations[k]; ok {
				if obj.Annotations == nil {
					obj.Annotations = map[string]string{}
				}
				obj.Annotations[k] = v
			}
		}
		if obj.Data == nil {
			obj.Data = map[string][]byte{}
		}
		obj.Data[c.Key] = want.Data[c.Key]
		return err
	})
	return got, err
}

// writeError explains a failed write in the user's terms.
func writeError(c Change, err error) error {
	verb := "create"
	if c.Action == Update {
		verb = "update"
	}
	if apierrors.IsNotFound(err) && c.Action == Create {
		return fmt.Errorf("cannot create Secret %q: %w; create the namespace with \"kubectl create namespace %s\" or pick another with -n", c.Secret.Name, err, c.Namespace)
	}
	if apierrors.IsConflict(err) {
		return fmt.Errorf("the Secret %q in namespace %q changed while it was written; run the command again: %w", c.Secret.Name, c.Namespace, err)
	}
	return fmt.Errorf("cannot %s Secret %q in namespace %q: %w", verb, c.Secret.Name, c.Namespace, err)
}
