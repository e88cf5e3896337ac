package rollout

import (
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// Strategy returns MaxSurge and MaxUnavailable, each DefaultMaxSurge or
// DefaultMaxUnavailable when unset, as a ReplicationController update
// uses them.
func (o Options) Strategy() (maxSurge, maxUnavailable intstr.IntOrString) {
	return ptr.Deref(o.MaxSurge, DefaultMaxSurge), ptr.Deref(o.MaxUnavailable, DefaultMaxUnavailable)
}
