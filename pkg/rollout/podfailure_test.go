package rollout

import (
	"context"
	"errors"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodFailure(t *testing.T) {
	waiting := func(reason string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web-1"},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
				Name: "web", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "details"}},
			}}},
		}
	}
	unschedulable := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-2"},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
			Message: "0/3 nodes are available: 3 node(s) didn't have free ports for the requested pod ports.",
		}}},
	}
	terminating := waiting("CrashLoopBackOff")
	terminating.DeletionTimestamp = &metav1.Time{}

	tests := []struct {
		name       string
		pod        *corev1.Pod
		leaving    bool
		wantReason string
	}{
		{name: "image pull back-off", pod: waiting("ImagePullBackOff"), wantReason: "ImagePullBackOff"},
		{name: "image pull error", pod: waiting("ErrImagePull"), wantReason: "ErrImagePull"},
		{name: "crash loop", pod: waiting("CrashLoopBackOff"), wantReason: "CrashLoopBackOff"},
		{name: "container creating is normal", pod: waiting("ContainerCreating")},
		{name: "unschedulable", pod: unschedulable, wantReason: "Unschedulable"},
		{name: "unschedulable while another pod is leaving may clear up", pod: unschedulable, leaving: true},
		{name: "a terminating pod is not judged", pod: terminating},
		{name: "a pod with no status yet", pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-3"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := podFailure(tt.pod, tt.leaving)
			if tt.wantReason == "" {
				if got != nil {
					t.Fatalf("podFailure = %v, want none", got)
				}
				return
			}
			if got == nil || got.Reason != tt.wantReason || got.Pod != tt.pod.Name {
				t.Fatalf("podFailure = %v, want pod %s with reason %s", got, tt.pod.Name, tt.wantReason)
			}
		})
	}
}

func TestRollbackWorthy(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "a pod that cannot start", err: fmt.Errorf("update: %w", &PodFailure{Pod: "web-1", Reason: "CrashLoopBackOff"}), want: true},
		{name: "no progress", err: fmt.Errorf("%w for 5m0s", ErrNoProgress), want: true},
		{name: "pods that cannot be created", err: fmt.Errorf("web %w: FailedCreate", ErrCannotCreatePods), want: true},
		{name: "the API server is gone", err: errors.New("connection refused")},
		{name: "interrupted", err: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rollbackWorthy(tt.err); got != tt.want {
				t.Errorf("rollbackWorthy(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
