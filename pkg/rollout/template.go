package rollout

import (
	"encoding/json"
	"hash/fnv"
	"maps"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/rand"
)

// The label and annotations the updater keeps on ReplicationControllers.
// The annotations record every step, so that an interrupted update resumes.
const (
	// DeploymentLabel holds the pod-template hash on a controller's selector,
	// its template and its pods, so the selectors of the old and the new
	// controller never overlap.
	DeploymentLabel = "deployment"

	annotationPrefix = "envops.io/"
	// AnnotationTemplateHash is the hash of the pod template as rendered
	// (before the server's defaults), to tell an unchanged template.
	AnnotationTemplateHash = annotationPrefix + "template-hash"
	// AnnotationNextController, on the old controller, names the controller
	// it is being replaced by.
	AnnotationNextController = annotationPrefix + "next-controller"
	// AnnotationOriginalReplicas, on the old controller, is its replica count
	// before the update began, which a rollback restores.
	AnnotationOriginalReplicas = annotationPrefix + "original-replicas"
	// AnnotationUpdateSource, on the new controller, is "name:uid" of the
	// controller it replaces.
	AnnotationUpdateSource = annotationPrefix + "update-source"
	// AnnotationDesiredReplicas, on the new controller, is its final size.
	AnnotationDesiredReplicas = annotationPrefix + "desired-replicas"
	// AnnotationOriginalName, on the new controller, is the name it takes
	// once the old controller is gone.
	AnnotationOriginalName = annotationPrefix + "original-name"
)

// updateAnnotations are the annotations that exist only while an update runs.
var updateAnnotations = []string{
	AnnotationNextController, AnnotationOriginalReplicas, AnnotationUpdateSource,
	AnnotationDesiredReplicas, AnnotationOriginalName,
}

// TemplateHash returns a short, stable hash of a pod template, ignoring the
// deployment label; it names the new controller and labels its pods.
func TemplateHash(t *corev1.PodTemplateSpec) string {
	return hashWithSalt(t, 0)
}

func hashWithSalt(t *corev1.PodTemplateSpec, salt int) string {
	c := withoutDeploymentLabel(t)
	// encoding/json writes struct fields in declaration order and map keys
	// sorted, so equal templates give equal bytes.
	b, err := json.Marshal(c)
	if err != nil {
		// A PodTemplateSpec always marshals; fall back to a constant so the
		// caller still gets a valid label value.
		b = nil
	}
	h := fnv.New32a()
	_, _ = h.Write(b)
	if salt > 0 {
		_, _ = h.Write([]byte(strconv.Itoa(salt)))
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// withoutDeploymentLabel returns a copy of t without the deployment label.
func withoutDeploymentLabel(t *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	c := t.DeepCopy()
	if _, ok := c.Labels[DeploymentLabel]; ok {
		c.Labels = maps.Clone(c.Labels)
		delete(c.Labels, DeploymentLabel)
		if len(c.Labels) == 0 {
			c.Labels = nil
		}
	}
	return c
}

// withLabel returns a copy of m with key=value added.
func withLabel(m map[string]string, key, value string) map[string]string {
	out := make(map[string]string, len(m)+1)
	maps.Copy(out, m)
	out[key] = value
	return out
}

// withoutLabel returns a copy of m without key.
func withoutLabel(m map[string]string, key string) map[string]string {
	out := maps.Clone(m)
	delete(out, key)
	return out
}

// sameTemplate tells whether the live template already is the rendered one.
// The live template carries the server's defaults, so the rendered template
// must be a subset of it (equality.Semantic.DeepDerivative); a subset test
// cannot see a field that was removed, so when the live controller records
// the hash of the template it was deployed from, that hash must match too.
func sameTemplate(rendered *corev1.PodTemplateSpec, live *corev1.ReplicationController) bool {
	if live.Spec.Template == nil {
		return false
	}
	if h, ok := live.Annotations[AnnotationTemplateHash]; ok && h != TemplateHash(rendered) {
		return false
	}
	return equality.Semantic.DeepDerivative(withoutDeploymentLabel(rendered), withoutDeploymentLabel(live.Spec.Template))
}

// sameSelector compares selectors, ignoring the deployment label the updater adds.
func sameSelector(rendered, live map[string]string) bool {
	return maps.Equal(withoutLabel(rendered, DeploymentLabel), withoutLabel(live, DeploymentLabel))
}
