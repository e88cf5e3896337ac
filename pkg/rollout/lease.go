package rollout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/util/retry"
)

// AnnotationLeaseHolder, on a deploy Lease, holds the JSON Lock of the
// deploy that holds it. The Lease's holderIdentity is for people; this is
// what a later deploy reads back to tell whether the holder's process is
// still alive.
const AnnotationLeaseHolder = annotationPrefix + "lock-holder"

// AnnotationLeaseLastHolder, on a freed deploy Lease, holds the JSON Lock of
// the deploy that freed it: a deploy whose lock was taken over by one that
// has finished since still learns who that was.
const AnnotationLeaseLastHolder = annotationPrefix + "lock-last-holder"

// leaseNamePrefix starts the name of every deploy Lease.
const leaseNamePrefix = "envops-deploy-"

// LeaseName is the Lease of an app's deploy lock: "envops-deploy-" + app
// (kept a valid name for any app name).
func LeaseName(app string) string {
	name := leaseNamePrefix + app
	if len(validation.IsDNS1123Subdomain(name)) == 0 {
		return name
	}
	// Not a valid object name: keep what is readable of the app and add a
	// hash of it, so that two apps never share a lock.
	sum := sha256.Sum256([]byte(app))
	suffix := hex.EncodeToString(sum[:8])
	clean := []byte(strings.ToLower(app))
	for i, c := range clean {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			clean[i] = '-'
		}
	}
	readable := strings.Trim(string(clean), "-")
	if room := validation.DNS1123SubdomainMaxLength - len(leaseNamePrefix) - len(suffix) - 1; len(readable) > room {
		readable = strings.TrimRight(readable[:room], "-")
	}
	if readable == "" {
		return leaseNamePrefix + suffix
	}
	return leaseNamePrefix + readable + "-" + suffix
}

// lockEnv is what a deploy lock learns from the machine it runs on.
type lockEnv struct {
	now func() time.Time
	// ticks starts the renewal ticks and returns them with their stop.
	ticks func(every time.Duration) (<-chan time.Time, func())
	alive func(pid int) bool
	host  string
	pid   int
}

func hostLockEnv() lockEnv {
	host, _ := os.Hostname()
	return lockEnv{
		now: time.Now,
		ticks: func(every time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(every)
			return t.C, t.Stop
		},
		alive: processAlive,
		host:  host,
		pid:   os.Getpid(),
	}
}

// DeployLock is one deploy's hold on the Lease of an app: while it is held,
// no other deploy of the app, of a ReplicationController or a Deployment,
// changes anything.
type DeployLock struct {
	app, namespace string
	breakLock      bool
	env            lockEnv
	own            Lock
	leases         *holderLeases
	lease          *resourcelock.LeaseLock

	takenFrom *Lock
	takenWhy  string
	// transitions is the Lease's count of holders as this run left it:
	// when it grows, another deploy took the lock, even if it has freed
	// it since.
	transitions atomic.Int64

	ctx    context.Context
	cancel context.CancelCauseFunc
	stop   chan struct{}
	done   chan struct{}

	mu       sync.Mutex
	released bool
}

// AcquireDeployLock takes the app's lock in namespace for holder (the user
// name), or returns *LockedError naming the live holder.
// The returned context is ctx, cancelled with cause *LockLostError when
// another deploy takes the lock; the lock is renewed in the background
// (every LockTTL/3). On error the context returned is ctx itself.
func AcquireDeployLock(ctx context.Context, client kubernetes.Interface, namespace, app, holder string, breakLock bool) (*DeployLock, context.Context, error) {
	return acquireDeployLock(ctx, client, namespace, app, holder, breakLock, hostLockEnv())
}

func acquireDeployLock(ctx context.Context, client kubernetes.Interface, namespace, app, holder string, breakLock bool, env lockEnv) (*DeployLock, context.Context, error) {
	// The Lease keeps microseconds: a run compares its own acquire time
	// with what it reads back.
	now := env.now().UTC().Truncate(time.Microsecond)
	own := Lock{Holder: holder, Host: env.host, PID: env.pid, AcquiredAt: now, RenewedAt: now}
	leases := &holderLeases{LeaseInterface: client.CoordinationV1().Leases(namespace), own: own, identity: own.who()}
	l := &DeployLock{
		app:       app,
		namespace: namespace,
		breakLock: breakLock,
		env:       env,
		own:       own,
		leases:    leases,
		lease: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: namespace, Name: LeaseName(app)},
			Client:     leases,
			LockConfig: resourcelock.ResourceLockConfig{Identity: own.who()},
		},
	}
	if err := l.acquire(ctx); err != nil {
		return nil, ctx, err
	}
	ticks, stopTicks := env.ticks(LockTTL / 3)
	lctx, cancel := context.WithCancelCause(ctx)
	// The writes made under this context find the lock there, to fence
	// each of them (see Fence).
	lctx = context.WithValue(lctx, locksKey{}, append(slices.Clip(locksOf(ctx)), l))
	l.ctx, l.cancel = lctx, cancel
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.keep(lctx, ticks, stopTicks)
	return l, lctx, nil
}

// locksKey is the key of the deploy locks held by a context's deploy.
type locksKey struct{}

// locksOf returns the deploy locks ctx was given by AcquireDeployLock.
func locksOf(ctx context.Context) []*DeployLock {
	locks, _ := ctx.Value(locksKey{}).([]*DeployLock)
	return locks
}

// fence checks, before a write to namespace, that this deploy still holds
// the lock it took there (when it took one): see Fence.
func fence(ctx context.Context, namespace string) error {
	for _, l := range locksOf(ctx) {
		if l.namespace == namespace {
			return l.Fence(ctx)
		}
	}
	return nil
}

// Fence reads the Lease and fails with *LockLostError, ending the lock's
// context with it, when another deploy holds the lock now: a deploy whose
// lock was taken over (--break-lock) stops before its next write instead
// of acting on until its next renewal. A Lease freed or deleted by hand is
// held by nobody else, and passes. A Lease that cannot be read fails the
// write: whether this deploy still holds it is unknown.
func (l *DeployLock) Fence(ctx context.Context) error {
	var lost *LockLostError
	if errors.As(context.Cause(l.ctx), &lost) {
		return lost
	}
	// The client directly, not the LeaseLock: the renewal loop uses that
	// one concurrently.
	lease, err := l.leases.LeaseInterface.Get(ctx, l.lease.LeaseMeta.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("cannot check the deploy lock of app %q (Lease %q in namespace %q) before writing: %w", l.app, l.lease.LeaseMeta.Name, l.namespace, err)
	}
	if lost = l.lostTo(lease); lost != nil {
		l.cancel(lost)
		return lost
	}
	return nil
}

// lostTo tells whether another deploy holds lease, or held it since this
// run last wrote it (its count of holders grew); nil when this run still
// holds it, or when it was freed or deleted by hand.
func (l *DeployLock) lostTo(lease *coordinationv1.Lease) *LockLostError {
	if lease == nil {
		return nil
	}
	if cur := leaseHolder(lease); cur != nil {
		if cur.sameRun(l.own) {
			return nil
		}
		return &LockLostError{Name: l.app, Namespace: l.namespace, By: *cur}
	}
	rec := resourcelock.LeaseSpecToLeaderElectionRecord(&lease.Spec)
	if int64(rec.LeaderTransitions) == l.transitions.Load() {
		return nil
	}
	lost := &LockLostError{Name: l.app, Namespace: l.namespace, Released: true}
	var last Lock
	if err := json.Unmarshal([]byte(lease.Annotations[AnnotationLeaseLastHolder]), &last); err == nil && !last.sameRun(l.own) {
		lost.By = last
	}
	return lost
}

// TakenOver tells whose lock this deploy took over, and why ("it expired",
// "its process is gone" or "--break-lock"); nil when the lock was free.
func (l *DeployLock) TakenOver() (*Lock, string) {
	if l == nil || l.takenFrom == nil {
		return nil, ""
	}
	taken := *l.takenFrom
	return &taken, l.takenWhy
}

// record is the Lease spec of this run, renewed at now.
func (l *DeployLock) record(now time.Time, transitions int) resourcelock.LeaderElectionRecord {
	return resourcelock.LeaderElectionRecord{
		HolderIdentity:       l.own.who(),
		LeaseDurationSeconds: int(LockTTL / time.Second),
		AcquireTime:          metav1.NewTime(l.own.AcquiredAt),
		RenewTime:            metav1.NewTime(now.UTC().Truncate(time.Microsecond)),
		LeaderTransitions:    transitions,
	}
}

// acquire writes this run's record on the Lease, creating it if need be.
// Writes are guarded by the Lease's resourceVersion (create by its name):
// of two runs that read the same version only one wins, the other reads
// again and sees the winner.
func (l *DeployLock) acquire(ctx context.Context) error {
	retriable := func(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }
	err := retry.OnError(retry.DefaultRetry, retriable, func() error {
		l.takenFrom, l.takenWhy = nil, ""
		rec, now, created, err := l.read(ctx)
		if created || err != nil {
			return err
		}
		cur := l.leases.holder()
		why, err := l.mayTake(cur, now)
		if err != nil {
			return err
		}
		transitions := rec.LeaderTransitions
		if cur == nil || !cur.sameRun(l.own) {
			transitions++
		}
		if err := l.lease.Update(ctx, l.record(now, transitions)); err != nil {
			return err
		}
		l.transitions.Store(int64(transitions))
		if why != "" {
			l.takenFrom, l.takenWhy = cur, why
		}
		return nil
	})
	var locked *LockedError
	if err != nil && !errors.As(err, &locked) {
		return fmt.Errorf("cannot take the deploy lock of app %q (Lease %q in namespace %q): %w", l.app, l.lease.LeaseMeta.Name, l.namespace, err)
	}
	return err
}

// read returns the Lease's record as it is now, and the time; a Lease
// that is gone is created held by this run, and created says so.
func (l *DeployLock) read(ctx context.Context) (rec *resourcelock.LeaderElectionRecord, now time.Time, created bool, err error) {
	rec, _, err = l.lease.Get(ctx)
	now = l.env.now()
	if apierrors.IsNotFound(err) {
		l.transitions.Store(0)
		return nil, now, true, l.lease.Create(ctx, l.record(now, 0))
	}
	return rec, now, false, err
}

// mayTake decides whether this run may take the lock held by cur (nil when
// free), and if it takes it from another run, why.
func (l *DeployLock) mayTake(cur *Lock, now time.Time) (why string, err error) {
	if cur == nil || cur.sameRun(l.own) {
		return "", nil
	}
	switch {
	case !now.Before(cur.ExpiresAt()):
		return "it expired", nil
	case l.breakLock:
		return "--break-lock", nil
	case cur.Host == l.own.Host && cur.Holder == l.own.Holder && cur.PID > 0 && cur.PID != l.own.PID && !l.env.alive(cur.PID):
		// The same user's earlier deploy on this host was killed.
		return "its process is gone", nil
	}
	return "", &LockedError{Kind: "app", Namespace: l.namespace, Name: l.app, Lock: *cur}
}

// keep renews the lock at each tick until Release, the end of ctx, or the
// loss of the lock, which cancels ctx with its cause.
func (l *DeployLock) keep(ctx context.Context, ticks <-chan time.Time, stopTicks func()) {
	defer close(l.done)
	defer stopTicks()
	for {
		select {
		case <-l.stop:
			return
		case <-ctx.Done():
			return
		case <-ticks:
		}
		// A failed renewal (the API server is away) is retried at the next
		// tick; the lock lapses only if it stays away for LockTTL.
		var lost *LockLostError
		if err := l.renew(ctx); errors.As(err, &lost) {
			l.cancel(lost)
			return
		}
	}
}

// renew writes a fresh renew time; it fails with *LockLostError when
// another run holds the Lease. A Lease deleted or freed by hand is taken
// again: nobody else held it.
func (l *DeployLock) renew(ctx context.Context) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		rec, now, created, err := l.read(ctx)
		if created || err != nil {
			return err
		}
		if lost := l.lostTo(l.leases.last); lost != nil {
			return lost
		}
		return l.lease.Update(ctx, l.record(now, rec.LeaderTransitions))
	})
}

// Release stops the renewal and frees the lease (holder cleared, as leader
// election's ReleaseOnCancel does); safe to call twice and on nil.
// A Lease another deploy has taken is left alone. It then cancels the
// context AcquireDeployLock returned; ctx should outlive an interrupted
// deploy (context.WithoutCancel), so that Ctrl-C leaves no lock behind.
func (l *DeployLock) Release(ctx context.Context) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	l.released = true
	close(l.stop)
	<-l.done
	defer l.cancel(nil)
	var lost *LockLostError
	if errors.As(context.Cause(l.ctx), &lost) {
		// Another deploy holds the Lease now.
		return nil
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		rec, _, err := l.lease.Get(ctx)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if cur := l.leases.holder(); cur == nil || !cur.sameRun(l.own) {
			return nil
		}
		now := metav1.NewTime(l.env.now().UTC().Truncate(time.Microsecond))
		return l.lease.Update(ctx, resourcelock.LeaderElectionRecord{
			LeaseDurationSeconds: 1,
			AcquireTime:          now,
			RenewTime:            now,
			LeaderTransitions:    rec.LeaderTransitions,
		})
	})
	if err != nil {
		return fmt.Errorf("cannot free the deploy lock of app %q (Lease %q in namespace %q), it expires by itself within %s: %w", l.app, l.lease.LeaseMeta.Name, l.namespace, LockTTL, err)
	}
	return nil
}

// holderLeases is the client LeaseLock goes through. LeaseLock writes only
// a Lease's spec; this puts the holder's Lock in an annotation with each
// write, and keeps the last Lease read or written, whose annotation says
// who holds it.
type holderLeases struct {
	coordinationv1client.LeaseInterface
	own      Lock
	identity string
	last     *coordinationv1.Lease
}

// Leases serves the one namespace holderLeases was made for.
func (h *holderLeases) Leases(string) coordinationv1client.LeaseInterface { return h }

func (h *holderLeases) Get(ctx context.Context, name string, opts metav1.GetOptions) (*coordinationv1.Lease, error) {
	lease, err := h.LeaseInterface.Get(ctx, name, opts)
	h.last = lease
	if err != nil {
		h.last = nil
	}
	return lease, err
}

func (h *holderLeases) Create(ctx context.Context, lease *coordinationv1.Lease, opts metav1.CreateOptions) (*coordinationv1.Lease, error) {
	opts.FieldManager = FieldManager
	return h.keep(h.LeaseInterface.Create(ctx, h.stamp(lease), opts))
}

func (h *holderLeases) Update(ctx context.Context, lease *coordinationv1.Lease, opts metav1.UpdateOptions) (*coordinationv1.Lease, error) {
	opts.FieldManager = FieldManager
	return h.keep(h.LeaseInterface.Update(ctx, h.stamp(lease), opts))
}

// keep remembers the Lease the server returned from a write.
func (h *holderLeases) keep(out *coordinationv1.Lease, err error) (*coordinationv1.Lease, error) {
	if err == nil {
		h.last = out
	}
	return out, err
}

// stamp returns a copy of lease annotated with this run's Lock when the
// lease names this run as holder, and without any Lock otherwise.
func (h *holderLeases) stamp(lease *coordinationv1.Lease) *coordinationv1.Lease {
	lease = lease.DeepCopy()
	rec := resourcelock.LeaseSpecToLeaderElectionRecord(&lease.Spec)
	if rec.HolderIdentity != h.identity {
		delete(lease.Annotations, AnnotationLeaseHolder)
		// This run frees the Lease: say who held it last.
		if b, err := json.Marshal(h.own); err == nil {
			if lease.Annotations == nil {
				lease.Annotations = map[string]string{}
			}
			lease.Annotations[AnnotationLeaseLastHolder] = string(b)
		}
		return lease
	}
	own := h.own
	own.AcquiredAt, own.RenewedAt = rec.AcquireTime.UTC(), rec.RenewTime.UTC()
	b, _ := json.Marshal(own)
	if lease.Annotations == nil {
		lease.Annotations = map[string]string{}
	}
	lease.Annotations[AnnotationLeaseHolder] = string(b)
	return lease
}

// holder is the Lock of the last Lease seen; nil when nobody holds it.
func (h *holderLeases) holder() *Lock {
	if h.last == nil {
		return nil
	}
	return leaseHolder(h.last)
}

// leaseHolder reads who holds a Lease; nil when nobody does. Its times are
// the Lease's own.
func leaseHolder(lease *coordinationv1.Lease) *Lock {
	rec := resourcelock.LeaseSpecToLeaderElectionRecord(&lease.Spec)
	if rec.HolderIdentity == "" {
		return nil
	}
	var l Lock
	if err := json.Unmarshal([]byte(lease.Annotations[AnnotationLeaseHolder]), &l); err != nil || l.who() != rec.HolderIdentity {
		// Written by something other than a deploy: known only by name,
		// and never taken for a process of this host.
		l = Lock{Holder: rec.HolderIdentity, Host: "unknown"}
	}
	l.AcquiredAt, l.RenewedAt = rec.AcquireTime.UTC(), rec.RenewTime.UTC()
	return &l
}
