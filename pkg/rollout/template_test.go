package rollout

import (
	"maps"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

func podTemplate(image string) *corev1.PodTemplateSpec {
	return &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "role": "api"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
	}
}

// defaulted mimics what the API server adds to a stored pod template.
func defaulted(t *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	d := t.DeepCopy()
	d.Spec.RestartPolicy = corev1.RestartPolicyAlways
	d.Spec.DNSPolicy = corev1.DNSClusterFirst
	d.Spec.SchedulerName = "default-scheduler"
	for i := range d.Spec.Containers {
		d.Spec.Containers[i].ImagePullPolicy = corev1.PullIfNotPresent
		d.Spec.Containers[i].TerminationMessagePath = "/dev/termination-log"
	}
	return d
}

func TestTemplateHash(t *testing.T) {
	a := TemplateHash(podTemplate("nginx:1.27"))
	if a != TemplateHash(podTemplate("nginx:1.27")) {
		t.Fatal("equal templates hash differently")
	}
	if a == TemplateHash(podTemplate("nginx:1.28")) {
		t.Fatal("a new image does not change the hash")
	}
	labelled := podTemplate("nginx:1.27")
	labelled.Labels[DeploymentLabel] = "abc"
	if a != TemplateHash(labelled) {
		t.Fatal("the deployment label changes the hash")
	}
	if errs := validation.IsValidLabelValue(a); len(errs) > 0 {
		t.Fatalf("hash %q is not a valid label value: %v", a, errs)
	}
	if a == hashWithSalt(podTemplate("nginx:1.27"), 1) {
		t.Fatal("a salted hash equals the plain one")
	}
}

func TestSameTemplate(t *testing.T) {
	rc := func(tmpl *corev1.PodTemplateSpec, annotations map[string]string) *corev1.ReplicationController {
		return &corev1.ReplicationController{
			ObjectMeta: metav1.ObjectMeta{Annotations: annotations},
			Spec:       corev1.ReplicationControllerSpec{Template: tmpl},
		}
	}
	withDeployLabel := defaulted(podTemplate("nginx:1.27"))
	withDeployLabel.Labels = withLabel(withDeployLabel.Labels, DeploymentLabel, "abc")
	twoContainers := podTemplate("nginx:1.27")
	twoContainers.Spec.Containers = append(twoContainers.Spec.Containers, corev1.Container{Name: "sidecar", Image: "busybox"})
	hash := map[string]string{AnnotationTemplateHash: TemplateHash(podTemplate("nginx:1.27"))}

	tests := []struct {
		name     string
		rendered *corev1.PodTemplateSpec
		live     *corev1.ReplicationController
		want     bool
	}{
		{name: "server defaults do not count as a change", rendered: podTemplate("nginx:1.27"), live: rc(defaulted(podTemplate("nginx:1.27")), nil), want: true},
		{name: "the deployment label does not count as a change", rendered: podTemplate("nginx:1.27"), live: rc(withDeployLabel, hash), want: true},
		{name: "a new image is a change", rendered: podTemplate("nginx:1.28"), live: rc(defaulted(podTemplate("nginx:1.27")), nil), want: false},
		{name: "a hand-edited live image is a change even when the hash matches", rendered: podTemplate("nginx:1.27"), live: rc(defaulted(podTemplate("nginx:9")), hash), want: false},
		{name: "a removed container is a change when the live hash differs", rendered: podTemplate("nginx:1.27"), live: rc(defaulted(twoContainers), map[string]string{AnnotationTemplateHash: TemplateHash(twoContainers)}), want: false},
		{name: "a live controller without a template is a change", rendered: podTemplate("nginx:1.27"), live: rc(nil, nil), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sameTemplate(tt.rendered, tt.live); got != tt.want {
				t.Errorf("sameTemplate = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCommonLabels(t *testing.T) {
	got := commonLabels(
		map[string]string{"app": "web", "role": "api", DeploymentLabel: "a"},
		map[string]string{"app": "web", "role": "worker", DeploymentLabel: "b"},
		nil,
	)
	if want := map[string]string{"app": "web"}; !maps.Equal(got, want) {
		t.Errorf("commonLabels = %v, want %v", got, want)
	}
}

func TestNormalize(t *testing.T) {
	base := func() *corev1.ReplicationController {
		return &corev1.ReplicationController{
			ObjectMeta: metav1.ObjectMeta{Name: "web-api", Namespace: "elsewhere"},
			Spec:       corev1.ReplicationControllerSpec{Template: podTemplate("nginx:1.27")},
		}
	}
	tests := []struct {
		name    string
		mutate  func(*corev1.ReplicationController)
		wantErr string
	}{
		{name: "selector defaults to the template labels", mutate: func(*corev1.ReplicationController) {}},
		{name: "no name", mutate: func(rc *corev1.ReplicationController) { rc.Name = "" }, wantErr: "set metadata.name"},
		{name: "no template", mutate: func(rc *corev1.ReplicationController) { rc.Spec.Template = nil }, wantErr: "set spec.template"},
		{name: "selector not on the template", mutate: func(rc *corev1.ReplicationController) { rc.Spec.Selector = map[string]string{"app": "db"} }, wantErr: "does not match its pod template"},
		{name: "reserved label in the selector", mutate: func(rc *corev1.ReplicationController) {
			rc.Spec.Selector = map[string]string{"app": "web", DeploymentLabel: "x"}
		}, wantErr: "reserves"},
		{name: "reserved label on the template", mutate: func(rc *corev1.ReplicationController) { rc.Spec.Template.Labels[DeploymentLabel] = "x" }, wantErr: "reserves"},
	}
	u := &ReplicationControllers{Namespace: "shop"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := base()
			tt.mutate(rc)
			got, err := u.normalize(rc)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Namespace != "shop" {
				t.Errorf("namespace = %q, want the updater's %q", got.Namespace, "shop")
			}
			if !maps.Equal(got.Spec.Selector, rc.Spec.Template.Labels) {
				t.Errorf("selector = %v, want the template labels %v", got.Spec.Selector, rc.Spec.Template.Labels)
			}
		})
	}
}
