package rollout

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestAcquireDeployLockOnTheHost(t *testing.T) {
	cs := leaseFake()
	ctx := context.Background()
	lk, lctx, err := AcquireDeployLock(ctx, cs, "shop", "web", "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	identity, lock := holderOf(t, cs)
	host, _ := os.Hostname()
	if lock == nil || lock.Holder != "alice" || lock.Host != host || lock.PID != os.Getpid() || !strings.Contains(identity, "alice") {
		t.Fatalf("lease held by %q with %+v, want alice on this host and process", identity, lock)
	}
	// Another user of the same host is refused while alice's process lives.
	_, _, err = AcquireDeployLock(ctx, cs, "shop", "web", "bob", false)
	var locked *LockedError
	if !errors.As(err, &locked) || locked.Lock.Holder != "alice" || !strings.Contains(err.Error(), "alice on host "+host) {
		t.Fatalf("second deploy: %v, want it refused naming alice", err)
	}
	if err := lk.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if lctx.Err() == nil {
		t.Fatal("the lock's context outlived its release")
	}
	lk2, _, err := AcquireDeployLock(ctx, cs, "shop", "web", "bob", false)
	if err != nil {
		t.Fatalf("after the release: %v", err)
	}
	if taken, why := lk2.TakenOver(); taken != nil {
		t.Fatalf("a released lock was taken over from %+v (%s)", taken, why)
	}
	_ = lk2.Release(ctx)
}
