package kube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestIsPodActive(t *testing.T) {
	deleting := metav1.Now()
	for _, tc := range []struct {
		name string
		pod  corev1.Pod
		want bool
	}{
		{"a pending pod will run", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}, true},
		{"a running pod runs", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning}}, true},
		{"a pod of unknown phase may still run", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodUnknown}}, true},
		{"a terminating pod is on its way out", corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &deleting}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}, false},
		{"a pod that succeeded is done", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}, false},
		{"a pod that failed is done", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsPodActive(&tc.pod); got != tc.want {
				t.Errorf("IsPodActive = %v, want %v", got, tc.want)
			}
		})
	}
}
