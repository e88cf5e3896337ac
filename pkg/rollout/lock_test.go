package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

var lockNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// conflictingClient is a fake clientset whose ReplicationController updates
// honour resourceVersion as the API server does: a stale one is a conflict.
// The plain fake accepts any version, which would hide a lost race.
func conflictingClient(t *testing.T, rcs ...*corev1.ReplicationController) *fake.Clientset {
	t.Helper()
	var objs []runtime.Object
	for _, rc := range rcs {
		objs = append(objs, rc)
	}
	cs := fake.NewClientset(objs...)
	gvr := corev1.SchemeGroupVersion.WithResource("replicationcontrollers")
	var mu sync.Mutex
	cs.PrependReactor("update", "replicationcontrollers", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		up := a.(k8stesting.UpdateAction).GetObject().(*corev1.ReplicationController).DeepCopy()
		cur, err := cs.Tracker().Get(gvr, a.GetNamespace(), up.Name)
		if err != nil {
			return true, nil, err
		}
		// An empty resourceVersion is an unconditional update, as on the server.
		if up.ResourceVersion != "" && cur.(*corev1.ReplicationController).ResourceVersion != up.ResourceVersion {
			return true, nil, apierrors.NewConflict(gvr.GroupResource(), up.Name, errors.New("the object has been modified"))
		}
		n, _ := strconv.Atoi(cur.(*corev1.ReplicationController).ResourceVersion)
		up.ResourceVersion = strconv.Itoa(n + 1)
		if err := cs.Tracker().Update(gvr, up, a.GetNamespace()); err != nil {
			return true, nil, err
		}
		return true, up, nil
	})
	return cs
}

func lockedRC(l *Lock) *corev1.ReplicationController {
	rc := &corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "uid-web", ResourceVersion: "1"}}
	if l != nil {
		b, _ := json.Marshal(l)
		rc.Annotations = map[string]string{AnnotationLock: string(b)}
	}
	return rc
}

// testLock is a run of holder on host with pid; alive tells which pids of
// this host still run.
func testLock(cs *fake.Clientset, holder, host string, pid int, alive map[int]bool, breakLock bool) *rcLock {
	l := newRCLock(cs.CoreV1().ReplicationControllers("shop"), holder, breakLock)
	l.own.Host, l.own.PID = host, pid
	l.now = func() time.Time { return lockNow }
	l.alive = func(pid int) bool { return alive[pid] }
	return l
}

func TestLockAcquire(t *testing.T) {
	held := func(holder, host string, pid int, renewedAgo time.Duration) *Lock {
		return &Lock{Holder: holder, Host: host, PID: pid, AcquiredAt: lockNow.Add(-time.Hour), RenewedAt: lockNow.Add(-renewedAgo)}
	}
	cases := []struct {
		name      string
		existing  *Lock
		alive     map[int]bool
		breakLock bool
		wantTaken bool
		// wantRefusal lists what the refusal must name; empty means the lock is taken.
		wantRefusal []string
	}{
		{name: "a controller without a lock is locked"},
		{name: "a fresh lock of another user refuses, naming who, where and how to proceed",
			existing: held("bob", "ci-1", 42, 5*time.Second), alive: map[int]bool{},
			wantRefusal: []string{`"web"`, `"shop"`, "bob on host ci-1 (pid 42)", "since 2026-05-01T11:00:00Z", "wait", "expires at 2026-05-01T12:00:25Z", "--break-lock"}},
		{name: "a fresh lock of a running process of the same user on this host refuses",
			existing: held("alice", "laptop", 42, 5*time.Second), alive: map[int]bool{42: true},
			wantRefusal: []string{"alice on host laptop (pid 42)"}},
		{name: "a fresh lock of a gone process of the same user on this host is taken over",
			existing: held("alice", "laptop", 42, 5*time.Second), alive: map[int]bool{}, wantTaken: true},
		{name: "a fresh lock of a gone process of another user refuses",
			existing: held("bob", "laptop", 42, 5*time.Second), alive: map[int]bool{},
			wantRefusal: []string{"bob on host laptop (pid 42)"}},
		{name: "a fresh lock from another host refuses even when that pid is free here",
			existing: held("alice", "ci-1", 42, 5*time.Second), alive: map[int]bool{},
			wantRefusal: []string{"alice on host ci-1 (pid 42)"}},
		{name: "a lock not renewed for the expiry time is taken over",
			existing: held("bob", "ci-1", 42, LockTTL), alive: map[int]bool{42: true}, wantTaken: true},
		{name: "--break-lock takes a fresh lock of a running process",
			existing: held("bob", "ci-1", 42, time.Second), alive: map[int]bool{42: true}, breakLock: true, wantTaken: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cs := conflictingClient(t, lockedRC(tc.existing))
			l := testLock(cs, "alice", "laptop", 7, tc.alive, tc.breakLock)
			out, taken, err := l.acquire(context.Background(), lockedRC(tc.existing))
			live, gerr := cs.CoreV1().ReplicationControllers("shop").Get(context.Background(), "web", metav1.GetOptions{})
			if gerr != nil {
				t.Fatal(gerr)
			}
			got := ParseLock(live.Annotations)
			if len(tc.wantRefusal) > 0 {
				var le *LockedError
				if !errors.As(err, &le) {
					t.Fatalf("want a refusal, got err %v", err)
				}
				for _, s := range tc.wantRefusal {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("refusal %q does not mention %q", err, s)
					}
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("refusal is not one line: %q", err)
				}
				if got == nil || *got != *tc.existing {
					t.Errorf("the holder's lock changed to %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("acquire: %v", err)
			}
			if (taken != nil) != tc.wantTaken {
				t.Errorf("taken over = %v, want %v", taken != nil, tc.wantTaken)
			}
			want := Lock{Holder: "alice", Host: "laptop", PID: 7, AcquiredAt: lockNow, RenewedAt: lockNow}
			if got == nil || *got != want {
				t.Errorf("lock on the controller = %+v, want %+v", got, want)
			}
			if ParseLock(out.Annotations) == nil || l.carrierName() != "web" {
				t.Errorf("the run does not know it holds the lock on web (carrier %q)", l.carrierName())
			}
		})
	}
}

func TestLockTwoTakersOfTheSameVersion(t *testing.T) {
	cases := []struct {
		name       string
		concurrent bool
		takers     int
	}{
		{name: "the second of two takers that read the same version refuses", takers: 2},
		{name: "of many takers at once exactly one wins", takers: 8, concurrent: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cs := conflictingClient(t, lockedRC(nil))
			stale := lockedRC(nil)
			errs := make([]error, tc.takers)
			var wg sync.WaitGroup
			for i := range tc.takers {
				l := testLock(cs, "user-"+strconv.Itoa(i), "host-"+strconv.Itoa(i), 100+i, map[int]bool{}, false)
				take := func() { _, _, errs[i] = l.acquire(context.Background(), stale) }
				if tc.concurrent {
					wg.Go(take)
				} else {
					take()
				}
			}
			wg.Wait()
			winners := 0
			for i, err := range errs {
				var le *LockedError
				switch {
				case err == nil:
					winners++
				case !errors.As(err, &le):
					t.Errorf("taker %d failed without a refusal: %v", i, err)
				}
			}
			if winners != 1 {
				t.Errorf("%d takers won the lock, want exactly 1 (errors %v)", winners, errs)
			}
		})
	}
}

func TestLockRenewAndRelease(t *testing.T) {
	other := &Lock{Holder: "bob", Host: "ci-1", PID: 42, AcquiredAt: lockNow, RenewedAt: lockNow}
	cases := []struct {
		name string
		// replace, when set, is the lock someone else put on the controller
		// after this run took it.
		replace      *Lock
		wantLost     bool
		wantReleased bool
	}{
		{name: "renewal moves renewedAt on and release removes the lock", wantReleased: true},
		{name: "a lock broken by another run is lost and left to it", replace: other, wantLost: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cs := conflictingClient(t, lockedRC(nil))
			rcs := cs.CoreV1().ReplicationControllers("shop")
			l := testLock(cs, "alice", "laptop", 7, nil, false)
			if _, _, err := l.acquire(ctx, lockedRC(nil)); err != nil {
				t.Fatal(err)
			}
			if tc.replace != nil {
				cur, _ := rcs.Get(ctx, "web", metav1.GetOptions{})
				b, _ := json.Marshal(tc.replace)
				cur.Annotations[AnnotationLock] = string(b)
				if _, err := rcs.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			later := lockNow.Add(10 * time.Second)
			l.now = func() time.Time { return later }
			err := l.renew(ctx)
			var lost *LockLostError
			if errors.As(err, &lost) != tc.wantLost {
				t.Fatalf("renew: %v, want lost = %v", err, tc.wantLost)
			}
			if !tc.wantLost {
				if err != nil {
					t.Fatal(err)
				}
				cur, _ := rcs.Get(ctx, "web", metav1.GetOptions{})
				if got := ParseLock(cur.Annotations); got == nil || !got.RenewedAt.Equal(later) || !got.AcquiredAt.Equal(lockNow) {
					t.Errorf("renewed lock = %+v, want renewedAt %s and acquiredAt unchanged", got, later)
				}
			}
			if err := l.release(ctx); err != nil {
				t.Fatal(err)
			}
			cur, _ := rcs.Get(ctx, "web", metav1.GetOptions{})
			got := ParseLock(cur.Annotations)
			if tc.wantReleased && got != nil {
				t.Errorf("the lock is still there after release: %+v", got)
			}
			if tc.replace != nil && (got == nil || *got != *tc.replace) {
				t.Errorf("release touched the other run's lock: %+v", got)
			}
		})
	}
}

func TestLockFollowsTheRename(t *testing.T) {
	ctx := context.Background()
	next := lockedRC(nil)
	next.Name, next.UID = "web-abc123", "uid-next"
	cs := conflictingClient(t, lockedRC(nil), next)
	rcs := cs.CoreV1().ReplicationControllers("shop")
	l := testLock(cs, "alice", "laptop", 7, nil, false)
	if _, _, err := l.acquire(ctx, lockedRC(nil)); err != nil {
		t.Fatal(err)
	}
	// Before the old controller is deleted, the lock moves to next.
	if _, _, err := l.acquire(ctx, next); err != nil {
		t.Fatal(err)
	}
	if err := rcs.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// A run that starts now finds next and its lock.
	moved, _ := rcs.Get(ctx, "web-abc123", metav1.GetOptions{})
	contender := testLock(cs, "bob", "ci-1", 42, nil, false)
	var le *LockedError
	if _, _, err := contender.acquire(ctx, moved); !errors.As(err, &le) {
		t.Fatalf("a deploy during the rename should be refused, got %v", err)
	}
	// The rename re-creates the controller from next's annotations.
	final := lockedRC(nil)
	final.UID, final.Annotations = "uid-final", moved.Annotations
	if err := rcs.Delete(ctx, "web-abc123", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rcs.Create(ctx, final, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	l.setCarrier("web")
	if err := l.renew(ctx); err != nil {
		t.Fatalf("renewing on the renamed controller: %v", err)
	}
	if err := l.release(ctx); err != nil {
		t.Fatal(err)
	}
	cur, _ := rcs.Get(ctx, "web", metav1.GetOptions{})
	if got := ParseLock(cur.Annotations); got != nil {
		t.Errorf("the renamed controller still carries the lock: %+v", got)
	}
}

// TestLockReleaseStopsARenewalMidTick releases while renewals tick as fast
// as they can: release must stop the renewal wherever it is, or a deploy
// would hang at its end.
func TestLockReleaseStopsARenewalMidTick(t *testing.T) {
	ctx := context.Background()
	for i := range 50 {
		cs := conflictingClient(t, lockedRC(nil))
		l := testLock(cs, "alice", "laptop", 7, nil, false)
		l.every = time.Millisecond
		if _, _, err := l.acquire(ctx, lockedRC(nil)); err != nil {
			t.Fatal(err)
		}
		l.start(ctx, func(err error) { t.Errorf("run %d: lock lost: %v", i, err) })
		time.Sleep(time.Duration(i%5) * time.Millisecond)
		released := make(chan error, 1)
		go func() { released <- l.release(ctx) }()
		select {
		case err := <-released:
			if err != nil {
				t.Fatalf("run %d: release: %v", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("run %d: release never returned: the renewal goroutine was not stopped", i)
		}
	}
}
