// Package deploy runs one deploy of an app: it splits the rendered objects
// into the controllers to roll and the objects to apply first, converts
// controllers to the kind asked for, takes the app's deploy lock, checks
// access and keeps the audit trail, and drives pkg/rollout for each
// controller through one interface per kind. It never prints: results
// and events go back to the caller.
package deploy

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Controller kinds a deploy rolls out.
const (
	KindReplicationController = "ReplicationController"
	KindDeployment            = "Deployment"
	KindDaemonSet             = "DaemonSet"
)

// Plan is a rendered app, split by what a deploy does with each object.
type Plan struct {
	// Controllers are rolled out, in the order rendered.
	Controllers []*unstructured.Unstructured
	// Others are applied before the controllers.
	Others []*unstructured.Unstructured
}

// all is every object of the plan, the others first, as they are applied.
func (p *Plan) all() []*unstructured.Unstructured {
	return append(append(make([]*unstructured.Unstructured, 0, len(p.Others)+len(p.Controllers)), p.Others...), p.Controllers...)
}

// Split separates the controllers to roll from the other objects,
// converting controllers to kind when it is set.
func Split(objs []*unstructured.Unstructured, kind string) (*Plan, error) {
	p := &Plan{}
	for _, obj := range objs {
		gk := obj.GroupVersionKind().GroupKind()
		isRC := gk.Group == "" && gk.Kind == KindReplicationController
		isDeployment := gk.Group == appsv1.GroupName && gk.Kind == KindDeployment
		isDaemonSet := gk.Group == appsv1.GroupName && gk.Kind == KindDaemonSet
		if !isRC && !isDeployment && !isDaemonSet {
			p.Others = append(p.Others, obj)
			continue
		}
		// A DaemonSet runs a pod per node, which neither other kind can:
		// --kind leaves it as it is.
		if kind != "" && kind != gk.Kind && !isDaemonSet {
			converted, err := Convert(obj, kind)
			if err != nil {
				return nil, err
			}
			obj = converted
		}
		p.Controllers = append(p.Controllers, obj)
	}
	return p, nil
}

// Convert turns a rendered ReplicationController into the equivalent
// Deployment, or the other way round, keeping metadata, replicas,
// selector and pod template.
func Convert(obj *unstructured.Unstructured, kind string) (*unstructured.Unstructured, error) {
	var meta metav1.ObjectMeta
	var replicas *int32
	var minReady int32
	var selector map[string]string
	var template corev1.PodTemplateSpec
	switch obj.GetKind() {
	case KindReplicationController:
		rc, err := toRC(obj, "")
		if err != nil {
			return nil, err
		}
		if rc.Spec.Template == nil {
			return nil, fmt.Errorf("ReplicationController %q has no pod template: set spec.template", rc.Name)
		}
		meta, replicas, minReady, selector, template = rc.ObjectMeta, rc.Spec.Replicas, rc.Spec.MinReadySeconds, rc.Spec.Selector, *rc.Spec.Template
		if len(selector) == 0 {
			selector = template.Labels
		}
	default:
		d := &appsv1.Deployment{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, d); err != nil {
			return nil, fmt.Errorf("Deployment %q is malformed: %w", obj.GetName(), err)
		}
		if d.Spec.Selector != nil && len(d.Spec.Selector.MatchExpressions) > 0 {
			return nil, fmt.Errorf("Deployment %q selects pods with matchExpressions, which a ReplicationController cannot: use matchLabels, or deploy it as a Deployment", d.Name)
		}
		meta, replicas, minReady, template = d.ObjectMeta, d.Spec.Replicas, d.Spec.MinReadySeconds, d.Spec.Template
		if d.Spec.Selector != nil {
			selector = d.Spec.Selector.MatchLabels
		}
	}
	meta = metav1.ObjectMeta{Name: meta.Name, Namespace: meta.Namespace, Labels: meta.Labels, Annotations: meta.Annotations}
	var out runtime.Object
	if kind == KindDeployment {
		out = &appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: KindDeployment},
			ObjectMeta: meta,
			Spec: appsv1.DeploymentSpec{
				Replicas: replicas, MinReadySeconds: minReady,
				Selector: &metav1.LabelSelector{MatchLabels: selector},
				Template: template,
			},
		}
	} else {
		out = &corev1.ReplicationController{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: KindReplicationController},
			ObjectMeta: meta,
			Spec: corev1.ReplicationControllerSpec{
				Replicas: replicas, MinReadySeconds: minReady, Selector: selector, Template: &template,
			},
		}
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(out)
	if err != nil {
		return nil, err
	}
	res := &unstructured.Unstructured{Object: u}
	unstructured.RemoveNestedField(res.Object, "status")
	unstructured.RemoveNestedField(res.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(res.Object, "spec", "template", "metadata", "creationTimestamp")
	return res, nil
}

// toRC reads a rendered ReplicationController; app, when set, is named in
// the error.
func toRC(obj *unstructured.Unstructured, app string) (*corev1.ReplicationController, error) {
	rc := &corev1.ReplicationController{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, rc); err != nil {
		of := ""
		if app != "" {
			of = fmt.Sprintf(" of app %q", app)
		}
		return nil, fmt.Errorf("ReplicationController %q%s is malformed: %w", obj.GetName(), of, err)
	}
	return rc, nil
}
