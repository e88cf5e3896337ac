package rollout

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestFenceStopsALockLostBetweenRenewals checks that a deploy whose lock
// another deploy takes over (--break-lock) learns it at its next write,
// not at its next renewal: Fence fails with the taker's name and ends the
// lock's context with that cause.
func TestFenceStopsALockLostBetweenRenewals(t *testing.T) {
	cs := leaseFake()
	clock := &leaseClock{t: leaseT0}
	_, ctx := hold(t, cs, newLeaseRun(clock, "h", 42), "alice", false)
	if err := fence(ctx, "shop"); err != nil {
		t.Fatalf("fence while holding the lock: %v", err)
	}
	if err := fence(ctx, "elsewhere"); err != nil {
		t.Fatalf("fence of a namespace with no lock: %v", err)
	}
	hold(t, cs, newLeaseRun(clock, "h2", 7), "bob", true)
	err := fence(ctx, "shop")
	var lost *LockLostError
	if !errors.As(err, &lost) || lost.By.Holder != "bob" {
		t.Fatalf("fence after the takeover = %v; want a LockLostError naming bob", err)
	}
	if !errors.As(context.Cause(ctx), &lost) {
		t.Errorf("the deploy's context goes on: cause %v", context.Cause(ctx))
	}
}

// TestTakenOverUpdateStopsBeforeItsNextWrite takes an update's lock over
// (--break-lock) right after its first write: the update writes nothing
// more, deletes no pod, and says the lock was taken over, by whom, and that
// the other deploy owns the update now.
func TestTakenOverUpdateStopsBeforeItsNextWrite(t *testing.T) {
	c := started(t, 11, "web:1", 6)
	// The lock lives in a client of its own, so that the takeover can run
	// in the middle of a write of the simulated API server.
	leases := leaseFake()
	clock := &leaseClock{t: leaseT0}
	_, ctx := hold(t, leases, newLeaseRun(clock, "h", 42), "alice", false)

	c.mu.Lock()
	base := c.writes
	deletesBefore := c.requests["delete pods"]
	var once sync.Once
	var writesAtTakeover int
	c.onWrite = func(n int) {
		if n == base+1 {
			once.Do(func() {
				hold(t, leases, newLeaseRun(clock, "h2", 7), "bob", true)
				writesAtTakeover = n
			})
		}
	}
	c.mu.Unlock()

	_, err := c.deploy(ctx, "web:2", 6, fast(Options{MaxSurge: count(2), MaxUnavailable: count(0)}))
	var lost *LockLostError
	var fe *FailedError
	if !errors.As(err, &fe) || fe.RolledBack || !errors.As(err, &lost) {
		t.Fatalf("err = %v; want a FailedError left in place, caused by the lost lock", err)
	}
	for _, want := range []string{`ReplicationController "web": the deploy lock of app "web" in namespace "shop" was taken over by bob on host h2 (pid 7)`, "that deploy now owns the update"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v; want it to contain %q", err, want)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writes != writesAtTakeover {
		t.Errorf("%d writes after the takeover, want none", c.writes-writesAtTakeover)
	}
	if n := c.requests["delete pods"] - deletesBefore; n != 0 {
		t.Errorf("deleted %d pods after losing the lock", n)
	}
}

// TestLockTakenOverAndFreedIsStillLost has a second deploy take the lock
// over and finish before the first writes or renews again: the Lease is
// free by then, yet the first must not take it back and act on, and it
// still learns who took it.
func TestLockTakenOverAndFreedIsStillLost(t *testing.T) {
	for _, by := range []string{"fence", "renewal"} {
		t.Run(by, func(t *testing.T) {
			cs := leaseFake()
			clock := &leaseClock{t: leaseT0}
			alice := newLeaseRun(clock, "h", 42)
			_, ctx := hold(t, cs, alice, "alice", false)
			bob, _ := hold(t, cs, newLeaseRun(clock, "h2", 7), "bob", true)
			if err := bob.Release(context.Background()); err != nil {
				t.Fatal(err)
			}
			var lost *LockLostError
			if by == "fence" {
				if err := fence(ctx, "shop"); !errors.As(err, &lost) {
					t.Fatalf("fence = %v; want a LockLostError", err)
				}
			} else {
				select {
				case alice.tick <- time.Time{}:
				case <-time.After(10 * time.Second):
					t.Fatal("the renewal loop does not take its tick")
				}
				select {
				case <-ctx.Done():
				case <-time.After(10 * time.Second):
					t.Fatal("the renewal did not end the deploy")
				}
				if !errors.As(context.Cause(ctx), &lost) {
					t.Fatalf("after a renewal, cause %v; want a LockLostError", context.Cause(ctx))
				}
				if identity, _ := holderOf(t, cs); identity != "" {
					t.Errorf("the renewal took the freed lock back for %q", identity)
				}
			}
			want := `the deploy lock of app "web" in namespace "shop" was taken over by bob on host h2 (pid 7), which has finished since: this deploy stopped before its next write`
			if !lost.Released || !strings.HasPrefix(lost.Error(), want) {
				t.Errorf("got  %s\nwant %s...", lost, want)
			}
		})
	}
}

// TestLockFreedByHandIsNotLost checks that a Lease whose holder someone
// cleared by hand, which no other deploy took, is neither a loss for the
// fence nor for the renewal, which takes it back.
func TestLockFreedByHandIsNotLost(t *testing.T) {
	cs := leaseFake()
	clock := &leaseClock{t: leaseT0}
	alice := newLeaseRun(clock, "h", 42)
	_, ctx := hold(t, cs, alice, "alice", false)
	lease := getLease(t, cs)
	lease.Spec.HolderIdentity = nil
	if _, err := cs.CoordinationV1().Leases("shop").Update(t.Context(), lease, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := fence(ctx, "shop"); err != nil {
		t.Errorf("fence = %v", err)
	}
	alice.renew(t)
	if ctx.Err() != nil {
		t.Errorf("the deploy stopped: %v", context.Cause(ctx))
	}
	if identity, _ := holderOf(t, cs); identity != "alice on host h (pid 42)" {
		t.Errorf("holder %q after the renewal, want alice again", identity)
	}
}
