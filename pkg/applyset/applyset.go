// Package applyset keeps the objects one app deploys as one set, marked
// with the labels and annotations of kubectl's ApplySet (KEP-3659), so
// that kubectl and other tools see which objects belong together: a parent
// ConfigMap labelled applyset.kubernetes.io/id, annotated with the group
// kinds and namespaces the set spans, and members labelled
// applyset.kubernetes.io/part-of. Members that a deploy no longer renders
// are found by that label and pruned.
package applyset

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Labels and annotations of the ApplySet specification.
const (
	LabelID              = "applyset.kubernetes.io/id"
	LabelPartOf          = "applyset.kubernetes.io/part-of"
	AnnotationTooling    = "applyset.kubernetes.io/tooling"
	AnnotationKinds      = "applyset.kubernetes.io/contains-group-kinds"
	AnnotationNamespaces = "applyset.kubernetes.io/additional-namespaces"
)

// ToolingName names this tool in the tooling annotation, before "/VERSION".
const ToolingName = "kubectl-envops"

// FieldManager writes the parent.
const FieldManager = "kubectl-envops"

// Set is the ApplySet of one app, whose parent is a ConfigMap in the
// app's namespace.
type Set struct {
	App       string
	Namespace string
}

// ParentName is the name of the set's parent ConfigMap.
func (s Set) ParentName() string { return "envops-applyset-" + s.App }

// ID is the value of the parent's id label and of every member's part-of
// label, computed as the specification says: the unpadded URL-safe
// base64 of the SHA-256 of NAME.NAMESPACE.KIND.GROUP, between "applyset-"
// and "-v1".
func (s Set) ID() string {
	sum := sha256.Sum256([]byte(strings.Join([]string{s.ParentName(), s.Namespace, "ConfigMap", ""}, ".")))
	return "applyset-" + base64.RawURLEncoding.EncodeToString(sum[:]) + "-v1"
}

// Selector selects the set's members.
func (s Set) Selector() string { return LabelPartOf + "=" + s.ID() }

// Mark labels obj as a member of the set.
func (s Set) Mark(obj *unstructured.Unstructured) {
	l := obj.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	l[LabelPartOf] = s.ID()
	obj.SetLabels(l)
}

// Parent is what the set's parent records.
type Parent struct {
	// Kinds are the group kinds the members may have.
	Kinds []schema.GroupKind
	// Namespaces are the namespaces the members may be in, the parent's
	// first.
	Namespaces []string
}

// ErrNotOurs is wrapped when the parent's name is taken by an object that
// is not this set's parent.
var ErrNotOurs = errors.New("not this app's set")

// Read returns what the parent records; nil when there is no parent yet.
func (s Set) Read(ctx context.Context, client kubernetes.Interface) (*Parent, error) {
	cm, err := client.CoreV1().ConfigMaps(s.Namespace).Get(ctx, s.ParentName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the set of app %q (ConfigMap %q in namespace %q): %w", s.App, s.ParentName(), s.Namespace, err)
	}
	if cm.Labels[LabelID] != s.ID() {
		return nil, fmt.Errorf("%w: ConfigMap %q in namespace %q does not carry the label %s=%s: rename or delete it, the deploy of app %q keeps its set there", ErrNotOurs, s.ParentName(), s.Namespace, LabelID, s.ID(), s.App)
	}
	if tool, _, _ := strings.Cut(cm.Annotations[AnnotationTooling], "/"); tool != ToolingName {
		return nil, fmt.Errorf("%w: the set in ConfigMap %q in namespace %q is managed by %q: let that tool manage it, or delete the ConfigMap", ErrNotOurs, s.ParentName(), s.Namespace, cm.Annotations[AnnotationTooling])
	}
	p := &Parent{Namespaces: []string{s.Namespace}}
	for _, gk := range split(cm.Annotations[AnnotationKinds]) {
		p.Kinds = append(p.Kinds, schema.ParseGroupKind(gk))
	}
	p.Namespaces = append(p.Namespaces, split(cm.Annotations[AnnotationNamespaces])...)
	return p, nil
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Union is the parent recording both p and q; either may be nil.
func Union(p, q *Parent) *Parent {
	out := &Parent{}
	for _, x := range []*Parent{p, q} {
		if x == nil {
			continue
		}
		for _, gk := range x.Kinds {
			if !slices.Contains(out.Kinds, gk) {
				out.Kinds = append(out.Kinds, gk)
			}
		}
		for _, ns := range x.Namespaces {
			if !slices.Contains(out.Namespaces, ns) {
				out.Namespaces = append(out.Namespaces, ns)
			}
		}
	}
	return out
}

// Write records p on the set's parent, creating it when missing, with
// server-side apply. tooling is "kubectl-envops/VERSION". A server dry
// run has the server check the write without keeping it.
func (s Set) Write(ctx context.Context, client kubernetes.Interface, p *Parent, tooling string, serverDryRun bool) error {
	kinds := make([]string, 0, len(p.Kinds))
	for _, gk := range p.Kinds {
		kinds = append(kinds, gk.String())
	}
	sort.Strings(kinds)
	var others []string
	for _, ns := range p.Namespaces {
		if ns != s.Namespace {
			others = append(others, ns)
		}
	}
	sort.Strings(others)
	cm := &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      s.ParentName(),
			Namespace: s.Namespace,
			Labels:    map[string]string{LabelID: s.ID()},
			Annotations: map[string]string{
				AnnotationTooling:    tooling,
				AnnotationKinds:      strings.Join(kinds, ","),
				AnnotationNamespaces: strings.Join(others, ","),
			},
		},
	}
	body, err := json.Marshal(cm)
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: ptr.To(true)}
	if serverDryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := client.CoreV1().ConfigMaps(s.Namespace).Patch(ctx, s.ParentName(), types.ApplyPatchType, body, opts); err != nil {
		return fmt.Errorf("cannot record the set of app %q (ConfigMap %q in namespace %q): %w", s.App, s.ParentName(), s.Namespace, err)
	}
	return nil
}

// Kinds is the parent that records objs: their group kinds and
// namespaces. Cluster-scoped objects are left out: a set lives in
// namespaces, and nothing cluster-wide is ever pruned.
func Kinds(objs []*unstructured.Unstructured, mapper meta.RESTMapper, namespace string) (*Parent, error) {
	p := &Parent{Namespaces: []string{namespace}}
	for _, obj := range objs {
		namespaced, err := Namespaced(obj, mapper)
		if err != nil {
			return nil, err
		}
		if !namespaced {
			continue
		}
		gk := obj.GroupVersionKind().GroupKind()
		if !slices.Contains(p.Kinds, gk) {
			p.Kinds = append(p.Kinds, gk)
		}
		if ns := obj.GetNamespace(); ns != "" && !slices.Contains(p.Namespaces, ns) {
			p.Namespaces = append(p.Namespaces, ns)
		}
	}
	return p, nil
}

// Namespaced tells whether obj's kind lives in namespaces.
func Namespaced(obj *unstructured.Unstructured, mapper meta.RESTMapper) (bool, error) {
	gvk := obj.GroupVersionKind()
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return false, fmt.Errorf("%s %q: the cluster does not serve %s: %w", obj.GetKind(), obj.GetName(), gvk.GroupVersion(), err)
	}
	return m.Scope.Name() == meta.RESTScopeNameNamespace, nil
}

// Members lists the objects labelled as members of the set, of the kinds
// and in the namespaces p records. A kind the cluster no longer serves
// has no members left to find.
func (s Set) Members(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, p *Parent) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, gk := range p.Kinds {
		m, err := mapper.RESTMapping(gk)
		if meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("cannot find the resource of %s: %w", gk, err)
		}
		if m.Scope.Name() != meta.RESTScopeNameNamespace {
			continue
		}
		for _, ns := range p.Namespaces {
			list, err := dyn.Resource(m.Resource).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: s.Selector()})
			if err != nil {
				return nil, fmt.Errorf("cannot list the %s of app %q in namespace %q: %w", m.Resource.Resource, s.App, ns, err)
			}
			for i := range list.Items {
				obj := &list.Items[i]
				obj.SetGroupVersionKind(m.GroupVersionKind)
				out = append(out, obj)
			}
		}
	}
	return out, nil
}

// Key identifies an object across kinds and namespaces.
type Key struct {
	Group, Kind, Namespace, Name string
}

// KeyOf is obj's key; namespace fills in an empty namespace.
func KeyOf(obj *unstructured.Unstructured, namespace string) Key {
	ns := obj.GetNamespace()
	if ns == "" {
		ns = namespace
	}
	return Key{Group: obj.GroupVersionKind().Group, Kind: obj.GetKind(), Namespace: ns, Name: obj.GetName()}
}

// Stale returns the members that keep does not hold, in a stable order.
func Stale(members []*unstructured.Unstructured, keep map[Key]bool) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, m := range members {
		if !keep[KeyOf(m, "")] {
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := KeyOf(out[i], ""), KeyOf(out[j], "")
		return fmt.Sprint(a) < fmt.Sprint(b)
	})
	return out
}

// Delete deletes one stale member, only if it is still the object that was
// listed (its UID), and lets its dependents go in the background, as
// kubectl delete does.
func Delete(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, obj *unstructured.Unstructured, serverDryRun bool) error {
	gvk := obj.GroupVersionKind()
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("cannot find the resource of %s: %w", gvk.GroupKind(), err)
	}
	opts := metav1.DeleteOptions{
		PropagationPolicy: ptr.To(metav1.DeletePropagationBackground),
		Preconditions:     &metav1.Preconditions{UID: ptr.To(obj.GetUID())},
	}
	if serverDryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	err = dyn.Resource(m.Resource).Namespace(obj.GetNamespace()).Delete(ctx, obj.GetName(), opts)
	// Gone already, or replaced by another object of the same name (its
	// UID differs): either way not the member to prune.
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("cannot prune %s %q in namespace %q: %w", obj.GetKind(), obj.GetName(), obj.GetNamespace(), err)
	}
	return nil
}
