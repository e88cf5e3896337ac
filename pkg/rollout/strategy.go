package rollout

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"
)

// ParseIntOrPercent reads a --max-surge or --max-unavailable value: a
// non-negative count ("2") or a percentage ("25%").
func ParseIntOrPercent(s string) (intstr.IntOrString, error) {
	v := strings.TrimSpace(s)
	num, isPercent := strings.CutSuffix(v, "%")
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 || strings.HasPrefix(num, "+") {
		return intstr.IntOrString{}, fmt.Errorf("%q is neither a non-negative count nor a percentage such as 25%%", s)
	}
	if isPercent {
		return intstr.FromString(strconv.Itoa(n) + "%"), nil
	}
	return intstr.FromInt32(int32(n)), nil
}

// ValidateStrategy checks maxSurge and maxUnavailable as a Deployment's
// validation does: both non-negative, maxUnavailable at most 100%, and not
// both zero.
func ValidateStrategy(maxSurge, maxUnavailable intstr.IntOrString) error {
	surge, err := intstr.GetScaledValueFromIntOrPercent(&maxSurge, 100, true)
	if err != nil || surge < 0 {
		return fmt.Errorf("invalid max surge %q: use a non-negative count or a percentage such as 25%%", maxSurge.String())
	}
	unavailable, err := intstr.GetScaledValueFromIntOrPercent(&maxUnavailable, 100, false)
	if err != nil || unavailable < 0 {
		return fmt.Errorf("invalid max unavailable %q: use a non-negative count or a percentage such as 25%%", maxUnavailable.String())
	}
	if maxUnavailable.Type == intstr.String && unavailable > 100 {
		return fmt.Errorf("invalid max unavailable %q: a percentage may not exceed 100%%", maxUnavailable.String())
	}
	if isZero(maxSurge) && isZero(maxUnavailable) {
		return fmt.Errorf("max surge and max unavailable are both 0, so no pod could ever be replaced: allow at least 1 for either")
	}
	return nil
}

func isZero(v intstr.IntOrString) bool {
	n, err := intstr.GetScaledValueFromIntOrPercent(&v, 100, true)
	return err == nil && n == 0
}

// fenceposts are a strategy resolved against a desired replica count.
type fenceposts struct {
	surge, unavailable int32
	// notice explains an adjustment the user did not ask for.
	notice string
}

// resolveFenceposts turns the strategy into pod counts for desired replicas,
// with a Deployment's rounding: surge rounds up, unavailable rounds down, and
// when both come out zero, one pod may be unavailable. A template with a
// hostPort cannot surge: a second pod on a node that already runs one would
// never be scheduled, so surge becomes 0.
func resolveFenceposts(maxSurge, maxUnavailable intstr.IntOrString, desired int32, hostPort int32) (fenceposts, error) {
	if err := ValidateStrategy(maxSurge, maxUnavailable); err != nil {
		return fenceposts{}, err
	}
	var f fenceposts
	if hostPort != 0 {
		if isZero(maxUnavailable) {
			return f, fmt.Errorf("the pod template declares hostPort %d, so pods cannot surge, and max unavailable 0 allows no pod to be replaced: set --max-unavailable to at least 1", hostPort)
		}
		surge := intstr.FromInt32(0)
		if !isZero(maxSurge) {
			f.notice = fmt.Sprintf("the pod template declares hostPort %d: using max surge 0 instead of %s, since a second pod on the same node could not start", hostPort, maxSurge.String())
		}
		maxSurge = surge
	}
	s, u, err := deploymentutil.ResolveFenceposts(&maxSurge, &maxUnavailable, desired)
	if err != nil {
		return f, err
	}
	f.surge, f.unavailable = s, u
	return f, nil
}

// templateHostPort returns the first hostPort a pod template declares, or 0.
func templateHostPort(t *corev1.PodTemplateSpec) int32 {
	if t == nil {
		return 0
	}
	for _, list := range [][]corev1.Container{t.Spec.InitContainers, t.Spec.Containers} {
		for _, c := range list {
			for _, p := range c.Ports {
				if p.HostPort != 0 {
					return p.HostPort
				}
			}
		}
	}
	return 0
}
