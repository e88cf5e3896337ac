package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/util/retry"

	"github.com/envops/kubectl-envops/pkg/audit"
)

// AnnotationLock, on the controller that carries an update's state, holds
// the JSON Lock of the deploy that runs it, so that a second deploy of the
// same app refuses instead of interleaving its steps.
const AnnotationLock = annotationPrefix + "lock"

// LockTTL is how long a lock stays valid without renewal; the holder renews
// it three times as often, so only a crashed or cut-off holder lets it lapse.
const LockTTL = 30 * time.Second

// Lock says who runs a deploy of a controller.
type Lock struct {
	Holder     string    `json:"holder"`
	Host       string    `json:"host"`
	PID        int       `json:"pid"`
	AcquiredAt time.Time `json:"acquiredAt"`
	RenewedAt  time.Time `json:"renewedAt"`
}

// ParseLock reads the lock from a controller's annotations; nil when there
// is none or it cannot be read (a lock nobody can read protects nothing).
func ParseLock(annotations map[string]string) *Lock {
	s := annotations[AnnotationLock]
	if s == "" {
		return nil
	}
	var l Lock
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil
	}
	return &l
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
	Name string
	By   Lock
}

func (e *LockLostError) Error() string {
	return fmt.Sprintf("the lock on %q was taken by %s, so this deploy stopped and left the update to it", e.Name, e.By.who())
}

// rcLock is one run's lock on the ReplicationControllers of an app. It is
// held on one controller at a time, the one that carries the update's state,
// and renewed there in the background.
type rcLock struct {
	rcs       typedcorev1.ReplicationControllerInterface
	own       Lock
	breakLock bool
	now       func() time.Time
	alive     func(pid int) bool
	every     time.Duration

	mu      sync.Mutex
	carrier string
	stop    chan struct{}
	done    chan struct{}
}

func newRCLock(rcs typedcorev1.ReplicationControllerInterface, holder string, breakLock bool) *rcLock {
	host, _ := os.Hostname()
	return &rcLock{
		rcs:       rcs,
		own:       Lock{Holder: holder, Host: host, PID: os.Getpid()},
		breakLock: breakLock,
		now:       time.Now,
		alive:     processAlive,
		every:     LockTTL / 3,
	}
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

// held tells whether this run holds the lock somewhere.
func (l *rcLock) held() bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.carrier != ""
}

// annotation renders this run's lock, renewed now.
func (l *rcLock) annotation() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.own.AcquiredAt.IsZero() {
		l.own.AcquiredAt = l.now().UTC()
	}
	l.own.RenewedAt = l.now().UTC()
	b, _ := json.Marshal(l.own)
	return string(b)
}

// mayTake decides whether this run may put its lock on rc. taken is the
// lock it replaces when that belonged to another run.
func (l *rcLock) mayTake(rc *corev1.ReplicationController) (taken *Lock, err error) {
	cur := ParseLock(rc.Annotations)
	if cur == nil || cur.sameRun(l.own) {
		return nil, nil
	}
	switch {
	case l.breakLock, !l.now().Before(cur.ExpiresAt()):
		return cur, nil
	case cur.Host == l.own.Host && cur.Holder == l.own.Holder && cur.PID != l.own.PID && !l.alive(cur.PID):
		// The same user's earlier run on this host crashed (kill -9).
		return cur, nil
	}
	return nil, &LockedError{Kind: kindRC, Namespace: rc.Namespace, Name: rc.Name, Lock: *cur}
}

// acquire puts this run's lock on rc with an update guarded by rc's
// resourceVersion, so of two runs that read the same version only one
// wins; the other re-reads and sees the winner's lock.
func (l *rcLock) acquire(ctx context.Context, rc *corev1.ReplicationController) (out *corev1.ReplicationController, taken *Lock, err error) {
	cur := rc
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if cur == nil {
			fresh, err := l.rcs.Get(ctx, rc.Name, metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("cannot read ReplicationController %q: %w", rc.Name, err)
			}
			if fresh.UID != rc.UID {
				return fmt.Errorf("ReplicationController %q was replaced by another object while this deploy started: run deploy again", rc.Name)
			}
			cur = fresh
		}
		if taken, err = l.mayTake(cur); err != nil {
			return err
		}
		up := cur.DeepCopy()
		up.Annotations = withLabel(up.Annotations, AnnotationLock, l.annotation())
		out, err = l.rcs.Update(ctx, up, metav1.UpdateOptions{FieldManager: FieldManager})
		cur = nil
		return err
	})
	if err != nil {
		var le *LockedError
		if errors.As(err, &le) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("cannot lock ReplicationController %q for this deploy: %w", rc.Name, err)
	}
	l.setCarrier(out.Name)
	return out, taken, nil
}

// stamp puts this run's lock on a controller about to be created, so that
// creating it also takes the lock.
func (l *rcLock) stamp(rc *corev1.ReplicationController) {
	rc.Annotations = withLabel(rc.Annotations, AnnotationLock, l.annotation())
}

// setCarrier records which controller holds the lock now.
func (l *rcLock) setCarrier(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.carrier = name
}

func (l *rcLock) carrierName() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.carrier
}

// start renews the lock in the background until release; lost is called
// once when another run has taken it.
func (l *rcLock) start(ctx context.Context, lost func(error)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stop != nil {
		return
	}
	// The goroutine keeps its own channels: release clears the fields.
	stop, done := make(chan struct{}), make(chan struct{})
	l.stop, l.done = stop, done
	go func() {
		defer close(done)
		t := time.NewTicker(l.every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// A failed renewal (the API server is away) is retried at the
			// next tick; the lock lapses only if it stays away.
			var lostErr *LockLostError
			if err := l.renew(ctx); errors.As(err, &lostErr) {
				lost(err)
				return
			}
		}
	}()
}

// renew writes a fresh renewedAt on the carrier; it fails with a
// *LockLostError when another run's lock is there.
func (l *rcLock) renew(ctx context.Context) error {
	name := l.carrierName()
	return l.rewrite(ctx, name, func(rc *corev1.ReplicationController) (bool, error) {
		if other := ParseLock(rc.Annotations); other != nil && !other.sameRun(l.own) {
			return false, &LockLostError{Name: name, By: *other}
		}
		rc.Annotations = withLabel(rc.Annotations, AnnotationLock, l.annotation())
		return true, nil
	})
}

// rewrite applies edit to a fresh copy of the controller name and writes it
// when edit says so, retrying on conflicts. A controller that is gone is
// left alone: while it is renamed, its successor carries the lock.
func (l *rcLock) rewrite(ctx context.Context, name string, edit func(*corev1.ReplicationController) (bool, error)) error {
	if name == "" {
		return nil
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := l.rcs.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		up := cur.DeepCopy()
		if write, err := edit(up); err != nil || !write {
			return err
		}
		_, err = l.rcs.Update(ctx, up, metav1.UpdateOptions{FieldManager: FieldManager})
		return err
	})
}

// release stops the renewal and removes this run's lock from the carrier;
// a lock of another run is left alone.
func (l *rcLock) release(ctx context.Context) error {
	l.mu.Lock()
	stop, done, name := l.stop, l.done, l.carrier
	l.stop, l.carrier = nil, ""
	l.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	return l.rewrite(ctx, name, func(rc *corev1.ReplicationController) (bool, error) {
		if mine := ParseLock(rc.Annotations); mine == nil || !mine.sameRun(l.own) {
			return false, nil
		}
		delete(rc.Annotations, AnnotationLock)
		return true, nil
	})
}

// locked runs fn under the run's lock, if fn takes one, and releases it at
// the end: done, failed, rolled back or interrupted.
func (r *rcRun) locked(ctx context.Context, fn func(context.Context) (Result, error)) (Result, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r.lost = cancel
	res, err := fn(ctx)
	if r.lk.held() {
		// Released even after Ctrl-C, so an interrupted run leaves no lock.
		rctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer stop()
		if rerr := r.lk.release(rctx); rerr != nil {
			r.emit(Event{Type: EventNotice, Message: fmt.Sprintf("could not remove the deploy lock from %s (%v); it expires by itself within %s", r.name, rerr, LockTTL)})
		}
	}
	var lost *LockLostError
	if err != nil && errors.As(context.Cause(ctx), &lost) {
		return Result{}, &FailedError{Kind: kindRC, Name: r.name, Err: lost}
	}
	return res, err
}

// ensureLock prepares the run's lock, learning who the user is.
func (r *rcRun) ensureLock(ctx context.Context) error {
	if r.lk != nil {
		return nil
	}
	holder := r.o.Holder
	if holder == "" {
		// An unknown holder still locks; it is only shown as unknown.
		holder, _ = audit.WhoAmI(ctx, r.Client)
	}
	r.lk = newRCLock(r.Client.CoreV1().ReplicationControllers(r.Namespace), holder, r.o.BreakLock)
	return nil
}

// lock takes the lock on rc, the controller that carries the update's
// state, and returns rc as locked.
func (r *rcRun) lock(ctx context.Context, rc *corev1.ReplicationController) (*corev1.ReplicationController, error) {
	if err := r.ensureLock(ctx); err != nil {
		return nil, err
	}
	out, taken, err := r.lk.acquire(ctx, rc)
	if err != nil {
		return nil, err
	}
	if taken != nil {
		why := "its process is gone"
		switch {
		case !r.lk.now().Before(taken.ExpiresAt()):
			why = "it expired"
		case r.o.BreakLock:
			why = "--break-lock"
		}
		r.emit(Event{Type: EventNotice, Message: fmt.Sprintf("took over the deploy lock of %s held by %s since %s: %s", rc.Name, taken.who(), taken.AcquiredAt.UTC().Format(time.RFC3339), why)})
	}
	r.holdOn(ctx, out.Name)
	return out, nil
}

// holdOn records that the lock is on the named controller and keeps it
// renewed there.
func (r *rcRun) holdOn(ctx context.Context, name string) {
	r.lk.setCarrier(name)
	r.lk.start(ctx, func(err error) {
		if r.lost != nil {
			r.lost(err)
		}
	})
}

// moveLock puts the lock on next before the controller that holds it now
// is deleted.
func (r *rcRun) moveLock(ctx context.Context, next *corev1.ReplicationController) (*corev1.ReplicationController, error) {
	if !r.lk.held() {
		return next, nil
	}
	out, _, err := r.lk.acquire(ctx, next)
	return out, err
}
