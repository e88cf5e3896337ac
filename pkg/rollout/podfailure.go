package rollout

import (
	corev1 "k8s.io/api/core/v1"
)

// waitingFailures are container waiting reasons that do not go away by
// themselves: the image cannot be pulled, or the container keeps crashing.
var waitingFailures = map[string]bool{
	"ImagePullBackOff":           true,
	"ErrImagePull":               true,
	"InvalidImageName":           true,
	"ErrImageNeverPull":          true,
	"CrashLoopBackOff":           true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
}

// podFailure returns why a pod will not become Ready on its own, or nil.
// An unschedulable pod counts only when no pod is leaving: a terminating pod
// may be what holds the node's host port or resources.
func podFailure(pod *corev1.Pod, podsLeaving bool) *PodFailure {
	if pod.DeletionTimestamp != nil {
		return nil
	}
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range list {
			if w := cs.State.Waiting; w != nil && waitingFailures[w.Reason] {
				return &PodFailure{Pod: pod.Name, Reason: w.Reason, Message: w.Message}
			}
		}
	}
	if podsLeaving {
		return nil
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return &PodFailure{Pod: pod.Name, Reason: c.Reason, Message: c.Message}
		}
	}
	return nil
}
