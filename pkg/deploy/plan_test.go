package deploy

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestSplitObjects(t *testing.T) {
	rc := toUnstructured(t, &corev1.ReplicationController{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ReplicationController"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: new(int32(3)), MinReadySeconds: 4,
			Selector: map[string]string{"name": "web-api"},
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"name": "web-api"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
			},
		},
	})
	cm := toUnstructured(t, &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: "web-config"}})

	p, err := Split([]*unstructured.Unstructured{cm, rc}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Controllers) != 1 || p.Controllers[0].GetKind() != KindReplicationController || len(p.Others) != 1 || p.Others[0].GetKind() != "ConfigMap" {
		t.Fatalf("split into controllers %v and others %v", p.Controllers, p.Others)
	}

	p, err = Split([]*unstructured.Unstructured{rc}, KindDeployment)
	if err != nil {
		t.Fatal(err)
	}
	d := p.Controllers[0]
	if d.GetAPIVersion() != "apps/v1" || d.GetKind() != KindDeployment || d.GetName() != "web" || d.GetLabels()["app"] != "web" {
		t.Fatalf("converted to %s %s %s, labels %v", d.GetAPIVersion(), d.GetKind(), d.GetName(), d.GetLabels())
	}
	for path, want := range map[string]any{
		"spec.replicas":                            int64(3),
		"spec.minReadySeconds":                     int64(4),
		"spec.selector.matchLabels.name":           "web-api",
		"spec.template.metadata.labels.name":       "web-api",
		"spec.template.spec.containers.0.image":    "nginx:1.27",
		"spec.template.spec.containers.0.name":     "web",
		"spec.template.metadata.creationTimestamp": nil,
	} {
		if got := lookup(d.Object, path); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}

	back, err := Split([]*unstructured.Unstructured{d}, KindReplicationController)
	if err != nil {
		t.Fatal(err)
	}
	if got := lookup(back.Controllers[0].Object, "spec.selector.name"); got != "web-api" {
		t.Errorf("converted back, the selector is %v", got)
	}

	unstructured.SetNestedSlice(d.Object, []any{map[string]any{"key": "tier", "operator": "Exists"}}, "spec", "selector", "matchExpressions")
	if _, err := Split([]*unstructured.Unstructured{d}, KindReplicationController); err == nil || !strings.Contains(err.Error(), "matchExpressions") {
		t.Errorf("a Deployment with matchExpressions converted to a ReplicationController: err = %v", err)
	}
}

func toUnstructured(t *testing.T, obj runtime.Object) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

// lookup follows a dotted path through maps and (numeric) list indexes.
func lookup(obj any, path string) any {
	for _, k := range strings.Split(path, ".") {
		switch v := obj.(type) {
		case map[string]any:
			obj = v[k]
		case []any:
			var i int
			if _, err := fmt.Sscan(k, &i); err != nil || i >= len(v) {
				return nil
			}
			obj = v[i]
		default:
			return nil
		}
	}
	return obj
}
