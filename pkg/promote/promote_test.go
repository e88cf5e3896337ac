package promote

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var order = []string{"dev", "staging", "prod"}

func TestNewPlan(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  Request
		want Plan
		err  string
	}{
		{name: "image: every environment", req: Request{Order: order, Image: "web:2"}, want: Plan{Steps: order}},
		{name: "image to staging", req: Request{Order: order, Image: "web:2", To: "staging"}, want: Plan{Steps: []string{"dev", "staging"}, Later: []string{"prod"}}},
		{name: "from dev", req: Request{Order: order, From: "dev"}, want: Plan{Source: "dev", Steps: []string{"staging", "prod"}}},
		{name: "from staging to prod", req: Request{Order: order, From: "staging", To: "prod"}, want: Plan{Source: "staging", Steps: []string{"prod"}}},
		{name: "neither", req: Request{Order: order}, err: "name what to promote: --image IMG starts at dev"},
		{name: "both", req: Request{Order: order, Image: "x", From: "dev"}, err: "--image and --from contradict"},
		{name: "from the last", req: Request{Order: order, From: "prod"}, err: "--from prod: it is the last environment"},
		{name: "unknown from", req: Request{Order: order, From: "qa"}, err: "--from qa: not in the promotion order (dev, staging, prod)"},
		{name: "to before from", req: Request{Order: order, From: "staging", To: "dev"}, err: "--to dev comes before the first environment to deploy (prod)"},
		{name: "to itself", req: Request{Order: order, From: "staging", To: "staging"}, err: "--to staging comes before"},
		{name: "no environments", req: Request{Image: "x"}, err: "no environments to promote through"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewPlan(tc.req)
			if tc.err != "" {
				var ue *UsageError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want a UsageError containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestGate(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	good := Observation{Steady: true, Healthy: true, Images: []string{"web:2"}, Since: now.Add(-10 * time.Minute)}
	for _, tc := range []struct {
		name  string
		o     Observation
		image string
		soak  time.Duration
		want  Verdict
	}{
		{"steady, healthy, on the image", good, "web:2", 0, Verdict{Pass: true}},
		{"soaked long enough", good, "web:2", 10 * time.Minute, Verdict{Pass: true}},
		{"soak not over", good, "web:2", 15 * time.Minute, Verdict{Wait: 5 * time.Minute, Reason: "dev soaks for 5m0s more"}},
		{"another image", good, "web:3", 0, Verdict{Reason: "dev runs web:2, not web:3"}},
		{"pinned by digest", good, "web:2@sha256:abc", 0, Verdict{Pass: true}},
		{"updating", Observation{Images: []string{"web:2"}, Problem: "updating"}, "web:2", 0, Verdict{Reason: "dev is not steady: updating"}},
		{"not ready", Observation{Steady: true, Images: []string{"web:2"}}, "web:2", 0, Verdict{Reason: "dev is not healthy: not every pod is ready"}},
		{"soak without a record", Observation{Steady: true, Healthy: true, Images: []string{"web:2"}}, "web:2", time.Minute, Verdict{Reason: "dev has no deploy record, so its soak of 1m0s cannot be measured"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Gate("dev", tc.o, tc.image, tc.soak, now); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// fakeFleet deploys by recording, and observes what it deployed.
type fakeFleet struct {
	deployed []string
	fail     map[string]error
	state    map[string]Observation
	now      time.Time
}

func (f *fakeFleet) runner() *Runner {
	return &Runner{
		App: "web",
		Deploy: func(_ context.Context, env, image string) error {
			f.deployed = append(f.deployed, env)
			if err := f.fail[env]; err != nil {
				f.state[env] = Observation{Steady: true, Healthy: true, Images: []string{"web:1"}, Since: f.now}
				return err
			}
			f.state[env] = Observation{Steady: true, Healthy: true, Images: []string{image}, Since: f.now}
			return nil
		},
		Observe: func(_ context.Context, env string) (Observation, error) { return f.state[env], nil },
		Now:     func() time.Time { return f.now },
		Sleep: func(_ context.Context, d time.Duration) error {
			f.now = f.now.Add(d)
			return nil
		},
	}
}

func newFleet() *fakeFleet {
	return &fakeFleet{fail: map[string]error{}, state: map[string]Observation{}, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func TestRunDeploysInOrder(t *testing.T) {
	f := newFleet()
	plan, _ := NewPlan(Request{Order: order, Image: "web:2"})
	results, err := f.runner().Run(context.Background(), plan, "web:2")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.deployed, order) {
		t.Errorf("deployed %v, want %v", f.deployed, order)
	}
	for _, r := range results {
		if r.Phase != PhaseDone {
			t.Errorf("%s: %s, want promoted", r.Env, r.Phase)
		}
	}
}

func TestRunStopsAtTheFirstFailureAndLeavesLaterEnvironmentsUntouched(t *testing.T) {
	f := newFleet()
	f.fail["staging"] = errors.New("pod web-x: ImagePullBackOff")
	plan, _ := NewPlan(Request{Order: order, Image: "web:2"})
	results, err := f.runner().Run(context.Background(), plan, "web:2")
	var stopped *StoppedError
	if !errors.As(err, &stopped) {
		t.Fatalf("err = %v, want a StoppedError", err)
	}
	if stopped.Env != "staging" || stopped.Resume != "kubectl envops promote web --from dev" {
		t.Errorf("stopped at %s, resume %q; want staging and --from dev", stopped.Env, stopped.Resume)
	}
	if !strings.Contains(err.Error(), "ImagePullBackOff") {
		t.Errorf("message %q does not say why", err)
	}
	if !reflect.DeepEqual(f.deployed, []string{"dev", "staging"}) {
		t.Errorf("deployed %v, want dev and staging only", f.deployed)
	}
	want := []Phase{PhaseDone, PhaseFailed, PhaseSkipped}
	for i, r := range results {
		if r.Phase != want[i] {
			t.Errorf("%s: %s, want %s", r.Env, r.Phase, want[i])
		}
	}
}

func TestRunGatesOnTheSourceEnvironment(t *testing.T) {
	f := newFleet()
	f.state["staging"] = Observation{Images: []string{"web:2"}, Problem: "interrupted: run deploy again to resume"}
	plan, _ := NewPlan(Request{Order: order, From: "staging"})
	_, err := f.runner().Run(context.Background(), plan, "web:2")
	if err == nil || !strings.Contains(err.Error(), "staging is not steady: interrupted") {
		t.Fatalf("err = %v, want the gate on staging to refuse", err)
	}
	if len(f.deployed) != 0 {
		t.Errorf("deployed %v, want nothing", f.deployed)
	}
}

func TestRunSoaksBeforeTheNextEnvironment(t *testing.T) {
	f := newFleet()
	start := f.now
	r := f.runner()
	r.Soak = 10 * time.Minute
	var soaking int
	r.Events = func(e Event) {
		if e.Phase == PhaseSoaking {
			soaking++
		}
	}
	plan, _ := NewPlan(Request{Order: order, Image: "web:2"})
	if _, err := r.Run(context.Background(), plan, "web:2"); err != nil {
		t.Fatal(err)
	}
	if soaking != 2 {
		t.Errorf("soaked %d times, want twice (after dev and after staging)", soaking)
	}
	if got := f.now.Sub(start); got != 20*time.Minute {
		t.Errorf("the fake clock advanced %s, want 20m (two soaks)", got)
	}
}

func TestResumeKeepsTo(t *testing.T) {
	f := newFleet()
	f.fail["dev"] = errors.New("boom")
	plan, _ := NewPlan(Request{Order: order, Image: "web:2", To: "staging"})
	_, err := f.runner().Run(context.Background(), plan, "web:2")
	var stopped *StoppedError
	if !errors.As(err, &stopped) || stopped.Resume != "kubectl envops promote web --image web:2 --to staging" {
		t.Fatalf("err = %v, want resume with --image and --to", err)
	}
}
