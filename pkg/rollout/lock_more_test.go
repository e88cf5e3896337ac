package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseLock(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	want := Lock{Holder: "alice", Host: "build-1", PID: 4242, AcquiredAt: at, RenewedAt: at.Add(10 * time.Second)}
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got := ParseLock(map[string]string{AnnotationLock: string(b), "other": "x"})
	if got == nil || got.Holder != want.Holder || got.Host != want.Host || got.PID != want.PID || !got.AcquiredAt.Equal(at) || !got.ExpiresAt().Equal(at.Add(10*time.Second+LockTTL)) {
		t.Fatalf("ParseLock = %+v, want %+v", got, want)
	}
	for name, annotations := range map[string]map[string]string{
		"no annotations": nil,
		"no lock":        {"other": "x"},
		"empty lock":     {AnnotationLock: ""},
		"unreadable":     {AnnotationLock: "{not json"},
	} {
		if got := ParseLock(annotations); got != nil {
			t.Errorf("%s: ParseLock = %+v, want nil", name, got)
		}
	}
}

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
