package rollout

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/envops/kubectl-envops/pkg/audit"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func count(n int) *intstr.IntOrString { v := intstr.FromInt(n); return &v }

func fast(o Options) Options {
	if o.Timeout == 0 {
		o.Timeout = 20 * time.Second
	}
	if o.FailureGrace == 0 {
		o.FailureGrace = 5 * time.Second
	}
	return o
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// started is a cluster running web at image with every pod Ready.
func started(t *testing.T, seed uint64, image string, replicas int32) *cluster {
	t.Helper()
	c := newCluster(t, seed)
	c.run()
	res, err := c.deploy(testCtx(t), image, replicas, fast(Options{}))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if res.Action != ActionCreated {
		t.Fatalf("create: action %q", res.Action)
	}
	c.mu.Lock()
	c.minAvailable = 1 << 30
	c.mu.Unlock()
	return c
}

// checkSteady asserts the end state of a finished update to image.
func checkSteady(t *testing.T, c *cluster, image string, replicas int32) {
	t.Helper()
	c.mu.Lock()
	rc := c.rc("web")
	c.mu.Unlock()
	if rc == nil {
		t.Fatal("ReplicationController web is gone")
	}
	if got := c.images("web"); len(got) != 1 || got[image] != int(replicas) {
		t.Fatalf("pods by image = %v, want %d of %s", got, replicas, image)
	}
	if *rc.Spec.Replicas != replicas || rc.Status.ReadyReplicas != replicas || rc.Status.ObservedGeneration < rc.Generation {
		t.Fatalf("controller replicas %d, status %+v generation %d; want %d ready and observed", *rc.Spec.Replicas, rc.Status, rc.Generation, replicas)
	}
	if _, ok := rc.Annotations[AnnotationUpdate]; ok {
		t.Fatalf("update annotation left behind: %s", rc.Annotations[AnnotationUpdate])
	}
	if len(rc.Spec.Selector) != 1 || rc.Spec.Selector["name"] != "web-server" {
		t.Fatalf("selector changed: %v", rc.Spec.Selector)
	}
	if rc.Spec.Template.Labels[TemplateHashLabel] == "" {
		t.Fatal("template lacks the template-hash label")
	}
	if n := len(c.rcs()); n != 1 {
		t.Fatalf("%d controllers, want 1", n)
	}
}

func checkFloor(t *testing.T, c *cluster, floor int32) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.minAvailable < floor {
		t.Fatalf("available pods fell to %d, below the floor %d", c.minAvailable, floor)
	}
}

func TestRollingUpdateKeepsOneControllerAndItsAvailability(t *testing.T) {
	tests := []struct {
		name               string
		replicas           int32
		surge, unavailable int
		wantFloor          int32
	}{
		{name: "surge only", replicas: 10, surge: 3, unavailable: 0, wantFloor: 10},
		{name: "unavailable only", replicas: 6, surge: 0, unavailable: 2, wantFloor: 4},
		{name: "both", replicas: 7, surge: 2, unavailable: 1, wantFloor: 6},
		{name: "one replica", replicas: 1, surge: 1, unavailable: 0, wantFloor: 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := started(t, uint64(i), "web:1", tt.replicas)
			before := c.rc("web")
			res, err := c.deploy(testCtx(t), "web:2", tt.replicas, fast(Options{MaxSurge: count(tt.surge), MaxUnavailable: count(tt.unavailable)}))
			if err != nil {
				t.Fatal(err)
			}
			if res.Action != ActionRolledOut || res.Replicas != tt.replicas {
				t.Fatalf("result %+v", res)
			}
			checkSteady(t, c, "web:2", tt.replicas)
			checkFloor(t, c, tt.wantFloor)
			after := c.rc("web")
			if after.UID != before.UID {
				t.Fatal("the controller was replaced")
			}
			revs := revisionsOf(after)
			if len(revs) != 1 || revs[0].Images[0] != "web:1" {
				t.Fatalf("revisions = %+v, want the web:1 template", revs)
			}
		})
	}
}

func TestRollingUpdateDeletesOldPodsInConcurrentBatches(t *testing.T) {
	c := started(t, 7, "web:1", 30)
	if _, err := c.deploy(testCtx(t), "web:2", 30, fast(Options{MaxSurge: count(3), MaxUnavailable: count(0)})); err != nil {
		t.Fatal(err)
	}
	checkSteady(t, c, "web:2", 30)
	checkFloor(t, c, 30)
	c.mu.Lock()
	defer c.mu.Unlock()
	// 30 deletes; the controller is scaled twice (up by the surge with the
	// template, down at the end) and its annotation cleared once.
	if got := c.requests["delete pods"]; got < 30 {
		t.Fatalf("%d pod deletes, want at least 30", got)
	}
	t.Logf("requests: %v", c.requests)
}

func TestUnchangedTemplateUpdatesInPlace(t *testing.T) {
	c := started(t, 1, "web:1", 3)
	pods := c.podUIDs()
	res, err := c.deploy(testCtx(t), "web:1", 5, fast(Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != ActionUpdated {
		t.Fatalf("action %q, want updated", res.Action)
	}
	checkSteady(t, c, "web:1", 5)
	for uid := range pods {
		if _, ok := c.podUIDs()[uid]; !ok {
			t.Fatalf("pod %s was replaced by an in-place update", uid)
		}
	}
	res, err = c.deploy(testCtx(t), "web:1", 5, fast(Options{}))
	if err != nil || res.Action != ActionUnchanged {
		t.Fatalf("second deploy: %+v, %v; want unchanged", res, err)
	}
}

func TestHostPortTemplateDoesNotSurge(t *testing.T) {
	c := newCluster(t, 3)
	c.run()
	u := &ReplicationControllers{Client: c.cs, Namespace: c.ns}
	rc := func(image string) *corev1.ReplicationController {
		r := webRC(image, 3)
		r.Spec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8125, HostPort: 8125}}
		return r
	}
	if _, err := u.Deploy(testCtx(t), rc("agent:1"), fast(Options{})); err != nil {
		t.Fatal(err)
	}
	var notices []string
	u.Events = func(e Event) {
		if e.Type == EventNotice {
			notices = append(notices, e.Message)
		}
	}
	maxReplicas := int32(0)
	c.onWrite = func(int) {
		if r := c.rc("web"); r != nil {
			maxReplicas = max(maxReplicas, *r.Spec.Replicas)
		}
	}
	if _, err := u.Deploy(testCtx(t), rc("agent:2"), fast(Options{MaxSurge: count(1), MaxUnavailable: count(1)})); err != nil {
		t.Fatal(err)
	}
	checkSteady(t, c, "agent:2", 3)
	if maxReplicas > 3 {
		t.Fatalf("replicas reached %d with a hostPort", maxReplicas)
	}
	if len(notices) == 0 || !strings.Contains(notices[0], "hostPort 8125") {
		t.Fatalf("notices %q, want one about the hostPort", notices)
	}
}

func TestDefiniteFailureRollsBackAtOnce(t *testing.T) {
	c := started(t, 4, "web:1", 4)
	start := time.Now()
	_, err := c.deploy(testCtx(t), "web:notfound", 4, fast(Options{MaxSurge: count(1), MaxUnavailable: count(0), FailureGrace: time.Hour}))
	var fe *FailedError
	if !errors.As(err, &fe) || !fe.RolledBack {
		t.Fatalf("err = %v, want a rolled-back FailedError", err)
	}
	var pf *PodFailure
	if !errors.As(err, &pf) || pf.Reason != "ErrImagePull" || !pf.Definite || !strings.HasPrefix(pf.Pod, "web-") {
		t.Fatalf("err = %v, want the pod and ErrImagePull named", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("a definite failure waited %s", time.Since(start))
	}
	checkSteady(t, c, "web:1", 4)
	checkFloor(t, c, 4)
}

func TestTransientFailureWaitsForTheGraceThenRollsBack(t *testing.T) {
	for _, image := range []string{"web:pullbackoff", "web:crash"} {
		t.Run(image, func(t *testing.T) {
			c := started(t, 5, "web:1", 4)
			_, err := c.deploy(testCtx(t), image, 4, fast(Options{MaxSurge: count(1), MaxUnavailable: count(0), FailureGrace: 150 * time.Millisecond}))
			var pf *PodFailure
			if !errors.As(err, &pf) || pf.Definite {
				t.Fatalf("err = %v, want a transient pod failure", err)
			}
			checkSteady(t, c, "web:1", 4)
			checkFloor(t, c, 4)
		})
	}
}

func TestFlakyPodsWithinTheGraceSucceed(t *testing.T) {
	c := started(t, 6, "web:1", 4)
	if _, err := c.deploy(testCtx(t), "web:flaky", 4, fast(Options{MaxSurge: count(2), MaxUnavailable: count(0), FailureGrace: 5 * time.Second})); err != nil {
		t.Fatal(err)
	}
	checkSteady(t, c, "web:flaky", 4)
}

func TestNoRollbackLeavesTheUpdateForAResume(t *testing.T) {
	c := started(t, 8, "web:1", 4)
	_, err := c.deploy(testCtx(t), "web:crash", 4, fast(Options{MaxSurge: count(1), MaxUnavailable: count(0), FailureGrace: 100 * time.Millisecond, NoRollback: true}))
	var fe *FailedError
	if !errors.As(err, &fe) || fe.RolledBack {
		t.Fatalf("err = %v, want a FailedError left in place", err)
	}
	if updateStateOf(c.rc("web")) == nil {
		t.Fatal("the update is not recorded as in progress")
	}
	u := &ReplicationControllers{Client: c.cs, Namespace: c.ns}
	res, err := u.Rollback(testCtx(t), "web", fast(Options{MaxSurge: count(1), MaxUnavailable: count(0)}))
	if err != nil || res.Action != ActionRolledBack {
		t.Fatalf("rollback: %+v, %v", res, err)
	}
	checkSteady(t, c, "web:1", 4)
	checkFloor(t, c, 4)
}

func TestRollbackAfterSuccessIsAnUndo(t *testing.T) {
	c := started(t, 9, "web:1", 3)
	if _, err := c.deploy(testCtx(t), "web:2", 3, fast(Options{})); err != nil {
		t.Fatal(err)
	}
	u := &ReplicationControllers{Client: c.cs, Namespace: c.ns}
	if _, err := u.Rollback(testCtx(t), "web", fast(Options{})); err != nil {
		t.Fatal(err)
	}
	checkSteady(t, c, "web:1", 3)
	revs := revisionsOf(c.rc("web"))
	if len(revs) != 1 || revs[0].Images[0] != "web:2" {
		t.Fatalf("revisions after undo = %+v, want web:2 only", revs)
	}
	// Undoing the undo returns to web:2; deploying web:2 again then changes nothing.
	if _, err := u.Rollback(testCtx(t), "web", fast(Options{})); err != nil {
		t.Fatal(err)
	}
	checkSteady(t, c, "web:2", 3)
	res, err := c.deploy(testCtx(t), "web:2", 3, fast(Options{}))
	if err != nil || res.Action != ActionUnchanged {
		t.Fatalf("deploy of the restored template: %+v, %v", res, err)
	}
}

func TestRollbackWithoutHistoryIsRefused(t *testing.T) {
	c := started(t, 10, "web:1", 2)
	u := &ReplicationControllers{Client: c.cs, Namespace: c.ns}
	_, err := u.Rollback(testCtx(t), "web", fast(Options{}))
	if err == nil || !strings.Contains(err.Error(), "no previous pod template") {
		t.Fatalf("err = %v", err)
	}
}

func TestPauseAfterThenContinue(t *testing.T) {
	c := started(t, 11, "web:1", 6)
	res, err := c.deploy(testCtx(t), "web:2", 6, fast(Options{MaxSurge: count(1), MaxUnavailable: count(0), PauseAfter: 2}))
	if err != nil || !res.Paused {
		t.Fatalf("deploy: %+v, %v; want paused", res, err)
	}
	got := c.images("web")
	if got["web:2"] < 2 || got["web:1"] == 0 || got["web:1"]+got["web:2"] != 6 {
		t.Fatalf("pods at the pause = %v, want at least 2 new of 6", got)
	}
	if st := updateStateOf(c.rc("web")); st == nil || !st.Paused {
		t.Fatalf("update state %+v, want paused", st)
	}
	// The same command again stays paused.
	res, err = c.deploy(testCtx(t), "web:2", 6, fast(Options{MaxSurge: count(1), MaxUnavailable: count(0), PauseAfter: 2}))
	if err != nil || !res.Paused {
		t.Fatalf("deploy again: %+v, %v; want still paused", res, err)
	}
	u := &ReplicationControllers{Client: c.cs, Namespace: c.ns}
	if _, err := u.Continue(testCtx(t), "web", fast(Options{MaxSurge: count(1), MaxUnavailable: count(0)})); err != nil {
		t.Fatal(err)
	}
	checkSteady(t, c, "web:2", 6)
	checkFloor(t, c, 6)
	if _, err := u.Continue(testCtx(t), "web", fast(Options{})); err == nil || !strings.Contains(err.Error(), "nothing to continue") {
		t.Fatalf("continue with nothing paused: %v", err)
	}
}

func TestPauseThenRollback(t *testing.T) {
	c := started(t, 12, "web:1", 5)
	if res, err := c.deploy(testCtx(t), "web:2", 5, fast(Options{MaxSurge: count(1), MaxUnavailable: count(1), PauseAfter: 1})); err != nil || !res.Paused {
		t.Fatalf("deploy: %+v, %v", res, err)
	}
	u := &ReplicationControllers{Client: c.cs, Namespace: c.ns}
	if _, err := u.Rollback(testCtx(t), "web", fast(Options{MaxSurge: count(1), MaxUnavailable: count(1)})); err != nil {
		t.Fatal(err)
	}
	checkSteady(t, c, "web:1", 5)
	checkFloor(t, c, 4)
}

func TestPlanIsWhatDeployWrites(t *testing.T) {
	c := started(t, 13, "web:1", 3)
	u := &ReplicationControllers{Client: c.cs, Namespace: c.ns}
	want := webRC("web:2", 3)
	want.Annotations = map[string]string{"envops.io/deployed-by": "alice"}
	o := fast(Options{MaxSurge: count(1), MaxUnavailable: count(0)})
	p, err := u.Plan(testCtx(t), want, o)
	if err != nil {
		t.Fatal(err)
	}
	if p.Action != ActionRolledOut || p.Desired.Annotations["envops.io/deployed-by"] != "alice" || p.Desired.Annotations[AnnotationUpdate] == "" {
		t.Fatalf("plan %+v", p)
	}
	var written *corev1.ReplicationController
	c.onWrite = func(n int) {
		if n == c.writes && written == nil {
			written = c.rc("web").DeepCopy()
		}
	}
	res, err := u.Deploy(testCtx(t), want, fast(Options{MaxSurge: count(1), MaxUnavailable: count(0), DryRun: DryRunClient}))
	if err != nil || !res.DryRun || res.Action != ActionRolledOut {
		t.Fatalf("dry run: %+v, %v", res, err)
	}
	if got := c.images("web"); got["web:1"] != 3 {
		t.Fatalf("a dry run changed pods: %v", got)
	}
	// The first write of the real deploy is the planned controller.
	var first *corev1.ReplicationController
	c.cs.PrependReactor("update", "replicationcontrollers", func(a k8sAction) (bool, runtimeObject, error) {
		if first == nil {
			first = a.(k8sUpdate).GetObject().(*corev1.ReplicationController).DeepCopy()
		}
		return false, nil, nil
	})
	if _, err := u.Deploy(testCtx(t), want, o); err != nil {
		t.Fatal(err)
	}
	if first == nil {
		t.Fatal("deploy wrote no update")
	}
	if !equalIgnoringRV(first, p.Desired) {
		t.Fatalf("deploy wrote\n%+v\nplan said\n%+v", first.ObjectMeta, p.Desired.ObjectMeta)
	}
}

func equalIgnoringRV(a, b *corev1.ReplicationController) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	a.ResourceVersion, b.ResourceVersion = "", ""
	return fmt.Sprint(a.Spec.Template.Labels, a.Annotations, *a.Spec.Replicas) == fmt.Sprint(b.Spec.Template.Labels, b.Annotations, *b.Spec.Replicas)
}

// TestRandomisedUpdatesKeepTheFloorTerminateAndResume drives many updates
// with random sizes, strategies, pod behaviour and interruptions: the
// available pods never fall below desired - maxUnavailable, every run ends,
// and a run interrupted at any write and then run again reaches the same
// end state as one never interrupted.
func TestRandomisedUpdatesKeepTheFloorTerminateAndResume(t *testing.T) {
	runs := 40
	if testing.Short() {
		runs = 10
	}
	for i := range runs {
		seed := uint64(1000 + i)
		rng := rand.New(rand.NewPCG(seed, 1))
		replicas := int32(1 + rng.IntN(12))
		surge, unavailable := rng.IntN(4), rng.IntN(3)
		if surge == 0 && unavailable == 0 {
			surge = 1
		}
		images := []string{"web:2", "web:2", "web:flaky", "web:crash", "web:notfound"}
		image := images[rng.IntN(len(images))]
		interruptAt := 0
		if rng.IntN(2) == 0 {
			interruptAt = 1 + rng.IntN(int(replicas)+3)
		}
		name := fmt.Sprintf("seed%d/%d-replicas/surge%d-unavailable%d/%s/interrupt%d", seed, replicas, surge, unavailable, image, interruptAt)
		t.Run(name, func(t *testing.T) {
			c := started(t, seed, "web:1", replicas)
			floor := max(0, replicas-int32(unavailable))
			if replicas <= int32(unavailable) {
				floor = 0
			}
			grace := 100 * time.Millisecond
			if image == "web:flaky" {
				// Flaky pods crash for a while and then run: within the grace.
				grace = 10 * time.Second
			}
			o := fast(Options{MaxSurge: count(surge), MaxUnavailable: count(unavailable), FailureGrace: grace})
			ctx, cancel := context.WithCancel(testCtx(t))
			if interruptAt > 0 {
				c.mu.Lock()
				base := c.writes
				c.onWrite = func(n int) {
					if n == base+interruptAt {
						cancel()
					}
				}
				c.mu.Unlock()
			}
			_, err := c.deploy(ctx, image, replicas, o)
			cancel()
			c.mu.Lock()
			c.onWrite = nil
			c.mu.Unlock()
			var fe *FailedError
			if err != nil && !errors.As(err, &fe) {
				t.Fatalf("deploy: %v", err)
			}
			if err != nil && !fe.RolledBack {
				// Interrupted, or failed while interrupted: run it again.
				_, err = c.deploy(testCtx(t), image, replicas, o)
			}
			good := image == "web:2" || image == "web:flaky"
			if good {
				if err != nil {
					t.Fatalf("deploy of a good image: %v", err)
				}
				checkSteady(t, c, image, replicas)
			} else {
				if !errors.As(err, &fe) || !fe.RolledBack {
					t.Fatalf("deploy of a bad image: %v, want rolled back", err)
				}
				checkSteady(t, c, "web:1", replicas)
			}
			checkFloor(t, c, floor)
		})
	}
}

func TestTakeOverACompletedUpdateOfTheEarlierRelease(t *testing.T) {
	// As the earlier release left a controller after an update: a
	// deployment key on selector, template and pods.
	legacy := webRC("web:1", 3)
	legacy.Spec.Selector["deployment"] = "abc"
	legacy.Spec.Template.Labels["deployment"] = "abc"
	legacy.Annotations = map[string]string{AnnotationTemplateHash: TemplateHash(webRC("web:1", 3).Spec.Template)}
	legacy.UID = "legacy-uid"
	c := newCluster(t, 20, legacy)
	c.run()
	waitFor(t, func() bool { return c.images("web")["web:1"] == 3 && c.rc("web").Status.ReadyReplicas == 3 })
	before := c.podUIDs()
	c.mu.Lock()
	c.minAvailable = 1 << 30
	c.mu.Unlock()
	res, err := c.deploy(testCtx(t), "web:1", 3, fast(Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != ActionUnchanged && res.Action != ActionUpdated {
		t.Fatalf("action %q", res.Action)
	}
	checkSteady(t, c, "web:1", 3)
	for uid := range before {
		if _, ok := c.podUIDs()[uid]; !ok {
			t.Fatalf("pod %s was restarted by the takeover", uid)
		}
	}
	checkFloor(t, c, 3)
}

func TestTakeOverAnUpdateInFlightOfTheEarlierRelease(t *testing.T) {
	// Midway through the earlier release's update of 4 replicas: web runs 2
	// old pods, web-def runs 2 new ones and is to grow to 4.
	old := webRC("web:1", 2)
	old.UID = "old-uid"
	old.Spec.Selector["deployment"] = "abc"
	old.Spec.Template.Labels["deployment"] = "abc"
	old.Annotations = map[string]string{AnnotationTemplateHash: TemplateHash(webRC("web:1", 1).Spec.Template), legacyNextController: "web-def", legacyOriginalReplicas: "4"}
	next := webRC("web:2", 2)
	next.Name, next.UID = "web-def", "next-uid"
	next.Spec.Selector["deployment"] = "def"
	next.Spec.Template.Labels["deployment"] = "def"
	next.Annotations = map[string]string{AnnotationTemplateHash: TemplateHash(webRC("web:2", 1).Spec.Template), legacyUpdateSource: "web:old-uid", legacyDesiredReplicas: "4", legacyOriginalName: "web"}
	c := newCluster(t, 21, old, next)
	c.run()
	waitFor(t, func() bool {
		return c.images("web")["web:1"] == 2 && c.images("web-def")["web:2"] == 2 && c.rc("web").Status.ReadyReplicas == 2 && c.rc("web-def").Status.ReadyReplicas == 2
	})
	newPods := map[string]bool{}
	for uid, image := range c.podUIDs() {
		if image == "web:2" {
			newPods[string(uid)] = true
		}
	}
	if _, err := c.deploy(testCtx(t), "web:2", 4, fast(Options{MaxSurge: count(1), MaxUnavailable: count(0)})); err != nil {
		t.Fatal(err)
	}
	checkSteady(t, c, "web:2", 4)
	now := c.podUIDs()
	for uid := range newPods {
		if _, ok := now[typesUID(uid)]; !ok {
			t.Fatalf("new pod %s was restarted by the takeover", uid)
		}
	}
	if revs := revisionsOf(c.rc("web")); len(revs) != 1 || revs[0].Images[0] != "web:1" {
		t.Fatalf("revisions %+v", revs)
	}
}

func TestTakeOverAnInterruptedRenameOfTheEarlierRelease(t *testing.T) {
	next := webRC("web:2", 3)
	next.Name, next.UID = "web-def", "next-uid"
	next.Spec.Selector["deployment"] = "def"
	next.Spec.Template.Labels["deployment"] = "def"
	next.Annotations = map[string]string{AnnotationTemplateHash: TemplateHash(webRC("web:2", 1).Spec.Template), legacyUpdateSource: "web:old-uid", legacyDesiredReplicas: "3", legacyOriginalName: "web"}
	c := newCluster(t, 22, next)
	c.run()
	waitFor(t, func() bool { return c.images("web-def")["web:2"] == 3 && c.rc("web-def").Status.ReadyReplicas == 3 })
	before := c.podUIDs()
	if _, err := c.deploy(testCtx(t), "web:2", 3, fast(Options{})); err != nil {
		t.Fatal(err)
	}
	checkSteady(t, c, "web:2", 3)
	for uid := range before {
		if _, ok := c.podUIDs()[uid]; !ok {
			t.Fatalf("pod %s was restarted", uid)
		}
	}
}

func TestPlanOfAnEarlierReleaseControllerShowsTheTakeover(t *testing.T) {
	legacy := webRC("web:1", 2)
	legacy.Spec.Selector["deployment"] = "abc"
	legacy.Spec.Template.Labels["deployment"] = "abc"
	c := newCluster(t, 23, legacy)
	u := &ReplicationControllers{Client: c.cs, Namespace: c.ns}
	p, err := u.Plan(testCtx(t), webRC("web:2", 2), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Takeover || p.Desired.Spec.Selector["deployment"] != "" || p.Action != ActionRolledOut {
		t.Fatalf("plan %+v selector %v", p, p.Desired.Spec.Selector)
	}
}

func TestSelectorThatWouldOrphanPodsIsRefused(t *testing.T) {
	c := started(t, 24, "web:1", 2)
	want := webRC("web:2", 2)
	want.Spec.Selector = map[string]string{"name": "other"}
	want.Spec.Template.Labels["name"] = "other"
	_, err := (&ReplicationControllers{Client: c.cs, Namespace: c.ns}).Deploy(testCtx(t), want, fast(Options{}))
	if err == nil || !strings.Contains(err.Error(), "orphaned") {
		t.Fatalf("err = %v", err)
	}
}

func TestNormalizeRefusesManagedLabelsInTheSelector(t *testing.T) {
	u := &ReplicationControllers{Namespace: "shop"}
	for _, key := range []string{TemplateHashLabel, DeploymentLabel} {
		rc := webRC("web:1", 1)
		rc.Spec.Selector[key] = "x"
		rc.Spec.Template.Labels[key] = "x"
		if _, err := u.normalize(rc); err == nil || !strings.Contains(err.Error(), key) {
			t.Fatalf("%s: err = %v", key, err)
		}
	}
	if _, err := u.normalize(&corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "x"}}); err == nil {
		t.Fatal("a controller without a template was accepted")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

var _ = ptr.To[int32]

// A failure that may pass is told when first seen, with how long the
// update gives it; the progress lines count the pods that serve.
func TestTransientFailureIsToldAsTheGraceStarts(t *testing.T) {
	c := started(t, 5, "web:1", 4)
	var events []Event
	u := &ReplicationControllers{Client: c.cs, Namespace: c.ns, Events: func(e Event) { events = append(events, e) }}
	_, err := u.Deploy(testCtx(t), webRC("web:pullbackoff", 4), fast(Options{MaxSurge: count(1), MaxUnavailable: count(0), FailureGrace: 150 * time.Millisecond}))
	var pf *PodFailure
	if !errors.As(err, &pf) {
		t.Fatalf("err = %v, want a pod failure", err)
	}
	notices := 0
	for _, e := range events {
		if e.Type == EventNotice && strings.Contains(e.Message, "ImagePullBackOff") && strings.Contains(e.Message, "waits up to 150ms") {
			notices++
		}
		if e.Type == EventProgress && e.Serving < 4 {
			t.Errorf("progress says %d pods serve with max unavailable 0: %s", e.Serving, e.Message)
		}
	}
	if notices != 1 {
		t.Errorf("%d notices of the back-off, want one before the update failed:\n%v", notices, events)
	}
	for _, e := range events {
		if e.Type == EventProgress {
			if want := "4 wanted: 4 ready (0 new, 4 old)"; !strings.HasPrefix(e.Message, want) {
				t.Errorf("the first progress line is %q, want it to start %q", e.Message, want)
			}
			break
		}
	}
}

// The record given is written with the image the controller then runs: a
// rollback records the previous image.
func TestTheRecordCarriesTheImageRolledOut(t *testing.T) {
	c := started(t, 5, "web:1", 2)
	rec := &audit.Record{User: "ci", Time: time.Unix(1000, 0), Environment: "dev", Cause: "roll"}
	u := &ReplicationControllers{Client: c.cs, Namespace: c.ns}
	res, err := u.Deploy(testCtx(t), webRC("web:2", 2), fast(Options{Record: rec}))
	if err != nil || res.Record == nil || res.Record.Image != "web:2" {
		t.Fatalf("deploy: record %+v, %v", res.Record, err)
	}
	res, err = u.Rollback(testCtx(t), "web", fast(Options{Record: rec}))
	if err != nil || res.Record == nil || res.Record.Image != "web:1" {
		t.Fatalf("rollback: record %+v, %v", res.Record, err)
	}
	if got, _ := audit.FromAnnotations(c.rc("web").Annotations); got.Image != "web:1" || got.Cause != "roll" {
		t.Errorf("the controller records %+v after the rollback", got)
	}
	if got := c.rc("web").Annotations[audit.RequestedImage]; got != "web:1" {
		t.Errorf("after the rollback the image asked for is %q, want the image rolled back to", got)
	}
}

// A new controller is announced with its replicas counted in words.
func TestCreatingSaysHowManyReplicas(t *testing.T) {
	for _, tc := range []struct {
		replicas int32
		want     string
	}{
		{1, "creating ReplicationController web with 1 replica"},
		{3, "creating ReplicationController web with 3 replicas"},
	} {
		c := newCluster(t, 7)
		c.run()
		var started []string
		u := &ReplicationControllers{Client: c.cs, Namespace: c.ns, Events: func(e Event) {
			if e.Type == EventStarted {
				started = append(started, e.Message)
			}
		}}
		if _, err := u.Deploy(testCtx(t), webRC("web:1", tc.replicas), fast(Options{})); err != nil {
			t.Fatal(err)
		}
		if len(started) != 1 || started[0] != tc.want {
			t.Errorf("started %q, want %q", started, tc.want)
		}
	}
}
