package rollout

import (
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// waitingFailures are container waiting reasons that do not go away by
// themselves, mapped to whether they are definite: the image name is
// invalid, or the image may never be pulled. The others (image pull
// back-offs, crash loops, missing config) may be transient and get a grace.
var waitingFailures = map[string]bool{
	"ImagePullBackOff":           false,
	"ErrImagePull":               false,
	"InvalidImageName":           true,
	"ErrImageNeverPull":          true,
	"CrashLoopBackOff":           false,
	"CreateContainerConfigError": false,
	"CreateContainerError":       false,
}

// imageMissing matches what registries and runtimes say when an image or
// tag does not exist, as opposed to a registry that is down or slow.
var imageMissing = regexp.MustCompile(`(?i)(not found|manifest unknown|repository does not exist|no such image|name unknown)`)

// noNodeFits matches a scheduler message in which every node is ruled out
// by the pod's own constraints, which no deletion of old pods can change.
var noNodeFits = regexp.MustCompile(`^0/(\d+) nodes are available: (\d+) node\(s\) didn't match Pod's node affinity/selector`)

// podFailure returns why a pod will not become Ready on its own, or nil.
// An unschedulable pod counts only when no pod is leaving: a terminating pod
// may be what holds the node's host port or resources.
func podFailure(pod *corev1.Pod, podsLeaving bool) *PodFailure {
	if pod.DeletionTimestamp != nil {
		return nil
	}
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range list {
			w := cs.State.Waiting
			if w == nil {
				continue
			}
			definite, ok := waitingFailures[w.Reason]
			if !ok {
				continue
			}
			if (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff") && imageMissing.MatchString(w.Message) {
				definite = true
			}
			return &PodFailure{Pod: pod.Name, Reason: w.Reason, Message: w.Message, Definite: definite}
		}
	}
	if podsLeaving {
		return nil
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			m := noNodeFits.FindStringSubmatch(c.Message)
			definite := m != nil && m[1] == m[2] && !strings.Contains(c.Message, "Insufficient")
			return &PodFailure{Pod: pod.Name, Reason: c.Reason, Message: c.Message, Definite: definite}
		}
	}
	return nil
}
