package promote_test

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/envops/kubectl-envops/pkg/appstate"
	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/fleet"
	"github.com/envops/kubectl-envops/pkg/promote"
)

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
	ctrls, err := fleet.App(t.Context(), cfg, *clientcmdapi.NewConfig(), "staging", "web", time.Second,
		func(string, time.Duration) (kubernetes.Interface, error) { return cs, nil })
	if err != nil {
		t.Fatal(err)
	}
	got, err := promote.SourceImage("web", "staging", ctrls)
	if err != nil {
		t.Fatal(err)
	}
	if got != "nginx:1.29@sha256:0123abcd" {
		t.Errorf("source image %q, want nginx:1.29@sha256:0123abcd", got)
	}
}

func TestObserve(t *testing.T) {
	since := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		ctrls []appstate.Controller
		want  promote.Observation
	}{
		{nil, promote.Observation{Problem: `app "web" is not deployed there`}},
		{[]appstate.Controller{{Kind: "ReplicationController", Name: "web", Images: []string{"web:2"}, Ready: 2, Desired: 2, State: appstate.Steady, DeployedAt: since}},
			promote.Observation{Steady: true, Healthy: true, Images: []string{"web:2"}, Since: since}},
		{[]appstate.Controller{{Kind: "Deployment", Name: "web", Images: []string{"web:2"}, Ready: 1, Desired: 2, State: appstate.Failed, Reason: "pod web-1: ImagePullBackOff"}},
			promote.Observation{Images: []string{"web:2"}, Problem: "Deployment web is failed (pod web-1: ImagePullBackOff)"}},
		{[]appstate.Controller{{Kind: "ReplicationController", Name: "web", Ready: 1, Desired: 2, State: appstate.Steady}},
			promote.Observation{Steady: true, Problem: "ReplicationController web has 1/2 pods ready"}},
	} {
		got := promote.Observe("web", tc.ctrls)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v:\n got %+v\nwant %+v", tc.ctrls, got, tc.want)
		}
	}
}
