package cmd

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/envops/kubectl-envops/pkg/config"
)

func TestPromoteValidate(t *testing.T) {
	valid := PromoteOptions{Output: "text", Timeout: time.Second, FailureGrace: time.Second}
	for _, tc := range []struct {
		name string
		edit func(*PromoteOptions)
		want string
	}{
		{"nothing to promote", func(o *PromoteOptions) {}, "name what to promote"},
		{"both image and from", func(o *PromoteOptions) { o.Image, o.From = "web:2", "dev" }, "--image and --from contradict"},
		{"negative soak", func(o *PromoteOptions) { o.Image, o.Soak = "web:2", -time.Second }, "invalid --soak"},
		{"bad output", func(o *PromoteOptions) { o.Image, o.Output = "web:2", "json" }, "unknown output format"},
		{"bad image", func(o *PromoteOptions) { o.Image = "Web:2 x" }, "--image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := valid
			tc.edit(&o)
			err := o.Validate()
			if ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want a usage error containing %q", err, tc.want)
			}
		})
	}
	o := valid
	o.From = "staging"
	if err := o.Validate(); err != nil {
		t.Errorf("--from alone: %v", err)
	}
}

// --from ships the image that runs, pinned to the digest its pods report.
func TestPromoteFromPinsTheDigest(t *testing.T) {
	labels := map[string]string{"app": "web"}
	cs := fake.NewClientset(
		&corev1.ReplicationController{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Labels: labels},
			Spec: corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](1), Selector: labels,
				Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.29"}}}}},
			Status: corev1.ReplicationControllerStatus{ReadyReplicas: 1},
		},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", Labels: labels},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "web", ImageID: "docker-pullable://nginx@sha256:0123abcd"}}}},
	)
	cfg := config.Default()
	cfg.Environments = map[string]config.Environment{"staging": {Context: "stg", Namespace: "shop"}}
	o := &PromoteOptions{App: "web", Timeout: time.Second, cfg: cfg, raw: *clientcmdapi.NewConfig(),
		newClient: func(string, time.Duration) (kubernetes.Interface, error) { return cs, nil }}
	got, err := o.sourceImage(t.Context(), "staging")
	if err != nil {
		t.Fatal(err)
	}
	if got != "nginx:1.29@sha256:0123abcd" {
		t.Errorf("source image %q, want nginx:1.29@sha256:0123abcd", got)
	}
}
