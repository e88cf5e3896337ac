package e2e

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/envops/kubectl-envops/pkg/rollout"
)

// lockOf is the deploy lock on the app's controller, nil when there is none.
func lockOf(t *testing.T, cs kubernetes.Interface, ns string) *rollout.Lock {
	t.Helper()
	rc, err := cs.CoreV1().ReplicationControllers(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rollout.ParseLock(rc.Annotations)
}

// assertRefusedForLock checks the one clear line a deploy refused by the
// lock prints.
func assertRefusedForLock(t *testing.T, r result, holder ...string) {
	t.Helper()
	line := strings.TrimSpace(r.Stderr)
	if r.ExitCode != 1 || strings.Contains(line, "\n") {
		t.Fatalf("want exit 1 and one line on stderr:\n%s", r)
	}
	for _, s := range append([]string{`error: ReplicationController "web"`, "is being deployed by", "since", "wait for that deploy to finish", "--break-lock"}, holder...) {
		if !strings.Contains(line, s) {
			t.Errorf("the refusal does not say %q: %s", s, line)
		}
	}
}

func TestLockTwoDeploysAtOnce(t *testing.T) {
	cases := []struct {
		name string
		// midway starts the second deploy only once the first has begun
		// its rolling update; otherwise both start together.
		midway bool
	}{
		{name: "started together, one proceeds and the other refuses"},
		{name: "started while the first is mid-update, the second refuses", midway: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cs := clientset(t, devContext)
			ns := newNamespace(t, devContext)
			dir := deployProject(t, ns, "shop", 4)
			if r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev"); r.ExitCode != 0 {
				t.Fatalf("first deploy:\n%s", r)
			}
			// Both are slowed so that each is still running when the other starts.
			slow := []string{"--update-period", "2s", "--max-surge", "1", "--max-unavailable", "0"}
			deploy := func(image string) func() result {
				return startDeploy(t, dir, append([]string{"web", "--env", "dev", "--image", image}, slow...)...)
			}
			waitA := deploy("nginx:1.28")
			if tc.midway {
				waitFor(t, 60*time.Second, "the first deploy to create the new controller", func() bool {
					list, err := cs.CoreV1().ReplicationControllers(ns).List(t.Context(), metav1.ListOptions{})
					return err == nil && len(list.Items) == 2
				})
			}
			waitB := deploy("nginx:1.29")
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
			assertRefusedForLock(t, loserRes, "on host", "(pid ")
			assertSettled(t, cs, ns, 4, winnerImage)
			if l := lockOf(t, cs, ns); l != nil {
				t.Errorf("the lock was not released at the end: %+v", *l)
			}
		})
	}
}

func TestLockOfAKilledDeployDoesNotBlock(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	dir := deployProject(t, ns, "shop", 4)
	if r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev"); r.ExitCode != 0 {
		t.Fatalf("first deploy:\n%s", r)
	}
	args := []string{"web", "--env", "dev", "--image", "nginx:1.28", "--max-surge", "1", "--max-unavailable", "0", "--update-period", "1s"}
	if !deployKilled(t, dir, func(e rollout.Event) bool {
		return e.Type == rollout.EventProgress && e.Ready >= 1 && e.Old > 0
	}, args...) {
		t.Fatal("the deploy was not killed mid-update")
	}
	if lockOf(t, cs, ns) == nil {
		t.Fatal("the killed deploy held no lock on web")
	}
	r := runKubectl(t, dir, "", append([]string{"envops", "deploy"}, args...)...)
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "took over the deploy lock") || !strings.Contains(r.Stdout, "its process is gone") {
		t.Fatalf("the next deploy should take over the dead deploy's lock and finish:\n%s", r)
	}
	assertSettled(t, cs, ns, 4, "nginx:1.28")
	if l := lockOf(t, cs, ns); l != nil {
		t.Errorf("the lock was not released at the end: %+v", *l)
	}
}

func TestLockHeldElsewhereRefusesUntilBroken(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	dir := deployProject(t, ns, "shop", 3)
	if r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev"); r.ExitCode != 0 {
		t.Fatalf("first deploy:\n%s", r)
	}
	// A deploy on a CI runner holds the lock, renewed just now.
	now := time.Now().UTC().Truncate(time.Second)
	held, err := json.Marshal(rollout.Lock{Holder: "system:serviceaccount:ci:deployer", Host: "ci-runner-7", PID: 4242, AcquiredAt: now.Add(-time.Minute), RenewedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cs.CoreV1().ReplicationControllers(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc.Annotations[rollout.AnnotationLock] = string(held)
	if _, err := cs.CoreV1().ReplicationControllers(ns).Update(t.Context(), rc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := rcState(t, cs, ns)

	r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--image", "nginx:1.28")
	assertRefusedForLock(t, r, "system:serviceaccount:ci:deployer on host ci-runner-7 (pid 4242)", "since "+now.Add(-time.Minute).Format(time.RFC3339))
	if after := rcState(t, cs, ns); !maps.Equal(before, after) {
		t.Errorf("the refused deploy changed the controllers:\nbefore %v\nafter  %v", before, after)
	}

	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--image", "nginx:1.28", "--break-lock")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "took over the deploy lock") {
		t.Fatalf("--break-lock should take the lock and deploy:\n%s", r)
	}
	assertSettled(t, cs, ns, 3, "nginx:1.28")
	if l := lockOf(t, cs, ns); l != nil {
		t.Errorf("the lock was not released at the end: %+v", *l)
	}
}
