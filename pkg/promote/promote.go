// Package promote ships one image through environments in order: it plans
// which environments a promotion deploys to, gates each step on the state
// of the environment before it, and stops at the first failure so that
// every later environment stays untouched.
package promote

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Request is what the user asked for.
type Request struct {
	// Order is the promotion order of environments.
	Order []string
	// Image starts the promotion at the first environment.
	Image string
	// From is the environment whose running image is shipped onward.
	From string
	// To is the last environment to deploy to ("" = the last of Order).
	To string
}

// Plan is the environments a promotion deploys to, in order.
type Plan struct {
	// Source is the environment the image is read from ("" with Image).
	Source string
	// Steps are the environments to deploy to.
	Steps []string
	// Later are the environments after To, which are not touched.
	Later []string
}

// UsageError is a request that cannot be planned; the message says how to
// fix it.
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

func usage(format string, a ...any) error { return &UsageError{msg: fmt.Sprintf(format, a...)} }

// NewPlan orders a request.
func NewPlan(r Request) (Plan, error) {
	if len(r.Order) == 0 {
		return Plan{}, usage("no environments to promote through: define environments (and optionally promotion) in .envops.yaml")
	}
	list := strings.Join(r.Order, ", ")
	switch {
	case r.Image == "" && r.From == "":
		return Plan{}, usage("name what to promote: --image IMG starts at %s, --from ENV ships what runs in ENV onward", r.Order[0])
	case r.Image != "" && r.From != "":
		return Plan{}, usage("--image and --from contradict each other: --image starts at %s, --from ships what runs in an environment; drop one", r.Order[0])
	}
	start := 0
	p := Plan{}
	if r.From != "" {
		i := slices.Index(r.Order, r.From)
		if i < 0 {
			return Plan{}, usage("--from %s: not in the promotion order (%s)", r.From, list)
		}
		if i == len(r.Order)-1 {
			return Plan{}, usage("--from %s: it is the last environment of the promotion order (%s), there is nothing after it", r.From, list)
		}
		p.Source, start = r.From, i+1
	}
	end := len(r.Order) - 1
	if r.To != "" {
		j := slices.Index(r.Order, r.To)
		if j < 0 {
			return Plan{}, usage("--to %s: not in the promotion order (%s)", r.To, list)
		}
		if j < start {
			return Plan{}, usage("--to %s comes before the first environment to deploy (%s) in the promotion order (%s)", r.To, r.Order[start], list)
		}
		end = j
	}
	p.Steps = append([]string(nil), r.Order[start:end+1]...)
	p.Later = append([]string(nil), r.Order[end+1:]...)
	return p, nil
}

// Observation is the state of the app in one environment, as the gate
// sees it.
type Observation struct {
	// Steady is true when no update is in progress, paused or failed.
	Steady bool
	// Healthy is true when every desired pod is ready.
	Healthy bool
	// Images are the images the app's controllers run.
	Images []string
	// Since is when the app was last deployed (zero if unknown).
	Since time.Time
	// Problem says what is wrong, for the message ("" if nothing).
	Problem string
}

// Verdict is a gate's decision.
type Verdict struct {
	// Pass is true when the next environment may start.
	Pass bool
	// Wait is how much longer to soak before asking again (Pass false, no
	// failure).
	Wait time.Duration
	// Reason says why the gate did not pass.
	Reason string
}

// Gate decides whether the environment env, in state o, lets image move
// on: it must be steady, healthy and on image, and have been so for soak.
func Gate(env string, o Observation, image string, soak time.Duration, now time.Time) Verdict {
	switch {
	case !o.Steady:
		return Verdict{Reason: fmt.Sprintf("%s is not steady: %s", env, cmp.Or(o.Problem, "an update is in progress"))}
	case !o.Healthy:
		return Verdict{Reason: fmt.Sprintf("%s is not healthy: %s", env, cmp.Or(o.Problem, "not every pod is ready"))}
	case !onImage(o.Images, image):
		return Verdict{Reason: fmt.Sprintf("%s runs %s, not %s", env, cmp.Or(strings.Join(o.Images, ", "), "no image"), image)}
	}
	if soak > 0 {
		if o.Since.IsZero() {
			return Verdict{Reason: fmt.Sprintf("%s has no deploy record, so its soak of %s cannot be measured", env, soak)}
		}
		if left := o.Since.Add(soak).Sub(now); left > 0 {
			return Verdict{Wait: left, Reason: fmt.Sprintf("%s soaks for %s more", env, left.Round(time.Second))}
		}
	}
	return Verdict{Pass: true}
}

// onImage reports whether image runs: as written, or pinned by digest.
func onImage(images []string, image string) bool {
	for _, i := range images {
		if i == image || strings.HasPrefix(image, i+"@") || strings.HasPrefix(i, image+"@") {
			return true
		}
	}
	return false
}

// Phase of one environment in a promotion.
type Phase string

// Phases reported in events and the summary, in the order a promotion
// can reach them.
const (
	// PhaseStarting: the promotion began; Message names the plan.
	PhaseStarting Phase = "started"
	// PhaseSoaking: the environment has not yet run the image steadily for
	// the soak time; the promotion waits before the next one.
	PhaseSoaking Phase = "soaking"
	// PhaseBlocked: the environment before this one failed its gate.
	PhaseBlocked Phase = "blocked"
	// PhaseDeploy: the image is being deployed to the environment.
	PhaseDeploy Phase = "deploying"
	// PhaseDone: the environment runs the image.
	PhaseDone Phase = "promoted"
	// PhaseFailed: the environment's gate or deploy failed; the promotion
	// stops there.
	PhaseFailed Phase = "failed"
	// PhaseSkipped: the environment was left as it was, after a failure or
	// beyond --to.
	PhaseSkipped Phase = "untouched"
)

// EventType is the type of every promotion event, beside the deploy
// events of each step in one JSON lines stream.
const EventType = "promotion"

// Event is one step of a promotion.
type Event struct {
	Time time.Time `json:"time"`
	// Type is always EventType.
	Type    string `json:"type"`
	App     string `json:"app"`
	Env     string `json:"environment,omitempty"`
	Phase   Phase  `json:"phase"`
	Image   string `json:"image,omitempty"`
	Message string `json:"message,omitempty"`
}

// Runner carries a promotion out.
type Runner struct {
	App string
	// Deploy deploys image to env, exactly as the deploy command does.
	Deploy func(ctx context.Context, env, image string) error
	// Observe reads the app's state in env.
	Observe func(ctx context.Context, env string) (Observation, error)
	// Soak is how long an environment must be steady on the image before
	// the next starts.
	Soak time.Duration
	// Events receives each step (nil: none).
	Events func(Event)
	// Now and Sleep are the clock; tests replace them.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Result is the outcome of each environment of the plan.
type Result struct {
	Env   string `json:"environment"`
	Phase Phase  `json:"phase"`
	Image string `json:"image,omitempty"`
	// Message says why, for failures and skips.
	Message string `json:"message,omitempty"`
}

// StoppedError says where a promotion stopped and how to resume it.
type StoppedError struct {
	// Env is the environment that failed (a gate or a deploy).
	Env string
	// Resume is the command line that continues the promotion.
	Resume string
	Err    error
}

func (e *StoppedError) Error() string {
	return fmt.Sprintf("promotion stopped at %s: %v; later environments were not touched; after fixing it resume with %q", e.Env, e.Err, e.Resume)
}

func (e *StoppedError) Unwrap() error { return e.Err }

// Run deploys image to each step of plan in order. Before each step the
// environment before it (the source, or the previous step) must pass the
// gate. The first failure stops the promotion: it returns the results so
// far, every later environment marked untouched, and a *StoppedError.
func (r *Runner) Run(ctx context.Context, plan Plan, image string) ([]Result, error) {
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Sleep == nil {
		r.Sleep = sleep
	}
	results := make([]Result, 0, len(plan.Steps)+len(plan.Later))
	prev := plan.Source
	r.emit(Event{Phase: PhaseStarting, Image: image, Message: fmt.Sprintf("promoting %s through %s", image, strings.Join(plan.Steps, ", "))})
	for i, env := range plan.Steps {
		stop := func(err error) ([]Result, error) {
			results = append(results, Result{Env: env, Phase: PhaseFailed, Image: image, Message: err.Error()})
			for _, later := range append(plan.Steps[i+1:len(plan.Steps):len(plan.Steps)], plan.Later...) {
				results = append(results, Result{Env: later, Phase: PhaseSkipped})
			}
			return results, &StoppedError{Env: env, Resume: r.resume(plan, i, image), Err: err}
		}
		if prev != "" {
			if err := r.gate(ctx, prev, env, image); err != nil {
				r.emit(Event{Env: env, Phase: PhaseBlocked, Image: image, Message: err.Error()})
				return stop(err)
			}
		}
		r.emit(Event{Env: env, Phase: PhaseDeploy, Image: image})
		if err := r.Deploy(ctx, env, image); err != nil {
			r.emit(Event{Env: env, Phase: PhaseFailed, Image: image, Message: err.Error()})
			return stop(fmt.Errorf("deploy to %s failed: %w", env, err))
		}
		r.emit(Event{Env: env, Phase: PhaseDone, Image: image})
		results = append(results, Result{Env: env, Phase: PhaseDone, Image: image})
		prev = env
	}
	for _, later := range plan.Later {
		results = append(results, Result{Env: later, Phase: PhaseSkipped, Message: "after --to"})
	}
	return results, nil
}

// gate waits out the soak of env before next and fails when env is not
// steady, healthy and on image.
func (r *Runner) gate(ctx context.Context, env, next, image string) error {
	for {
		o, err := r.Observe(ctx, env)
		if err != nil {
			return fmt.Errorf("cannot read %s before promoting to %s: %w", env, next, err)
		}
		v := Gate(env, o, image, r.Soak, r.Now())
		if v.Pass {
			return nil
		}
		if v.Wait <= 0 {
			return errors.New(v.Reason)
		}
		r.emit(Event{Env: env, Phase: PhaseSoaking, Image: image, Message: v.Reason})
		if err := r.Sleep(ctx, v.Wait); err != nil {
			return fmt.Errorf("interrupted while %s soaked: %w", env, err)
		}
	}
}

// resume is the command line that continues after step i failed: from the
// last environment that runs the image, or with the image again when the
// first step failed.
func (r *Runner) resume(plan Plan, i int, image string) string {
	from := plan.Source
	if i > 0 {
		from = plan.Steps[i-1]
	}
	to := ""
	if len(plan.Later) > 0 {
		to = " --to " + plan.Steps[len(plan.Steps)-1]
	}
	if from == "" {
		return fmt.Sprintf("kubectl envops promote %s --image %s%s", r.App, image, to)
	}
	return fmt.Sprintf("kubectl envops promote %s --from %s%s", r.App, from, to)
}

func (r *Runner) emit(e Event) {
	if r.Events == nil {
		return
	}
	e.App, e.Type = r.App, EventType
	if e.Time.IsZero() {
		e.Time = r.Now()
	}
	r.Events(e)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
