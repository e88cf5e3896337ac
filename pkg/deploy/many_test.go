package deploy

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/envops/kubectl-envops/pkg/rollout"
)

func TestPrerequisites(t *testing.T) {
	needs := map[string][]string{"web": {"api"}, "api": {"db", "cache"}, "cache": {"db"}, "worker": {"queue"}}
	got := Prerequisites([]string{"web", "db", "worker", "cache"}, needs)
	want := map[string][]string{
		// web needs api, which is not deployed: its needs count through it.
		"web":    {"cache", "db"},
		"db":     nil,
		"worker": nil,
		"cache":  {"db"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("prerequisites %v, want %v", got, want)
	}
}

// fakeRuns records the order apps start and end, and how many run at once.
type fakeRuns struct {
	mu       sync.Mutex
	started  []string
	running  int
	most     int
	outcomes map[string]Outcome
	release  map[string]chan struct{}
}

func (f *fakeRuns) run(ctx context.Context, app string) *Result {
	f.mu.Lock()
	f.started = append(f.started, app)
	f.running++
	f.most = max(f.most, f.running)
	ch := f.release[app]
	f.mu.Unlock()
	if ch != nil {
		select {
		case <-ch:
		case <-ctx.Done():
		}
	} else {
		time.Sleep(5 * time.Millisecond)
	}
	f.mu.Lock()
	f.running--
	f.mu.Unlock()
	out := f.outcomes[app]
	if out == "" {
		out = OutcomeDeployed
	}
	r := &Result{App: app, Outcome: out}
	if out == OutcomeFailed {
		r.Err = &rollout.FailedError{Kind: "ReplicationController", Name: app, RolledBack: true, Err: errors.New("image pull")}
	}
	return r
}

func outcomes(rs []*Result) map[string]string {
	out := map[string]string{}
	for _, r := range rs {
		s := string(r.Outcome)
		var ns *NotStartedError
		if errors.As(r.Err, &ns) {
			s += ": " + ns.Why
		}
		out[r.App] = s
	}
	return out
}

func TestScheduleOrdersByNeedsAndStopsDependentsOfAFailure(t *testing.T) {
	// db <- api <- web (a chain), cache on its own, bad fails and front needs it.
	apps := []string{"web", "api", "db", "cache", "bad", "front"}
	needs := map[string][]string{"web": {"api"}, "api": {"db"}, "front": {"bad"}}
	f := &fakeRuns{outcomes: map[string]Outcome{"bad": OutcomeFailed}}
	var finished []string
	rs := schedule(t.Context(), apps, Prerequisites(apps, needs), ManyOptions{Concurrency: 3, Finished: func(r *Result) { finished = append(finished, r.App) }}, f.run)
	want := map[string]string{
		"web": "deployed", "api": "deployed", "db": "deployed", "cache": "deployed",
		"bad": "failed", "front": "not started: needs bad, which failed",
	}
	if got := outcomes(rs); !reflect.DeepEqual(got, want) {
		t.Errorf("outcomes %v, want %v", got, want)
	}
	pos := func(app string) int { return slices.Index(f.started, app) }
	if !(pos("db") < pos("api") && pos("api") < pos("web")) {
		t.Errorf("started in the order %v: db, api and web must start in that order", f.started)
	}
	if slices.Contains(f.started, "front") {
		t.Error("front started although the app it needs failed")
	}
	if f.most > 3 {
		t.Errorf("%d apps ran at once, more than --concurrency 3", f.most)
	}
	if len(finished) != len(apps) {
		t.Errorf("finished reported %v, want every app once", finished)
	}
}

func TestScheduleRunsIndependentAppsInParallel(t *testing.T) {
	apps := []string{"a", "b", "c", "d"}
	release := map[string]chan struct{}{}
	for _, a := range apps {
		release[a] = make(chan struct{})
	}
	f := &fakeRuns{release: release}
	done := make(chan []*Result)
	go func() {
		done <- schedule(t.Context(), apps, Prerequisites(apps, nil), ManyOptions{Concurrency: 4}, f.run)
	}()
	// All four must be running at once before any is let go.
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		n := f.running
		f.mu.Unlock()
		if n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 4 independent apps ran at once with --concurrency 4", n)
		}
		time.Sleep(time.Millisecond)
	}
	for _, ch := range release {
		close(ch)
	}
	if got := outcomes(<-done); len(got) != 4 {
		t.Errorf("outcomes %v", got)
	}
}

func TestScheduleFailFastStartsNothingAfterAFailure(t *testing.T) {
	apps := []string{"bad", "a", "b"}
	f := &fakeRuns{outcomes: map[string]Outcome{"bad": OutcomeFailed}}
	rs := schedule(t.Context(), apps, map[string][]string{"a": {"bad"}, "b": {"bad"}}, ManyOptions{Concurrency: 1, FailFast: true}, f.run)
	got := outcomes(rs)
	if got["bad"] != "failed" || got["a"] == "deployed" || got["b"] == "deployed" {
		t.Errorf("outcomes %v: nothing may start after the failure", got)
	}
	// Independent apps are stopped too.
	f = &fakeRuns{outcomes: map[string]Outcome{"bad": OutcomeFailed}}
	rs = schedule(t.Context(), apps, Prerequisites(apps, nil), ManyOptions{Concurrency: 1, FailFast: true}, f.run)
	if got := outcomes(rs); got["a"] != "not started: --fail-fast: not started after bad failed" {
		t.Errorf("outcomes %v, want a not started by --fail-fast", got)
	}
}

func TestScheduleStopsStartingWhenInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	apps := []string{"a", "b"}
	f := &fakeRuns{release: map[string]chan struct{}{"a": make(chan struct{})}}
	go func() {
		for {
			f.mu.Lock()
			n := len(f.started)
			f.mu.Unlock()
			if n > 0 {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	rs := schedule(ctx, apps, map[string][]string{"b": {"a"}}, ManyOptions{Concurrency: 2}, f.run)
	if got := outcomes(rs); got["b"] == "deployed" || slices.Contains(f.started, "b") {
		t.Errorf("outcomes %v, started %v: b must not start after the interrupt", got, f.started)
	}
}

func TestManyErrorExitsWithTheWorstApp(t *testing.T) {
	rolledBack := &rollout.FailedError{Name: "a", RolledBack: true, Err: errors.New("x")}
	leftInPlace := &rollout.FailedError{Name: "b", Err: errors.New("y")}
	code := func(err error) int {
		var fe *rollout.FailedError
		if errors.As(err, &fe) && !fe.RolledBack {
			return 3
		}
		return 1
	}
	worse := func(a, b error) bool { return code(a) > code(b) }
	if err := NewManyError([]*Result{{App: "a", Outcome: OutcomeDeployed}, {App: "b", Outcome: OutcomeUnchanged}}, worse); err != nil {
		t.Errorf("every app deployed or unchanged, yet %v", err)
	}
	err := NewManyError([]*Result{{App: "a", Outcome: OutcomeFailed, Err: rolledBack}, {App: "b", Outcome: OutcomeFailed, Err: leftInPlace}, {App: "c", Outcome: OutcomeNotStarted, Err: &NotStartedError{App: "c", Why: "needs a, which failed"}}}, worse)
	if code(err) != 3 {
		t.Errorf("exit code %d for %v, want 3: one app was left in place", code(err), err)
	}
	if want := "2 of 3 apps failed (a, b), 1 not started (c)"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want it to start %q", err, want)
	}
}
