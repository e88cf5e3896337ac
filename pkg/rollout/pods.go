package rollout

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// podLister is what controlledPods reads: an informer's pod lister.
type podLister interface {
	List(selector labels.Selector) ([]*corev1.Pod, error)
}

// controlledPods returns the cached pods whose controller has uid; none
// when the cache cannot be read.
func controlledPods(pods podLister, uid types.UID) []*corev1.Pod {
	all, err := pods.List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*corev1.Pod
	for _, p := range all {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == uid {
			out = append(out, p)
		}
	}
	return out
}
