package rbac

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Labels put on every object rendered here.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "kubectl-envops"
	UseLabel       = "envops.io/use"
)

// Options says for whom and where a role is rendered.
type Options struct {
	Use Use
	// Namespace is where the command acts, and where the ServiceAccount lives.
	Namespace string
	// ClusterWide grants every rule in all namespaces (a ClusterRole).
	ClusterWide bool
	// ServiceAccount is the account bound to the role.
	ServiceAccount string
}

// RoleName is the name of the Role, or ClusterRole, of a use.
func RoleName(u Use) string { return "envops-" + string(u) }

// Manifests renders the ServiceAccount, the role(s) and binding(s) that let
// it run the use. In a namespace that is a Role and RoleBinding, plus a
// ClusterRole and ClusterRoleBinding for cluster-scoped resources (nodes)
// when the use needs them; cluster-wide it is one ClusterRole and binding.
func Manifests(o Options) []runtime.Object {
	labels := map[string]string{ManagedByLabel: ManagedByValue, UseLabel: string(o.Use)}
	subject := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: o.ServiceAccount, Namespace: o.Namespace}
	sa := &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: metav1.ObjectMeta{Name: o.ServiceAccount, Namespace: o.Namespace, Labels: labels},
	}
	out := []runtime.Object{sa}
	var nsRules, clusterRules []rbacv1.PolicyRule
	for _, r := range Required(o.Use, o.ClusterWide) {
		pr := rbacv1.PolicyRule{APIGroups: []string{r.Group}, Resources: []string{r.Resource}, Verbs: r.Verbs, ResourceNames: r.ResourceNames}
		if r.Scope == Cluster || o.ClusterWide {
			clusterRules = append(clusterRules, pr)
		} else {
			nsRules = append(nsRules, pr)
		}
	}
	name := RoleName(o.Use)
	if len(nsRules) > 0 {
		out = append(out,
			&rbacv1.Role{
				TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: o.Namespace, Labels: labels},
				Rules:      nsRules,
			},
			&rbacv1.RoleBinding{
				TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
				ObjectMeta: metav1.ObjectMeta{Name: name + ":" + o.ServiceAccount, Namespace: o.Namespace, Labels: labels},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
				Subjects:   []rbacv1.Subject{subject},
			})
	}
	if len(clusterRules) > 0 {
		// The namespaced variant keeps only cluster-scoped rules, so it must
		// not share the cluster-wide role's name.
		clusterName := name
		if !o.ClusterWide {
			clusterName = name + "-cluster"
		}
		out = append(out,
			&rbacv1.ClusterRole{
				TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
				ObjectMeta: metav1.ObjectMeta{Name: clusterName, Labels: labels},
				Rules:      clusterRules,
			},
			&rbacv1.ClusterRoleBinding{
				TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
				ObjectMeta: metav1.ObjectMeta{Name: clusterName + ":" + o.Namespace + ":" + o.ServiceAccount, Labels: labels},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterName},
				Subjects:   []rbacv1.Subject{subject},
			})
	}
	return out
}

// Apply writes objs (from Manifests) with server-side apply under
// fieldManager, and returns a "kind/name" reference for each.
func Apply(ctx context.Context, client kubernetes.Interface, objs []runtime.Object, fieldManager string) ([]string, error) {
	opts := metav1.PatchOptions{FieldManager: fieldManager, Force: ptr.To(true)}
	refs := make([]string, 0, len(objs))
	for _, obj := range objs {
		body, err := json.Marshal(obj)
		if err != nil {
			return refs, err
		}
		var ref string
		switch o := obj.(type) {
		case *corev1.ServiceAccount:
			ref = "serviceaccount/" + o.Name
			_, err = client.CoreV1().ServiceAccounts(o.Namespace).Patch(ctx, o.Name, types.ApplyPatchType, body, opts)
		case *rbacv1.Role:
			ref = "role.rbac.authorization.k8s.io/" + o.Name
			_, err = client.RbacV1().Roles(o.Namespace).Patch(ctx, o.Name, types.ApplyPatchType, body, opts)
		case *rbacv1.RoleBinding:
			ref = "rolebinding.rbac.authorization.k8s.io/" + o.Name
			_, err = client.RbacV1().RoleBindings(o.Namespace).Patch(ctx, o.Name, types.ApplyPatchType, body, opts)
		case *rbacv1.ClusterRole:
			ref = "clusterrole.rbac.authorization.k8s.io/" + o.Name
			_, err = client.RbacV1().ClusterRoles().Patch(ctx, o.Name, types.ApplyPatchType, body, opts)
		case *rbacv1.ClusterRoleBinding:
			ref = "clusterrolebinding.rbac.authorization.k8s.io/" + o.Name
			_, err = client.RbacV1().ClusterRoleBindings().Patch(ctx, o.Name, types.ApplyPatchType, body, opts)
		default:
			return refs, fmt.Errorf("cannot apply %T", obj)
		}
		if err != nil {
			return refs, fmt.Errorf("cannot apply %s: %w", ref, err)
		}
		refs = append(refs, ref)
	}
	return refs, nil
}
