package rbac

import (
	"context"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// DeniedError says that the user lacks a rule a command needs.
type DeniedError struct {
	Use  Use
	Verb string
	Rule Rule
	// Namespace is where access was checked; "" for cluster-wide.
	Namespace string
	// User is who was refused, when known.
	User string
	// Target is the namespace the command acts on ("" for all), for the fix.
	Target string
}

// Error names the missing verb and resource, who lacks it, and the fix.
func (e *DeniedError) Error() string {
	return Message(e.Verb, e.Rule.GroupResource(), e.Namespace, e.Rule.Scope == Cluster, e.User, FixCommand(e.Use, e.Target))
}

// Message is the one line that explains a refusal: verb, resource, where,
// who, and the command that grants it (fix; "" when unknown).
func Message(verb, groupResource, namespace string, clusterScoped bool, user, fix string) string {
	where := fmt.Sprintf(" in namespace %q", namespace)
	switch {
	case clusterScoped:
		where = ""
	case namespace == "":
		where = " in all namespaces"
	}
	as := ""
	if user != "" {
		as = fmt.Sprintf(" as %q", user)
	}
	next := "ask an admin to grant it"
	if fix != "" {
		next = fmt.Sprintf("ask an admin to run %q", fix)
	}
	return fmt.Sprintf("forbidden: cannot %s resource %q%s%s; %s", verb, groupResource, where, as, next)
}

// FixCommand is the command an admin runs to grant a use.
func FixCommand(u Use, namespace string) string {
	if namespace == "" {
		return fmt.Sprintf("kubectl envops rbac --for %s --cluster-wide --apply", u)
	}
	return fmt.Sprintf("kubectl envops rbac --for %s -n %s --apply", u, namespace)
}

// Check asks the API server (SelfSubjectAccessReview) whether the current
// user holds every rule the use requires in namespace ("" with
// allNamespaces: in every namespace), so that a command refuses before it
// changes anything rather than halfway. The first missing rule is returned
// as a *DeniedError; user names the caller in that error.
func Check(ctx context.Context, client kubernetes.Interface, u Use, namespace string, allNamespaces bool, user string) error {
	ns := namespace
	if allNamespaces {
		ns = ""
	}
	for _, r := range Required(u, allNamespaces) {
		for _, verb := range r.Verbs {
			attrs := &authorizationv1.ResourceAttributes{Verb: verb, Group: r.Group, Resource: r.Resource}
			// A rule granted on named objects only is checked on its first one.
			if len(r.ResourceNames) > 0 {
				attrs.Name = r.ResourceNames[0]
			}
			if r.Scope == Namespaced {
				attrs.Namespace = ns
			}
			review, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
				Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: attrs},
			}, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("cannot check access to %s: %w", r.GroupResource(), err)
			}
			if !review.Status.Allowed {
				return &DeniedError{Use: u, Verb: verb, Rule: r, Namespace: attrs.Namespace, User: user, Target: ns}
			}
		}
	}
	return nil
}
