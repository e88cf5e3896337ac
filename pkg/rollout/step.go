package rollout

// side is a snapshot of one controller taking part in an update.
type side struct {
	// Replicas is the controller's spec.replicas.
	Replicas int32
	// Pods counts the controller's pods that still exist, terminating ones
	// included: they still hold node resources and host ports.
	Pods int32
	// Available counts its pods that are available (Ready for
	// minReadySeconds) and not terminating.
	Available int32
}

// occupied is how many pods the side may have on the nodes.
func (s side) occupied() int32 { return max(s.Replicas, s.Pods) }

// nextStep computes the next sizes of the controller being scaled up
// (target, towards desired) and the one being scaled down (source, towards
// zero). The target grows only while both sides together stay within
// desired+surge pods. The source first sheds the pods that are not
// available, which costs no availability, and then only as many available
// pods as exceed desired-unavailable; so the available pods never fall below
// that floor because of a step.
func nextStep(desired int32, f fenceposts, target, source side) (targetReplicas, sourceReplicas int32) {
	targetReplicas, sourceReplicas = target.Replicas, source.Replicas
	if targetReplicas < desired {
		room := desired + f.surge - target.occupied() - source.occupied()
		if room > 0 {
			targetReplicas = min(desired, targetReplicas+room)
		}
	}
	if sourceReplicas > 0 {
		minAvailable := max(0, desired-f.unavailable)
		unhealthy := max(0, source.Replicas-source.Available)
		excess := max(0, source.Available+target.Available-minAvailable)
		sourceReplicas -= min(sourceReplicas, unhealthy+excess)
	}
	return targetReplicas, sourceReplicas
}

// finished tells whether an update has nothing left to do.
func finished(desired int32, target, source side) bool {
	return target.Replicas == desired && target.Available >= desired && source.Replicas == 0
}
