package rollout

import (
	"encoding/json"
	"hash/fnv"
	"maps"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/drift"
)

// The labels and annotations the updater keeps on a ReplicationController
// and its pods. The controller's name and selector never change: what an
// update has done is read from the pods' template-hash label against the
// controller's, so an interrupted update resumes from what it finds.
const (
	annotationPrefix = "envops.io/"

	// TemplateHashLabel, on the controller's pod template and so on its pods,
	// is the hash of the template as rendered. It is never part of the
	// selector: pods whose hash differs from the template's are old.
	TemplateHashLabel = annotationPrefix + "template-hash"
	// AnnotationTemplateHash, on the controller, repeats the hash of the
	// template it was last given, to tell an unchanged template.
	AnnotationTemplateHash = annotationPrefix + "template-hash"
	// AnnotationRevisions, on the controller, is the JSON list of its previous
	// pod templates, newest first, which --rollback rolls forward to.
	AnnotationRevisions = annotationPrefix + "revisions"
	// AnnotationUpdate, on the controller, is the JSON UpdateState of an
	// update in progress; it is removed when the update is done.
	AnnotationUpdate = annotationPrefix + "update"
	// AnnotationTakeover, on the controller, names the second controller of
	// an update started by an earlier release whose pods it is adopting.
	AnnotationTakeover = annotationPrefix + "takeover-from"
)

// maxRevisions is how many previous templates a controller remembers.
const maxRevisions = 3

// TemplateHash returns a short, stable hash of a pod template, ignoring the
// labels the updater itself sets; it labels the template and its pods.
func TemplateHash(t *corev1.PodTemplateSpec) string {
	// encoding/json writes struct fields in declaration order and map keys
	// sorted, so equal templates give equal bytes.
	b, _ := json.Marshal(stripUpdaterLabels(t))
	h := fnv.New32a()
	_, _ = h.Write(b)
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// stripUpdaterLabels returns a copy of t without the template-hash label and
// the deployment label of earlier releases.
func stripUpdaterLabels(t *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	c := t.DeepCopy()
	if c.Labels == nil {
		return c
	}
	c.Labels = maps.Clone(c.Labels)
	delete(c.Labels, TemplateHashLabel)
	delete(c.Labels, DeploymentLabel)
	if len(c.Labels) == 0 {
		c.Labels = nil
	}
	return c
}

// hashedTemplate is t without the labels of earlier updates and with the
// template-hash label set to hash.
func hashedTemplate(t *corev1.PodTemplateSpec, hash string) *corev1.PodTemplateSpec {
	c := stripUpdaterLabels(t)
	c.Labels = copyWith(c.Labels, TemplateHashLabel, hash)
	return c
}

// templateHashOf is the hash a live controller's template carries: its
// label, else the recorded annotation (controllers of earlier releases),
// else computed from the live template.
func templateHashOf(rc *corev1.ReplicationController) string {
	if rc.Spec.Template == nil {
		return ""
	}
	if h := rc.Spec.Template.Labels[TemplateHashLabel]; h != "" {
		return h
	}
	if h := rc.Annotations[AnnotationTemplateHash]; h != "" {
		return h
	}
	return TemplateHash(rc.Spec.Template)
}

// copyWith returns a copy of m with key=value added.
func copyWith(m map[string]string, key, value string) map[string]string {
	out := make(map[string]string, len(m)+1)
	maps.Copy(out, m)
	out[key] = value
	return out
}

// copyWithout returns a copy of m without the keys.
func copyWithout(m map[string]string, keys ...string) map[string]string {
	out := maps.Clone(m)
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

// sameTemplate tells whether the live template already is the rendered one.
// The live template carries the server's defaults, so the rendered template
// must be a subset of it (equality.Semantic.DeepDerivative); a subset test
// cannot see a field that was removed, so the hash the controller records
// must match too.
func sameTemplate(rendered *corev1.PodTemplateSpec, live *corev1.ReplicationController) bool {
	if live.Spec.Template == nil {
		return false
	}
	if templateHashOf(live) != TemplateHash(rendered) {
		return false
	}
	return equality.Semantic.DeepDerivative(stripUpdaterLabels(rendered), stripUpdaterLabels(live.Spec.Template))
}

// Revision is a pod template a controller ran before.
type Revision struct {
	Hash   string   `json:"hash"`
	Images []string `json:"images"`
	// Replicas is the desired count when this template was replaced.
	Replicas int32                  `json:"replicas"`
	Template corev1.PodTemplateSpec `json:"template"`
	// Deployed are the annotations that said how this template was
	// deployed (the hash of what was rendered, the image asked for); a
	// rollback to it restores them, so the controller again says what it
	// runs.
	Deployed map[string]string `json:"deployed,omitempty"`
}

// deployedAnnotations are the annotations a revision keeps with its
// template.
var deployedAnnotations = []string{drift.AnnotationApplied, audit.RequestedImage}

// revisionsOf reads a controller's recorded templates; unreadable records
// are dropped, since a rollback to a garbled template would be worse.
func revisionsOf(rc *corev1.ReplicationController) []Revision {
	var out []Revision
	if s := rc.Annotations[AnnotationRevisions]; s != "" {
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			return nil
		}
	}
	return out
}

// pushRevision records the template rc runs now ahead of its history,
// dropping any older record of the same hash and the one being restored.
func pushRevision(rc *corev1.ReplicationController, desired int32, restoring string) string {
	cur := Revision{Hash: templateHashOf(rc), Images: imageList(rc.Spec.Template), Replicas: desired, Template: *hashedTemplate(rc.Spec.Template, templateHashOf(rc))}
	cur.Template.CreationTimestamp = metav1.Time{}
	for _, k := range deployedAnnotations {
		if v, ok := rc.Annotations[k]; ok {
			if cur.Deployed == nil {
				cur.Deployed = map[string]string{}
			}
			cur.Deployed[k] = v
		}
	}
	list := []Revision{cur}
	for _, r := range revisionsOf(rc) {
		if r.Hash != cur.Hash && r.Hash != restoring && len(list) < maxRevisions {
			list = append(list, r)
		}
	}
	b, _ := json.Marshal(list)
	return string(b)
}

func imageList(t *corev1.PodTemplateSpec) []string {
	if t == nil {
		return nil
	}
	out := make([]string, 0, len(t.Spec.Containers))
	for _, c := range t.Spec.Containers {
		out = append(out, c.Image)
	}
	return out
}

// recordOf is a copy of rec naming the image of template's first
// container, the image the controller runs once rolled; nil without rec.
func recordOf(rec *audit.Record, template *corev1.PodTemplateSpec) *audit.Record {
	if rec == nil {
		return nil
	}
	r := *rec
	if images := imageList(template); len(images) > 0 {
		r.Image = images[0]
	}
	return &r
}

// UpdateState is what a controller records while an update runs.
type UpdateState struct {
	// Desired is the replica count the update ends with; spec.replicas may
	// be above it by the surge meanwhile.
	Desired int32 `json:"desired"`
	// PauseAfter, when set, stops the update once that many new pods are
	// available.
	PauseAfter int32 `json:"pauseAfter,omitempty"`
	// Paused is set once the update stopped at PauseAfter.
	Paused bool `json:"paused,omitempty"`
}

// updateStateOf reads the update in progress; nil when there is none.
func updateStateOf(rc *corev1.ReplicationController) *UpdateState {
	s := rc.Annotations[AnnotationUpdate]
	if s == "" {
		return nil
	}
	var u UpdateState
	if err := json.Unmarshal([]byte(s), &u); err != nil || u.Desired < 0 {
		// A garbled record still says an update runs; its size is the live one.
		return &UpdateState{Desired: -1}
	}
	return &u
}

func (u UpdateState) encode() string {
	b, _ := json.Marshal(u)
	return string(b)
}
