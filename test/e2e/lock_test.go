package e2e

import (
	"maps"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// assertRefusedForLock checks the one clear line a deploy refused by the
// app's Lease prints: who holds it, since when, and how to go on.
func assertRefusedForLock(t *testing.T, r result, holder ...string) {
	t.Helper()
	line := strings.TrimSpace(r.Stderr)
	if r.ExitCode == 0 || r.ExitCode == 2 || strings.Contains(line, "\n") {
		t.Fatalf("want a refusal (exit 1 or 3, not a usage error) and one line on stderr:\n%s", r)
	}
	for _, s := range append([]string{"web", "since", "--break-lock"}, holder...) {
		if !strings.Contains(line, s) {
			t.Errorf("the refusal does not say %q: %s", s, line)
		}
	}
}

func TestLockTwoDeploysAtOnce(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		// midway starts the second deploy only once the first holds the
		// Lease and has begun its rolling update; otherwise both start
		// together.
		midway bool
	}{
		{name: "started together, one proceeds and the other refuses"},
		{name: "started while the first is mid-update, the second refuses", midway: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cs := clientset(t, devContext)
			ns := newNamespace(t, devContext)
			dir := deployProject(t, ns, "shop", 8)
			if r := deploy(t, dir); r.ExitCode != 0 {
				t.Fatalf("first deploy:\n%s", r)
			}
			// One pod at a time, so each is still running when the other starts.
			slow := []string{"--max-surge", "1", "--max-unavailable", "0"}
			start := func(image string) func() result {
				return startDeploy(t, dir, append([]string{"web", "--env", "dev", "--image", image}, slow...)...)
			}
			waitA := start("nginx:1.28")
			if tc.midway {
				waitFor(t, 60*time.Second, "the first deploy to hold the Lease and write the new template", func() bool {
					rc := getRC(t, cs, ns)
					return leaseHeld(t, cs, ns) && rc.Spec.Template.Spec.Containers[0].Image == "nginx:1.28"
				})
			}
			waitB := start("nginx:1.29")
			ra, rb := waitA(), waitB()

			winnerImage, winnerRes, loserRes := "nginx:1.28", ra, rb
			if ra.ExitCode != 0 {
				winnerImage, winnerRes, loserRes = "nginx:1.29", rb, ra
			}
			if tc.midway && winnerImage != "nginx:1.28" {
				t.Errorf("the deploy that started first should proceed:\nfirst: %s\nsecond: %s", ra, rb)
			}
			if winnerRes.ExitCode != 0 || !strings.Contains(winnerRes.Stdout, "ReplicationController/web rolled out") {
				t.Fatalf("exactly one deploy should proceed and finish:\nfirst: %s\nsecond: %s", ra, rb)
			}
			assertRefusedForLock(t, loserRes, host)
			assertSettled(t, cs, ns, 8, winnerImage)
			if leaseHeld(t, cs, ns) {
				t.Errorf("the Lease was not released at the end: %+v", leaseOf(t, cs, ns).Spec)
			}
		})
	}
}

func TestLockOfAKilledDeployDoesNotBlock(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	dir := deployProject(t, ns, "shop", 4)
	if r := deploy(t, dir); r.ExitCode != 0 {
		t.Fatalf("first deploy:\n%s", r)
	}
	args := []string{"web", "--env", "dev", "--image", "nginx:1.28", "--max-surge", "1", "--max-unavailable", "0"}
	// Killed once a new pod is Ready and old ones remain: mid-update.
	if !deployKilledWhen(t, dir, cs, ns, func(_ *corev1.ReplicationController, pods []*corev1.Pod) bool {
		fresh, old := 0, 0
		for _, p := range pods {
			switch {
			case p.Spec.Containers[0].Image == "nginx:1.28" && podReady(p):
				fresh++
			case p.Spec.Containers[0].Image == "nginx:1.27" && p.DeletionTimestamp == nil:
				old++
			}
		}
		return fresh >= 1 && old > 0
	}, args...) {
		t.Fatal("the deploy was not killed mid-update")
	}
	if !leaseHeld(t, cs, ns) {
		t.Fatal("the killed deploy held no Lease for web")
	}
	r := runKubectl(t, dir, "", append([]string{"envops", "deploy"}, args...)...)
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "ReplicationController/web rolled out") {
		t.Fatalf("the next deploy on this host should take over the dead deploy's Lease and finish:\n%s", r)
	}
	assertSettled(t, cs, ns, 4, "nginx:1.28")
	if leaseHeld(t, cs, ns) {
		t.Errorf("the Lease was not released at the end: %+v", leaseOf(t, cs, ns).Spec)
	}
}

func TestLockHeldElsewhereRefusesUntilBroken(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	dir := deployProject(t, ns, "shop", 3)
	if r := deploy(t, dir); r.ExitCode != 0 {
		t.Fatalf("first deploy:\n%s", r)
	}
	// A deploy on a CI runner holds the Lease, renewed just now.
	now := time.Now().UTC().Truncate(time.Second)
	holdLease(t, cs, ns, "system:serviceaccount:ci:deployer on host ci-runner-7 (pid 4242)", now.Add(-time.Minute), now)
	before := rcState(t, cs, ns)

	r := deploy(t, dir, "--image", "nginx:1.28")
	assertRefusedForLock(t, r, "ci-runner-7", "since")
	if after := rcState(t, cs, ns); !maps.Equal(before, after) {
		t.Errorf("the refused deploy changed the controllers:\nbefore %v\nafter  %v", before, after)
	}

	r = deploy(t, dir, "--image", "nginx:1.28", "--break-lock")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "ReplicationController/web rolled out") {
		t.Fatalf("--break-lock should take the Lease and deploy:\n%s", r)
	}
	assertSettled(t, cs, ns, 3, "nginx:1.28")
	if leaseHeld(t, cs, ns) {
		t.Errorf("the Lease was not released at the end: %+v", leaseOf(t, cs, ns).Spec)
	}
}

// The Lease covers apps deployed as Deployments too.
func TestLockHeldElsewhereRefusesADeployment(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	dir := deployProject(t, ns, "shop", 2)
	if r := deploy(t, dir, "--kind", "Deployment"); r.ExitCode != 0 {
		t.Fatalf("first deploy:\n%s", r)
	}
	now := time.Now().UTC()
	holdLease(t, cs, ns, "alice on host laptop-3 (pid 77)", now, now)
	r := deploy(t, dir, "--kind", "Deployment", "--image", "nginx:1.28")
	assertRefusedForLock(t, r, "laptop-3")
	d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "nginx:1.27" {
		t.Errorf("the refused deploy changed the Deployment's image to %s", img)
	}
}

// holdLease writes the app's deploy Lease as another deploy holding it
// would, over whatever Lease a finished deploy left.
func holdLease(t *testing.T, cs kubernetes.Interface, ns, holder string, acquired, renewed time.Time) {
	t.Helper()
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: leasePrefix + "web"},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To(holder),
			LeaseDurationSeconds: ptr.To(int32(30)),
			AcquireTime:          &metav1.MicroTime{Time: acquired},
			RenewTime:            &metav1.MicroTime{Time: renewed},
		},
	}
	var err error
	if l := leaseOf(t, cs, ns); l != nil {
		lease.ResourceVersion = l.ResourceVersion
		_, err = cs.CoordinationV1().Leases(ns).Update(t.Context(), lease, metav1.UpdateOptions{})
	} else {
		_, err = cs.CoordinationV1().Leases(ns).Create(t.Context(), lease, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestLockBrokenMidUpdateStopsTheFirstDeploy breaks the lock of a slow
// deploy with a second one: the first stops before its next write, deletes
// none of the second's pods, and says the lock was taken over, by whom, and
// that the other deploy owns the update; the second finishes.
func TestLockBrokenMidUpdateStopsTheFirstDeploy(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	dir := deployProject(t, ns, "shop", 6)
	if r := deploy(t, dir); r.ExitCode != 0 {
		t.Fatalf("first deploy:\n%s", r)
	}
	// The first deploy takes a step every 3s, so it still has steps to
	// take when the second breaks its lock.
	waitA := startDeploy(t, dir, "web", "--env", "dev", "--image", "nginx:1.28", "--max-surge", "1", "--max-unavailable", "0", "--update-period", "3s")
	waitFor(t, 60*time.Second, "the first deploy to hold the Lease and write the new template", func() bool {
		return leaseHeld(t, cs, ns) && getRC(t, cs, ns).Spec.Template.Spec.Containers[0].Image == "nginx:1.28"
	})

	// Every pod of the second deploy's template that goes away, and when.
	w, err := cs.CoreV1().Pods(ns).Watch(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	gone := map[string]time.Time{}
	go func() {
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || p.Spec.Containers[0].Image != "nginx:1.29" || (ev.Type != watch.Deleted && p.DeletionTimestamp == nil) {
				continue
			}
			mu.Lock()
			if _, seen := gone[p.Name]; !seen {
				gone[p.Name] = time.Now()
			}
			mu.Unlock()
		}
	}()

	// The second is slow too, so that it still holds the lock when the
	// first comes to its next write.
	secondStarted := time.Now()
	waitB := startDeploy(t, dir, "web", "--env", "dev", "--image", "nginx:1.29", "--max-surge", "1", "--max-unavailable", "0", "--update-period", "2s", "--break-lock")
	ra := waitA()
	firstStopped := time.Now()
	rb := waitB()
	t.Logf("the first deploy stopped %s after the second started: %s", firstStopped.Sub(secondStarted).Round(10*time.Millisecond), strings.TrimSpace(ra.Stderr))

	line := strings.TrimSpace(ra.Stderr)
	for _, want := range []string{`the deploy lock of app "web" in namespace "` + ns + `" was taken over by`, "on host " + host, "this deploy stopped before its next write", "that deploy now owns the update"} {
		if !strings.Contains(line, want) {
			t.Errorf("the first deploy does not say %q:\n%s", want, ra)
		}
	}
	if ra.ExitCode != 1 || strings.Count(line, "\n") != 0 {
		t.Errorf("the first deploy: want exit 1 and one line on stderr:\n%s", ra)
	}
	if rb.ExitCode != 0 || !strings.Contains(rb.Stdout, "ReplicationController/web rolled out") {
		t.Fatalf("the second deploy should take the lock and finish:\n%s", rb)
	}
	mu.Lock()
	for pod, at := range gone {
		if at.Before(firstStopped) {
			t.Errorf("pod %s of the second deploy was deleted while the first still ran", pod)
		}
	}
	mu.Unlock()
	assertSettled(t, cs, ns, 6, "nginx:1.29")
	if leaseHeld(t, cs, ns) {
		t.Errorf("the Lease was not released at the end: %+v", leaseOf(t, cs, ns).Spec)
	}
}
