package drift

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestFields(t *testing.T) {
	want := map[string]any{
		"metadata": map[string]any{"name": "web", "labels": map[string]any{"tier": "backend", "app": "web"}},
		"spec": map[string]any{
			"replicas": int64(1),
			"template": map[string]any{"spec": map[string]any{
				"containers": []any{map[string]any{"name": "web", "image": "nginx:1.29",
					"resources": map[string]any{"requests": map[string]any{"cpu": "500m", "memory": "1Gi"}},
					"ports":     []any{map[string]any{"containerPort": int64(80)}}}},
				"hostNetwork": false,
			}},
		},
	}
	inSync := map[string]any{
		"metadata": map[string]any{"name": "web", "labels": map[string]any{"tier": "backend", "app": "web", "added": "by-hand"}, "uid": "1"},
		"spec": map[string]any{
			"replicas": int64(1),
			"template": map[string]any{"spec": map[string]any{
				"containers": []any{map[string]any{"name": "web", "image": "nginx:1.29", "imagePullPolicy": "IfNotPresent",
					"resources": map[string]any{"requests": map[string]any{"cpu": "0.5", "memory": "1024Mi"}},
					"ports":     []any{map[string]any{"containerPort": float64(80), "protocol": "TCP"}}}},
			}},
		},
		"status": map[string]any{"replicas": int64(1)},
	}
	if d := Fields(want, inSync); len(d) != 0 {
		t.Errorf("defaults, other managers' fields, equal quantities and absent zero values are not drift, yet %v", d)
	}

	drifted := map[string]any{
		"metadata": map[string]any{"name": "web", "labels": map[string]any{"tier": "oops", "app": "web"}},
		"spec": map[string]any{
			"replicas": int64(3),
			"template": map[string]any{"spec": map[string]any{
				"containers": []any{map[string]any{"name": "web", "image": "nginx:1.28",
					"resources": map[string]any{"requests": map[string]any{"cpu": "500m", "memory": "1Gi"}},
					"ports":     []any{map[string]any{"containerPort": int64(80)}, map[string]any{"containerPort": int64(81)}}}},
			}},
		},
	}
	got := Fields(want, drifted)
	wantDiffs := []Difference{
		{Path: "metadata.labels.tier", Live: "oops", Want: "backend"},
		{Path: "spec.replicas", Live: "3", Want: "1"},
		{Path: "spec.template.spec.containers[web].image", Live: "nginx:1.28", Want: "nginx:1.29"},
		{Path: "spec.template.spec.containers[web].ports", Live: "2 items", Want: "1 item"},
	}
	if !reflect.DeepEqual(got, wantDiffs) {
		t.Errorf("differences\n%v\nwant\n%v", got, wantDiffs)
	}
	if b := Brief(got); b != "labels.tier oops (want backend), replicas 3 (want 1), +2 more" {
		t.Errorf("brief %q", b)
	}
}

func TestHashIgnoresItsOwnAnnotation(t *testing.T) {
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "c"}, "data": map[string]any{"a": "1"}}}
	h := Hash(obj)
	marked := obj.DeepCopy()
	marked.SetAnnotations(map[string]string{AnnotationApplied: h})
	if Hash(marked) != h {
		t.Error("an object marked with its hash hashes differently")
	}
	changed := obj.DeepCopy()
	unstructured.RemoveNestedField(changed.Object, "data", "a")
	if Hash(changed) == h {
		t.Error("removing a key does not change the hash")
	}
}
