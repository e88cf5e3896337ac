package rbac

import (
	"context"
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
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
	return Message(e.Verb, e.Rule.GroupResource(), e.Namespace, e.Rule.Scope == Cluster, e.User, Fix(e.Use, e.Target, e.User))
}

// Message is the one line that explains a refusal: verb, resource, where,
// who, and what an admin does to grant it (next, from Fix; "" when
// unknown).
func Message(verb, groupResource, namespace string, clusterScoped bool, user, next string) string {
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
	if next == "" {
		next = "ask an admin to grant it"
	}
	return fmt.Sprintf("forbidden: cannot %s resource %q%s%s; %s", verb, groupResource, where, as, next)
}

// serviceAccountPrefix starts the user name of every service account:
// system:serviceaccount:NAMESPACE:NAME.
const serviceAccountPrefix = "system:serviceaccount:"

// Fix says what an admin does to grant use u to user in namespace ("" for
// every namespace). The rbac command binds a service account of the
// namespace it writes to; so a service account of that namespace is named
// with --service-account, and anyone else (a person, a group's member, a
// service account of another namespace) is bound to the roles it writes
// with kubectl create rolebinding. An unknown user gets the command alone.
func Fix(u Use, namespace, user string) string {
	rbacCmd := fmt.Sprintf("kubectl envops rbac --for %s -n %s", u, namespace)
	if namespace == "" {
		rbacCmd = fmt.Sprintf("kubectl envops rbac --for %s --cluster-wide", u)
	}
	saNamespace, saName, isSA := strings.Cut(strings.TrimPrefix(user, serviceAccountPrefix), ":")
	isSA = isSA && strings.HasPrefix(user, serviceAccountPrefix)
	switch {
	case user == "":
		return fmt.Sprintf("ask an admin to run %q", rbacCmd+" --apply")
	case isSA && namespace == "":
		return fmt.Sprintf("ask an admin to run %q", rbacCmd+" -n "+saNamespace+" --service-account "+saName+" --apply")
	case isSA && saNamespace == namespace:
		return fmt.Sprintf("ask an admin to run %q", rbacCmd+" --service-account "+saName+" --apply")
	}
	subject, who, tag := "--user "+user, fmt.Sprintf("user %q", user), user
	if isSA {
		subject = "--serviceaccount " + saNamespace + ":" + saName
		who = fmt.Sprintf("service account %s/%s", saNamespace, saName)
		tag = saNamespace + ":" + saName
	}
	var binds []string
	role, clusterRole := roleNames(u, namespace)
	if role != "" {
		binds = append(binds, fmt.Sprintf("%q", fmt.Sprintf("kubectl create rolebinding %s:%s -n %s --role %s %s", role, tag, namespace, role, subject)))
	}
	if clusterRole != "" {
		binds = append(binds, fmt.Sprintf("%q", fmt.Sprintf("kubectl create clusterrolebinding %s:%s --clusterrole %s %s", clusterRole, tag, clusterRole, subject)))
	}
	return fmt.Sprintf("ask an admin to create the roles with %q and bind them to %s with %s", rbacCmd+" --apply", who, strings.Join(binds, " and "))
}

// roleNames are the Role and ClusterRole ("" for none) the rbac command
// writes for u in namespace ("" for every namespace).
func roleNames(u Use, namespace string) (role, clusterRole string) {
	for _, obj := range Manifests(Options{Use: u, Namespace: namespace, ClusterWide: namespace == "", ServiceAccount: "envops"}) {
		switch o := obj.(type) {
		case *rbacv1.Role:
			role = o.Name
		case *rbacv1.ClusterRole:
			clusterRole = o.Name
		}
	}
	return role, clusterRole
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
