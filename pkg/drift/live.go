package drift

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
)

// State is how one rendered object stands against the cluster.
type State string

// States of an object, in the order Compare decides them.
const (
	// InSync: every field the overlay sets holds live.
	InSync State = "in sync"
	// Missing: the cluster has no such object.
	Missing State = "missing"
	// Differs: fields differ (Differences say which).
	Differs State = "differs"
	// Updating: a controller is in the middle of an update.
	Updating State = "updating"
	// Extra: the cluster runs an object of the app's set that the overlay
	// no longer renders; the next deploy prunes it.
	Extra State = "not in overlay"
)

// Object is one object of an app against the cluster.
type Object struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	State     State  `json:"state"`
	// Differences are the fields that differ (State Differs).
	Differences []Difference `json:"differences,omitempty"`
	// Live is the object as it runs, nil when Missing; Want is the object
	// as the deploy would send it, nil when Extra.
	Live *unstructured.Unstructured `json:"-"`
	Want *unstructured.Unstructured `json:"-"`
}

// Ref names the object as kubectl does: Kind/name.
func (o Object) Ref() string { return o.Kind + "/" + o.Name }

// Report is every object of an app against the cluster.
type Report struct {
	Objects []Object `json:"objects"`
}

// InSync is true when every object is in sync.
func (r Report) InSync() bool {
	for _, o := range r.Objects {
		if o.State != InSync {
			return false
		}
	}
	return true
}

// Brief says in a few words what is out of sync, for a table cell: "in
// sync", or the first objects out of sync and what differs in them.
func (r Report) Brief() string {
	missing := 0
	for _, o := range r.Objects {
		if o.State == Missing {
			missing++
		}
	}
	if missing > 0 && missing == len(r.Objects) {
		return "not deployed"
	}
	var parts []string
	for _, o := range r.Objects {
		switch o.State {
		case InSync:
			continue
		case Differs:
			parts = append(parts, o.Ref()+": "+Brief(o.Differences))
		default:
			parts = append(parts, o.Ref()+" "+string(o.State))
		}
	}
	if len(parts) == 0 {
		return string(InSync)
	}
	if len(parts) > 2 {
		parts = append(parts[:2], fmt.Sprintf("+%d more objects", len(parts)-2))
	}
	return strings.Join(parts, "; ")
}

// Getter reads the live counterpart of a rendered object; nil when the
// cluster has none.
type Getter interface {
	Get(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error)
}

// Live reads objects of any kind the cluster serves.
type Live struct {
	Dynamic dynamic.Interface
	Mapper  meta.RESTMapper
	// Namespace is where namespaced objects that name none are.
	Namespace string
}

// Resource is the client of obj's kind, in obj's namespace (or Live's)
// when the kind is namespaced, and that namespace.
func (l Live) Resource(obj *unstructured.Unstructured) (dynamic.ResourceInterface, string, error) {
	gvk := obj.GroupVersionKind()
	m, err := l.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, "", fmt.Errorf("%s %q: the cluster does not serve %s: %w", obj.GetKind(), obj.GetName(), gvk.GroupVersion(), err)
	}
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		return l.Dynamic.Resource(m.Resource), "", nil
	}
	ns := obj.GetNamespace()
	if ns == "" {
		ns = l.Namespace
	}
	return l.Dynamic.Resource(m.Resource).Namespace(ns), ns, nil
}

// Get implements Getter.
func (l Live) Get(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	ri, ns, err := l.Resource(obj)
	if err != nil {
		return nil, err
	}
	live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		where := ""
		if ns != "" {
			where = fmt.Sprintf(" in namespace %q", ns)
		}
		return nil, fmt.Errorf("cannot read %s %q%s: %w", obj.GetKind(), obj.GetName(), where, err)
	}
	return live, nil
}

// Compare reads the live counterpart of each object the deploy would send
// and says how it stands. The annotations named in ignore record how an
// object was deployed rather than what it is, and are not compared.
func Compare(ctx context.Context, g Getter, want []*unstructured.Unstructured, namespace string, ignore ...string) (Report, error) {
	var r Report
	for _, w := range want {
		live, err := g.Get(ctx, w)
		if err != nil {
			return Report{}, err
		}
		o := Object{Kind: w.GetKind(), Namespace: w.GetNamespace(), Name: w.GetName(), Want: w, Live: live}
		if o.Namespace == "" && live != nil {
			o.Namespace = live.GetNamespace()
		}
		if o.Namespace == "" && live == nil {
			o.Namespace = namespace
		}
		switch {
		case live == nil:
			o.State = Missing
		default:
			spec := w.DeepCopy()
			unstructured.RemoveNestedField(spec.Object, "status")
			for _, key := range ignore {
				unstructured.RemoveNestedField(spec.Object, "metadata", "annotations", key)
			}
			if o.Differences = Fields(spec.Object, live.Object); len(o.Differences) > 0 {
				o.State = Differs
			} else if updating(live) {
				o.State = Updating
			} else {
				o.State = InSync
			}
		}
		r.Objects = append(r.Objects, o)
	}
	return r, nil
}

// annotationUpdate is the ReplicationController updater's record of an
// update in progress (rollout.AnnotationUpdate; drift sits below rollout).
const annotationUpdate = "envops.io/update"

// updating tells whether a controller is in the middle of an update: a
// ReplicationController whose update is recorded, or a Deployment whose
// controller has not yet observed or finished its last change.
func updating(live *unstructured.Unstructured) bool {
	gen := live.GetGeneration()
	observed, _, _ := unstructured.NestedInt64(live.Object, "status", "observedGeneration")
	switch live.GetKind() {
	case "ReplicationController":
		_, ok := live.GetAnnotations()[annotationUpdate]
		return ok || observed < gen
	case "Deployment":
		if observed < gen {
			return true
		}
		replicas, found, _ := unstructured.NestedInt64(live.Object, "spec", "replicas")
		if !found {
			replicas = 1
		}
		updated, _, _ := unstructured.NestedInt64(live.Object, "status", "updatedReplicas")
		total, _, _ := unstructured.NestedInt64(live.Object, "status", "replicas")
		return updated != replicas || total != replicas
	}
	return false
}
