package rollout

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// LockTTL is how long a lock stays valid without renewal; the holder renews
// it three times as often, so only a crashed or cut-off holder lets it lapse.
const LockTTL = 30 * time.Second

// Lock says who runs a deploy of an app; the app's Lease records it.
type Lock struct {
	Holder     string    `json:"holder"`
	Host       string    `json:"host"`
	PID        int       `json:"pid"`
	AcquiredAt time.Time `json:"acquiredAt"`
	RenewedAt  time.Time `json:"renewedAt"`
}

// sameRun tells whether two locks were taken by the same deploy run.
func (l Lock) sameRun(o Lock) bool {
	return l.Host == o.Host && l.PID == o.PID && l.AcquiredAt.Equal(o.AcquiredAt)
}

// ExpiresAt is when the lock lapses unless renewed.
func (l Lock) ExpiresAt() time.Time { return l.RenewedAt.Add(LockTTL) }

func (l Lock) who() string {
	holder := l.Holder
	if holder == "" {
		holder = "an unknown user"
	}
	return fmt.Sprintf("%s on host %s (pid %d)", holder, l.Host, l.PID)
}

// LockedError is returned when another deploy holds the controller's lock.
type LockedError struct {
	Kind      string
	Namespace string
	Name      string
	Lock      Lock
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%s %q in namespace %q is being deployed by %s since %s: wait for that deploy to finish, or if it is gone, run deploy again after its lock expires at %s or with --break-lock",
		e.Kind, e.Name, e.Namespace, e.Lock.who(), e.Lock.AcquiredAt.UTC().Format(time.RFC3339), e.Lock.ExpiresAt().UTC().Format(time.RFC3339))
}

// LockLostError is the cause of a run stopped because another deploy took
// its lock (with --break-lock, or after the lock expired).
type LockLostError struct {
	// Name is the app, Namespace where its Lease is.
	Name      string
	Namespace string
	// By is the deploy that took the lock; its zero value when unknown.
	By Lock
	// Released is set when that deploy has finished and freed the lock
	// since.
	Released bool
}

func (e *LockLostError) Error() string {
	by := "another deploy"
	if e.By != (Lock{}) {
		by = e.By.who()
	}
	if e.Released {
		return fmt.Sprintf("the deploy lock of app %q in namespace %q was taken over by %s, which has finished since: this deploy stopped before its next write and leaves the app as that deploy left it; check it with \"kubectl envops status\"",
			e.Name, e.Namespace, by)
	}
	return fmt.Sprintf("the deploy lock of app %q in namespace %q was taken over by %s: this deploy stopped before its next write, and that deploy now owns the update",
		e.Name, e.Namespace, by)
}

// processAlive tells whether a process of this host exists; when that
// cannot be known it says yes, so a lock is never taken over by mistake.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return !errors.Is(err, os.ErrProcessDone) && !errors.Is(err, syscall.ESRCH)
}
