package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes/fake"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	k8stesting "k8s.io/client-go/testing"
)

var leaseT0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// leaseClock is the time every deploy of a test reads; the test moves it.
type leaseClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *leaseClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *leaseClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// leaseRun is one deploy process: its host and pid, the pids of its host
// that are gone, and renewal ticks the test sends by hand.
type leaseRun struct {
	env     lockEnv
	tick    chan time.Time
	every   time.Duration
	stopped chan struct{}
}

func newLeaseRun(clock *leaseClock, host string, pid int, dead ...int) *leaseRun {
	r := &leaseRun{tick: make(chan time.Time), stopped: make(chan struct{})}
	r.env = lockEnv{
		now: clock.now,
		ticks: func(every time.Duration) (<-chan time.Time, func()) {
			r.every = every
			return r.tick, func() { close(r.stopped) }
		},
		alive: func(pid int) bool { return !slices.Contains(dead, pid) },
		host:  host,
		pid:   pid,
	}
	return r
}

// renew has the run renew its lock once and returns when it is done: the
// loop takes a tick only after it finished with the one before.
func (r *leaseRun) renew(t *testing.T) {
	t.Helper()
	for range 2 {
		select {
		case r.tick <- time.Time{}:
		case <-time.After(10 * time.Second):
			t.Fatal("the renewal loop no longer takes ticks")
		}
	}
}

// leaseFake is a fake clientset whose Lease writes honour resourceVersion
// as the API server does; the plain fake accepts any, which would hide a
// lost race.
func leaseFake(objs ...runtime.Object) *fake.Clientset {
	cs := fake.NewClientset(objs...)
	gvr := coordinationv1.SchemeGroupVersion.WithResource("leases")
	var mu sync.Mutex
	cs.PrependReactor("create", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		lease := a.(k8stesting.CreateAction).GetObject().(*coordinationv1.Lease).DeepCopy()
		lease.ResourceVersion = "1"
		if err := cs.Tracker().Create(gvr, lease, a.GetNamespace()); err != nil {
			return true, nil, err
		}
		return true, lease, nil
	})
	cs.PrependReactor("update", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		up := a.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease).DeepCopy()
		cur, err := cs.Tracker().Get(gvr, a.GetNamespace(), up.Name)
		if err != nil {
			return true, nil, err
		}
		if rv := cur.(*coordinationv1.Lease).ResourceVersion; up.ResourceVersion != rv {
			return true, nil, apierrors.NewConflict(gvr.GroupResource(), up.Name, errors.New("the object has been modified"))
		}
		n, _ := strconv.Atoi(up.ResourceVersion)
		up.ResourceVersion = strconv.Itoa(n + 1)
		if err := cs.Tracker().Update(gvr, up, a.GetNamespace()); err != nil {
			return true, nil, err
		}
		return true, up, nil
	})
	return cs
}

func getLease(t *testing.T, cs *fake.Clientset) *coordinationv1.Lease {
	t.Helper()
	lease, err := cs.Tracker().Get(coordinationv1.SchemeGroupVersion.WithResource("leases"), "shop", "envops-deploy-web")
	if err != nil {
		t.Fatal(err)
	}
	return lease.(*coordinationv1.Lease)
}

func leaseHolderIdentity(lease *coordinationv1.Lease) string {
	if lease.Spec.HolderIdentity == nil {
		return "<nil>"
	}
	return *lease.Spec.HolderIdentity
}

func leaseDuration(lease *coordinationv1.Lease) int32 {
	if lease.Spec.LeaseDurationSeconds == nil {
		return 0
	}
	return *lease.Spec.LeaseDurationSeconds
}

// holderOf reads the Lease as a later deploy would: its holderIdentity and
// the Lock in its annotation.
func holderOf(t *testing.T, cs *fake.Clientset) (identity string, lock *Lock) {
	t.Helper()
	lease := getLease(t, cs)
	if s := lease.Annotations[AnnotationLeaseHolder]; s != "" {
		lock = &Lock{}
		if err := json.Unmarshal([]byte(s), lock); err != nil {
			t.Fatalf("annotation %s: %v", AnnotationLeaseHolder, err)
		}
	}
	return leaseHolderIdentity(lease), lock
}

// hold acquires the app's lock for a deploy the test leaves running.
func hold(t *testing.T, cs *fake.Clientset, r *leaseRun, holder string, breakLock bool) (*DeployLock, context.Context) {
	t.Helper()
	lk, ctx, err := acquireDeployLock(t.Context(), cs, "shop", "web", holder, breakLock, r.env)
	if err != nil {
		t.Fatalf("%s cannot take the lock: %v", holder, err)
	}
	t.Cleanup(func() { _ = lk.Release(context.Background()) })
	return lk, ctx
}

func TestLeaseName(t *testing.T) {
	long := strings.Repeat("a", 300)
	for _, app := range []string{"web", "a.b", "Web", "web_api", "", "-", "ünïcode", long, long + "b"} {
		name := LeaseName(app)
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			t.Errorf("LeaseName(%q) = %q: %v", app, name, errs)
		}
		if !strings.HasPrefix(name, "envops-deploy-") {
			t.Errorf("LeaseName(%q) = %q", app, name)
		}
	}
	if got := LeaseName("web"); got != "envops-deploy-web" {
		t.Errorf("LeaseName(web) = %q", got)
	}
	if LeaseName("Web") == LeaseName("web") || LeaseName("web_api") == LeaseName("web-api") || LeaseName(long) == LeaseName(long+"b") {
		t.Error("two apps share a lease")
	}
}

func TestLeaseAcquire(t *testing.T) {
	tests := []struct {
		name string
		// prior runs before alice (pid 42 on host h, where pid 41 is gone)
		// takes the lock, with the clock at leaseT0.
		prior     func(t *testing.T, cs *fake.Clientset, clock *leaseClock)
		breakLock bool
		wantErr   string // the LockedError, when alice is refused
		wantTaken string // whose lock alice took over, and why
	}{
		{name: "an app never deployed: the lease is created"},
		{name: "a lease freed by the deploy before is taken",
			prior: func(t *testing.T, cs *fake.Clientset, clock *leaseClock) {
				lk, _ := hold(t, cs, newLeaseRun(clock, "h2", 7), "bob", false)
				if err := lk.Release(t.Context()); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "another user's live deploy refuses",
			prior: func(t *testing.T, cs *fake.Clientset, clock *leaseClock) {
				hold(t, cs, newLeaseRun(clock, "h2", 7), "bob", false)
				clock.add(5 * time.Second)
			},
			wantErr: `app "web" in namespace "shop" is being deployed by bob on host h2 (pid 7) since 2026-05-01T12:00:00Z: wait for that deploy to finish, or if it is gone, run deploy again after its lock expires at 2026-05-01T12:00:30Z or with --break-lock`},
		{name: "the same user's live deploy on this host refuses",
			prior: func(t *testing.T, cs *fake.Clientset, clock *leaseClock) {
				hold(t, cs, newLeaseRun(clock, "h", 40), "alice", false)
			},
			wantErr: `app "web" in namespace "shop" is being deployed by alice on host h (pid 40) since 2026-05-01T12:00:00Z`},
		{name: "a lease not renewed for 29s refuses",
			prior: func(t *testing.T, cs *fake.Clientset, clock *leaseClock) {
				hold(t, cs, newLeaseRun(clock, "h2", 7), "bob", false)
				clock.add(29 * time.Second)
			},
			wantErr: `app "web" in namespace "shop" is being deployed by bob on host h2 (pid 7)`},
		{name: "a lease not renewed for LockTTL is taken",
			prior: func(t *testing.T, cs *fake.Clientset, clock *leaseClock) {
				hold(t, cs, newLeaseRun(clock, "h2", 7), "bob", false)
				clock.add(LockTTL)
			},
			wantTaken: "bob on host h2 (pid 7): it expired"},
		{name: "the same user's killed deploy on this host is taken at once",
			prior: func(t *testing.T, cs *fake.Clientset, clock *leaseClock) {
				hold(t, cs, newLeaseRun(clock, "h", 41), "alice", false)
				clock.add(time.Second)
			},
			wantTaken: "alice on host h (pid 41): its process is gone"},
		{name: "another user's killed deploy on this host waits for expiry",
			prior: func(t *testing.T, cs *fake.Clientset, clock *leaseClock) {
				hold(t, cs, newLeaseRun(clock, "h", 41), "bob", false)
			},
			wantErr: `app "web" in namespace "shop" is being deployed by bob on host h (pid 41)`},
		{name: "a deploy of another host is never judged by a local pid",
			prior: func(t *testing.T, cs *fake.Clientset, clock *leaseClock) {
				hold(t, cs, newLeaseRun(clock, "h2", 41), "alice", false)
			},
			wantErr: `app "web" in namespace "shop" is being deployed by alice on host h2 (pid 41)`},
		{name: "--break-lock takes a live lock", breakLock: true,
			prior: func(t *testing.T, cs *fake.Clientset, clock *leaseClock) {
				hold(t, cs, newLeaseRun(clock, "h2", 7), "bob", false)
			},
			wantTaken: "bob on host h2 (pid 7): --break-lock"},
		{name: "a lease written by another tool refuses by its holder's name",
			prior: func(t *testing.T, cs *fake.Clientset, clock *leaseClock) {
				opsScript := "ops-script"
				lease := &coordinationv1.Lease{
					ObjectMeta: metav1.ObjectMeta{Name: "envops-deploy-web", Namespace: "shop", ResourceVersion: "1"},
					Spec: coordinationv1.LeaseSpec{
						HolderIdentity: &opsScript,
						AcquireTime:    &metav1.MicroTime{Time: clock.now()},
						RenewTime:      &metav1.MicroTime{Time: clock.now()},
					},
				}
				if err := cs.Tracker().Add(lease); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: `app "web" in namespace "shop" is being deployed by ops-script on host unknown (pid 0) since 2026-05-01T12:00:00Z`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := leaseFake()
			clock := &leaseClock{t: leaseT0}
			if tt.prior != nil {
				tt.prior(t, cs, clock)
			}
			var before *coordinationv1.Lease
			if tt.wantErr != "" {
				before = getLease(t, cs)
			}
			cs.ClearActions()

			lk, ctx, err := acquireDeployLock(t.Context(), cs, "shop", "web", "alice", tt.breakLock, newLeaseRun(clock, "h", 42, 41).env)
			if tt.wantErr != "" {
				var locked *LockedError
				if !errors.As(err, &locked) || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("got  %v\nwant %s", err, tt.wantErr)
				}
				if ctx != t.Context() {
					t.Error("a refused deploy gets another context")
				}
				if after := getLease(t, cs); after.ResourceVersion != before.ResourceVersion {
					t.Errorf("a refused deploy changed the lease: %+v", after.Spec)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = lk.Release(context.Background()) })
			if ctx.Err() != nil {
				t.Fatalf("the lock's context is done: %v", context.Cause(ctx))
			}
			identity, own := holderOf(t, cs)
			if identity != "alice on host h (pid 42)" {
				t.Errorf("holderIdentity %q", identity)
			}
			want := Lock{Holder: "alice", Host: "h", PID: 42, AcquiredAt: clock.now(), RenewedAt: clock.now()}
			if own == nil || *own != want {
				t.Errorf("annotation %+v, want %+v", own, want)
			}
			lease := getLease(t, cs)
			if d := leaseDuration(lease); d != 30 {
				t.Errorf("leaseDurationSeconds %d", d)
			}
			if !lease.Spec.RenewTime.Time.Equal(clock.now()) {
				t.Errorf("renewTime %v, want %v", lease.Spec.RenewTime, clock.now())
			}
			taken, why := lk.TakenOver()
			got := ""
			if taken != nil {
				got = taken.who() + ": " + why
			}
			if got != tt.wantTaken {
				t.Errorf("took over %q, want %q", got, tt.wantTaken)
			}
			for _, a := range cs.Actions() {
				var fm string
				switch a := a.(type) {
				case k8stesting.CreateActionImpl:
					fm = a.GetCreateOptions().FieldManager
				case k8stesting.UpdateActionImpl:
					fm = a.GetUpdateOptions().FieldManager
				default:
					continue
				}
				if fm != FieldManager {
					t.Errorf("%s %s with field manager %q", a.GetVerb(), a.GetResource().Resource, fm)
				}
			}
		})
	}
}

// Two deploys that read the same state of the lease: one wins, the other
// reads again and is refused, naming the winner.
func TestLeaseTwoTakersOfTheSameVersion(t *testing.T) {
	tests := []struct {
		name  string
		prior bool // an expired lease is there, so both update it
	}{
		{name: "both create the lease"},
		{name: "both take over an expired lease", prior: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := leaseFake()
			clock := &leaseClock{t: leaseT0}
			if tt.prior {
				hold(t, cs, newLeaseRun(clock, "h3", 9), "carol", false)
				clock.add(time.Minute)
			}
			client := &meetingClient{Clientset: cs}
			client.both.Add(2)
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, who := range []string{"alice", "bob"} {
				wg.Go(func() {
					var lk *DeployLock
					lk, _, errs[i] = acquireDeployLock(t.Context(), client, "shop", "web", who, false, newLeaseRun(clock, "h", 100+i).env)
					t.Cleanup(func() { _ = lk.Release(context.Background()) })
				})
			}
			wg.Wait()
			winner, _ := holderOf(t, cs)
			var locked *LockedError
			switch {
			case errs[0] == nil && errors.As(errs[1], &locked), errs[1] == nil && errors.As(errs[0], &locked):
				if locked.Lock.who() != winner {
					t.Errorf("the loser names %s, the lease %s", locked.Lock.who(), winner)
				}
			default:
				t.Fatalf("want one winner and one LockedError, got %v and %v", errs[0], errs[1])
			}
		})
	}
}

// meetingClient has the first two Lease reads wait for each other once
// both have read, so that two deploys see the same version. (A reactor
// cannot: the fake runs them one at a time.)
type meetingClient struct {
	*fake.Clientset
	reads atomic.Int32
	both  sync.WaitGroup
}

func (m *meetingClient) CoordinationV1() coordinationv1client.CoordinationV1Interface {
	return meetingCoordination{m.Clientset.CoordinationV1(), m}
}

type meetingCoordination struct {
	coordinationv1client.CoordinationV1Interface
	m *meetingClient
}

func (c meetingCoordination) Leases(namespace string) coordinationv1client.LeaseInterface {
	return meetingLeases{c.CoordinationV1Interface.Leases(namespace), c.m}
}

type meetingLeases struct {
	coordinationv1client.LeaseInterface
	m *meetingClient
}

func (l meetingLeases) Get(ctx context.Context, name string, opts metav1.GetOptions) (*coordinationv1.Lease, error) {
	lease, err := l.LeaseInterface.Get(ctx, name, opts)
	if l.m.reads.Add(1) <= 2 {
		l.m.both.Done()
		l.m.both.Wait()
	}
	return lease, err
}

func TestLeaseRenewal(t *testing.T) {
	cs := leaseFake()
	clock := &leaseClock{t: leaseT0}
	alice := newLeaseRun(clock, "h", 42)
	_, ctx := hold(t, cs, alice, "alice", false)
	if alice.every != LockTTL/3 {
		t.Errorf("renews every %s, want %s", alice.every, LockTTL/3)
	}
	cs.ClearActions()
	fail := atomic.Bool{}
	cs.PrependReactor("update", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		if fail.Swap(false) {
			return true, nil, apierrors.NewServiceUnavailable("the API server is restarting")
		}
		return false, nil, nil
	})
	for i := range 4 {
		clock.add(LockTTL / 3)
		// One renewal fails; the lock keeps until the next one.
		fail.Store(i == 1)
		alice.renew(t)
		lease := getLease(t, cs)
		if got := lease.Spec.RenewTime.Time; i != 1 && !got.Equal(clock.now()) {
			t.Errorf("after renewal %d renewTime is %v, want %v", i, got, clock.now())
		}
		if _, own := holderOf(t, cs); own == nil || !own.AcquiredAt.Equal(leaseT0) || !own.RenewedAt.Equal(lease.Spec.RenewTime.Time) {
			t.Errorf("after renewal %d the annotation says %+v", i, own)
		}
		if ctx.Err() != nil {
			t.Fatalf("renewal %d ended the deploy: %v", i, context.Cause(ctx))
		}
	}
	// 40s after alice started, her lock still holds.
	_, _, err := acquireDeployLock(t.Context(), cs, "shop", "web", "bob", false, newLeaseRun(clock, "h2", 7).env)
	var locked *LockedError
	if !errors.As(err, &locked) {
		t.Errorf("bob took a renewed lock: %v", err)
	}
	for _, a := range cs.Actions() {
		if a.GetResource().Resource != "leases" {
			t.Errorf("a renewal touched %s", a.GetResource().Resource)
		}
	}
}

func TestLeaseLostCancelsTheContext(t *testing.T) {
	cs := leaseFake()
	clock := &leaseClock{t: leaseT0}
	alice := newLeaseRun(clock, "h", 42)
	parent, stopParent := context.WithCancel(t.Context())
	defer stopParent()
	lk, ctx, err := acquireDeployLock(parent, cs, "shop", "web", "alice", false, alice.env)
	if err != nil {
		t.Fatal(err)
	}
	hold(t, cs, newLeaseRun(clock, "h2", 7), "bob", true)

	select {
	case alice.tick <- time.Time{}:
	case <-time.After(10 * time.Second):
		t.Fatal("the renewal loop does not take its tick")
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("losing the lease did not end the deploy")
	}
	var lost *LockLostError
	if !errors.As(context.Cause(ctx), &lost) {
		t.Fatalf("cause %v, want a LockLostError", context.Cause(ctx))
	}
	if want := `the deploy lock of app "web" in namespace "shop" was taken over by bob on host h2 (pid 7): this deploy stopped before its next write, and that deploy now owns the update`; lost.Error() != want {
		t.Errorf("got  %s\nwant %s", lost, want)
	}
	if parent.Err() != nil {
		t.Error("the caller's context was cancelled")
	}
	<-alice.stopped
	cs.ClearActions()
	// Released with the context of the lock, as a caller might.
	if err := lk.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if len(cs.Actions()) != 0 {
		t.Errorf("the release of a lost lock called the API: %v", cs.Actions())
	}
	if identity, _ := holderOf(t, cs); identity != "bob on host h2 (pid 7)" {
		t.Errorf("alice's release left the lease to %q", identity)
	}
}

func TestLeaseRelease(t *testing.T) {
	tests := []struct {
		name string
		// before runs between acquire and release.
		before func(t *testing.T, alice *leaseRun, stopParent context.CancelFunc)
	}{
		{name: "after the deploy"},
		{name: "while a renewal runs", before: func(t *testing.T, alice *leaseRun, _ context.CancelFunc) {
			alice.tick <- time.Time{}
		}},
		{name: "after Ctrl-C", before: func(t *testing.T, alice *leaseRun, stopParent context.CancelFunc) {
			stopParent()
			<-alice.stopped
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := leaseFake()
			clock := &leaseClock{t: leaseT0}
			alice := newLeaseRun(clock, "h", 42)
			parent, stopParent := context.WithCancel(t.Context())
			defer stopParent()
			lk, ctx, err := acquireDeployLock(parent, cs, "shop", "web", "alice", false, alice.env)
			if err != nil {
				t.Fatal(err)
			}
			if tt.before != nil {
				tt.before(t, alice, stopParent)
			}
			clock.add(time.Second)
			if err := lk.Release(context.Background()); err != nil {
				t.Fatal(err)
			}
			lease := getLease(t, cs)
			if h := leaseHolderIdentity(lease); h != "" {
				t.Errorf("holderIdentity %q after release", h)
			}
			if _, ok := lease.Annotations[AnnotationLeaseHolder]; ok {
				t.Errorf("annotation %s left after release", AnnotationLeaseHolder)
			}
			if d := leaseDuration(lease); d != 1 {
				t.Errorf("leaseDurationSeconds %d after release", d)
			}
			select {
			case <-alice.stopped:
			default:
				t.Error("the renewal ticker was not stopped")
			}
			select {
			case alice.tick <- time.Time{}:
				t.Error("the renewal loop still runs")
			default:
			}
			if ctx.Err() == nil {
				t.Error("the lock's context is still live")
			}
			var lost *LockLostError
			if errors.As(context.Cause(ctx), &lost) {
				t.Errorf("a released lock reports %v", lost)
			}

			cs.ClearActions()
			if err := lk.Release(context.Background()); err != nil {
				t.Errorf("second release: %v", err)
			}
			if err := (*DeployLock)(nil).Release(context.Background()); err != nil {
				t.Errorf("release of nil: %v", err)
			}
			if len(cs.Actions()) != 0 {
				t.Errorf("a second release called the API: %v", cs.Actions())
			}

			// The next deploy takes the freed lease at once.
			bob, _ := hold(t, cs, newLeaseRun(clock, "h2", 7), "bob", false)
			if taken, why := bob.TakenOver(); taken != nil {
				t.Errorf("bob took over %s: %s", taken.who(), why)
			}
		})
	}
}
