package rollout

import (
	"fmt"
	"testing"
)

func TestNextStep(t *testing.T) {
	tests := []struct {
		name           string
		desired        int32
		f              fenceposts
		target, source side
		wantT, wantS   int32
	}{
		{
			name:    "surge first: the new controller grows by the surge, the old one keeps its pods",
			desired: 3, f: fenceposts{surge: 1},
			source: side{Replicas: 3, Pods: 3, Available: 3},
			wantT:  1, wantS: 3,
		},
		{
			name:    "a new pod available lets one old pod go",
			desired: 3, f: fenceposts{surge: 1},
			target: side{Replicas: 1, Pods: 1, Available: 1}, source: side{Replicas: 3, Pods: 3, Available: 3},
			wantT: 1, wantS: 2,
		},
		{
			name:    "terminating old pods still count against the surge",
			desired: 3, f: fenceposts{surge: 1},
			target: side{Replicas: 1, Pods: 1, Available: 1}, source: side{Replicas: 2, Pods: 3, Available: 2},
			wantT: 1, wantS: 2,
		},
		{
			name:    "unavailable only: one old pod goes before any new one exists",
			desired: 3, f: fenceposts{unavailable: 1},
			source: side{Replicas: 3, Pods: 3, Available: 3},
			wantT:  0, wantS: 2,
		},
		{
			name:    "unavailable only: the room an old pod left is used by a new one",
			desired: 3, f: fenceposts{unavailable: 1},
			source: side{Replicas: 2, Pods: 2, Available: 2},
			wantT:  1, wantS: 2,
		},
		{
			name:    "new pods not ready hold the old ones in place",
			desired: 3, f: fenceposts{surge: 1},
			target: side{Replicas: 1, Pods: 1}, source: side{Replicas: 3, Pods: 3, Available: 3},
			wantT: 1, wantS: 3,
		},
		{
			name:    "unhealthy old pods are removed at once",
			desired: 4, f: fenceposts{surge: 1},
			source: side{Replicas: 4, Pods: 4, Available: 2},
			wantT:  1, wantS: 2,
		},
		{
			name:    "rollback: new pods that never became ready all go, old ones come back by the surge",
			desired: 3, f: fenceposts{surge: 1},
			target: side{Replicas: 2, Pods: 2, Available: 2}, source: side{Replicas: 2, Pods: 2},
			wantT: 2, wantS: 0,
		},
		{
			name:    "last step: all new pods available, the old ones go",
			desired: 3, f: fenceposts{surge: 1},
			target: side{Replicas: 3, Pods: 3, Available: 3}, source: side{Replicas: 1, Pods: 1, Available: 1},
			wantT: 3, wantS: 0,
		},
		{
			name:    "a bigger desired count keeps the old pods until the new ones cover the floor",
			desired: 6, f: fenceposts{surge: 2, unavailable: 1},
			target: side{Replicas: 2, Pods: 2, Available: 2}, source: side{Replicas: 2, Pods: 2, Available: 2},
			wantT: 6, wantS: 2,
		},
		{
			name:    "no source: the target is scaled to desired",
			desired: 5,
			wantT:   5, wantS: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotT, gotS := nextStep(tt.desired, tt.f, tt.target, tt.source)
			if gotT != tt.wantT || gotS != tt.wantS {
				t.Errorf("nextStep = target %d, source %d; want %d, %d", gotT, gotS, tt.wantT, tt.wantS)
			}
		})
	}
}

// TestNextStepKeepsThePromise drives nextStep against a model of the
// cluster in which scaled-up pods become available one round later, and
// checks the promise at every round: available pods never fewer than
// desired-maxUnavailable (once there were that many), pods never more than
// desired+maxSurge, and the update finishes.
func TestNextStepKeepsThePromise(t *testing.T) {
	for _, old := range []int32{1, 3, 5, 10} {
		for _, desired := range []int32{1, 3, 5, 10, 30} {
			for _, strat := range [][2]string{{"25%", "25%"}, {"1", "0"}, {"0", "1"}, {"3", "0"}, {"100%", "0"}, {"0", "100%"}, {"10%", "10%"}} {
				name := fmt.Sprintf("%d old to %d desired, surge %s unavailable %s", old, desired, strat[0], strat[1])
				t.Run(name, func(t *testing.T) {
					s, _ := ParseIntOrPercent(strat[0])
					u, _ := ParseIntOrPercent(strat[1])
					f, err := resolveFenceposts(s, u, desired, 0)
					if err != nil {
						t.Fatal(err)
					}
					simulate(t, desired, f, old)
				})
			}
		}
	}
}

func simulate(t *testing.T, desired int32, f fenceposts, old int32) {
	t.Helper()
	target := side{}
	source := side{Replicas: old, Pods: old, Available: old}
	floor := min(old, max(0, desired-f.unavailable))
	for round := 0; round < 1000; round++ {
		if finished(desired, target, source) {
			return
		}
		nt, ns := nextStep(desired, f, target, source)
		if nt == target.Replicas && ns == source.Replicas && target.Available == target.Replicas {
			t.Fatalf("round %d: stuck at target %+v, source %+v", round, target, source)
		}
		// Removed pods go at once; pods the target had become available now,
		// the ones just added only next round.
		target.Available = target.Replicas
		target.Replicas, target.Pods = nt, nt
		source.Replicas, source.Pods = ns, ns
		source.Available = min(source.Available, ns)
		if got := target.Available + source.Available; got < floor {
			t.Fatalf("round %d: %d pods available, below the floor %d (target %+v, source %+v)", round, got, floor, target, source)
		}
		if got := target.Pods + source.Pods; got > max(old, desired+f.surge) {
			t.Fatalf("round %d: %d pods exist, above desired+surge %d", round, got, desired+f.surge)
		}
	}
	t.Fatalf("not finished after 1000 rounds: target %+v, source %+v", target, source)
}
