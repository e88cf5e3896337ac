package rollout

import (
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/kubernetes/scheme"
	k8stesting "k8s.io/client-go/testing"
)

// newFieldTracker is an object tracker that handles server-side apply as
// the API server does, with managed fields.
func newFieldTracker() k8stesting.ObjectTracker {
	return k8stesting.NewFieldManagedObjectTracker(scheme.Scheme, scheme.Codecs.UniversalDecoder(), typeConverter())
}

// typeConverter is built once: it parses the API's whole schema.
var typeConverter = sync.OnceValue(func() managedfields.TypeConverter {
	return applyconfigurations.NewTypeConverter(scheme.Scheme)
})

// serverWrites answers the writes of a fake as the API server does where
// the code under test relies on it and the fakes' trackers do not: a dry run
// stores nothing, a write that changes nothing keeps the object (and its
// resourceVersion, which a real write changes), a created object gets a uid, and a change of a
// Deployment's spec or annotations bumps its generation. Writes hold mu, so
// a simulated controller holding it never sees one half done.
func serverWrites(f *k8stesting.Fake, tracker k8stesting.ObjectTracker, mu sync.Locker) {
	f.PrependReactor("*", "*", serverWriteReaction(tracker, mu))
}

func serverWriteReaction(tracker k8stesting.ObjectTracker, mu sync.Locker) k8stesting.ReactionFunc {
	var uids, versions int
	return func(a k8stesting.Action) (bool, runtime.Object, error) {
		verb := a.GetVerb()
		if (verb != "create" && verb != "update" && verb != "patch") || a.GetSubresource() != "" {
			return false, nil, nil
		}
		mu.Lock()
		defer mu.Unlock()
		gvr, ns, name := a.GetResource(), a.GetNamespace(), actionName(a)
		live, err := tracker.Get(gvr, ns, name)
		switch {
		case apierrors.IsNotFound(err):
			live = nil
		case err != nil:
			return true, nil, err
		}
		// The outcome, computed on a copy of the object alone.
		scratch := newFieldTracker()
		if live != nil {
			if err := scratch.Add(live.DeepCopyObject()); err != nil {
				return true, nil, err
			}
		}
		_, out, err := k8stesting.ObjectReaction(scratch)(a)
		if err != nil {
			return true, nil, err
		}
		if live != nil {
			lm, _ := meta.Accessor(live)
			om, _ := meta.Accessor(out)
			om.SetResourceVersion(lm.GetResourceVersion())
			if equality.Semantic.DeepEqual(comparable(out), comparable(live)) {
				return true, live, nil
			}
		}
		if dryRun(a) {
			return true, out, nil
		}
		if _, _, err := k8stesting.ObjectReaction(tracker)(a); err != nil {
			return true, nil, err
		}
		stored, err := tracker.Get(gvr, ns, name)
		if err != nil {
			return true, nil, err
		}
		sm, _ := meta.Accessor(stored)
		if live == nil {
			uids++
			sm.SetUID(types.UID(fmt.Sprintf("%s-%s-%d", gvr.Resource, name, uids)))
			sm.SetGeneration(1)
		} else if gvr.Resource == "deployments" {
			before, after := comparable(live), comparable(stored)
			if !equality.Semantic.DeepEqual(before["spec"], after["spec"]) || !equality.Semantic.DeepEqual(annotations(before), annotations(after)) {
				lm, _ := meta.Accessor(live)
				sm.SetGeneration(lm.GetGeneration() + 1)
			}
		}
		// The trackers keep no resourceVersion in the object.
		versions++
		sm.SetResourceVersion(fmt.Sprint(1000 + versions))
		if err := tracker.Update(gvr, stored, ns); err != nil {
			return true, nil, err
		}
		if stored, err = tracker.Get(gvr, ns, name); err != nil {
			return true, nil, err
		}
		return true, stored, nil
	}
}

// asUnstructured returns the objects of r as a dynamic client's fake
// expects them.
func asUnstructured(r k8stesting.ReactionFunc) k8stesting.ReactionFunc {
	return func(a k8stesting.Action) (bool, runtime.Object, error) {
		handled, obj, err := r(a)
		if obj == nil || err != nil {
			return handled, obj, err
		}
		if _, ok := obj.(*unstructured.Unstructured); ok {
			return handled, obj, err
		}
		m, cerr := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if cerr != nil {
			return true, nil, cerr
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" {
			gvks, _, _ := scheme.Scheme.ObjectKinds(obj)
			if len(gvks) > 0 {
				u.SetGroupVersionKind(gvks[0])
			}
		}
		return handled, u, nil
	}
}

func actionName(a k8stesting.Action) string {
	switch a := a.(type) {
	case k8stesting.PatchAction:
		return a.GetName()
	case k8stesting.CreateAction:
		if m, err := meta.Accessor(a.GetObject()); err == nil {
			return m.GetName()
		}
	case k8stesting.UpdateAction:
		if m, err := meta.Accessor(a.GetObject()); err == nil {
			return m.GetName()
		}
	}
	return ""
}

func dryRun(a k8stesting.Action) bool {
	switch a := a.(type) {
	case k8stesting.PatchActionImpl:
		return len(a.PatchOptions.DryRun) > 0
	case k8stesting.CreateActionImpl:
		return len(a.CreateOptions.DryRun) > 0
	case k8stesting.UpdateActionImpl:
		return len(a.UpdateOptions.DryRun) > 0
	}
	return false
}

// comparable is obj as content: without what every write changes.
func comparable(obj runtime.Object) map[string]any {
	var m map[string]any
	if u, ok := obj.(*unstructured.Unstructured); ok {
		m = runtime.DeepCopyJSON(u.Object)
	} else {
		var err error
		if m, err = runtime.DefaultUnstructuredConverter.ToUnstructured(obj); err != nil {
			panic(err)
		}
	}
	delete(m, "apiVersion")
	delete(m, "kind")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "resourceVersion")
		delete(md, "managedFields")
	}
	return m
}

func annotations(m map[string]any) any {
	md, _ := m["metadata"].(map[string]any)
	return md["annotations"]
}
