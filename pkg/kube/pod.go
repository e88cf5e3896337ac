package kube

import corev1 "k8s.io/api/core/v1"

// IsPodActive tells whether a pod runs or will run: it is neither
// terminating nor finished. The controllers count such pods as theirs.
func IsPodActive(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}
