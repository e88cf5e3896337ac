package deploy

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// DefaultConcurrency is how many apps a deploy of several apps rolls at
// once: most of a deploy is waiting for the cluster's controllers and
// kubelets, so many more apps than cores (40 apps on 2 cores: 16 at once
// took 4.2s, 8 at once 5.5s, once the controllers' rate allowed it).
const DefaultConcurrency = 16

// Prerequisites says, for each of apps, which of the other apps must be
// deployed before it: those it needs, directly or through apps that are
// not being deployed.
func Prerequisites(apps []string, needs map[string][]string) map[string][]string {
	chosen := map[string]bool{}
	for _, a := range apps {
		chosen[a] = true
	}
	out := make(map[string][]string, len(apps))
	for _, app := range apps {
		seen := map[string]bool{app: true}
		var pre []string
		queue := slices.Clone(needs[app])
		for len(queue) > 0 {
			dep := queue[0]
			queue = queue[1:]
			if seen[dep] {
				continue
			}
			seen[dep] = true
			if chosen[dep] {
				pre = append(pre, dep)
				continue
			}
			queue = append(queue, needs[dep]...)
		}
		slices.Sort(pre)
		out[app] = pre
	}
	return out
}

// ManyOptions tune a deploy of several apps.
type ManyOptions struct {
	// Concurrency is how many apps deploy at once; zero means
	// DefaultConcurrency.
	Concurrency int
	// FailFast starts no app after the first one fails.
	FailFast bool
	// Started is called as each app's deploy starts; Finished with each
	// app's result as it ends, those not started included. Both are called
	// from one goroutine at a time.
	Started  func(app string)
	Finished func(*Result)
}

// DeployMany deploys each request once the apps it needs (Prerequisites)
// are deployed, up to Concurrency at once. An app whose prerequisite
// failed, was not started or stopped paused is not started, nor is any
// app after an interruption or, with FailFast, after a failure; the other
// apps go on. The results are in the order of reqs.
func (d *Deployer) DeployMany(ctx context.Context, reqs []Request, needs map[string][]string, o ManyOptions) []*Result {
	d.widen(min(cmp.Or(o.Concurrency, DefaultConcurrency), len(reqs)))
	apps := make([]string, len(reqs))
	byApp := make(map[string]Request, len(reqs))
	for i, r := range reqs {
		apps[i], byApp[r.App] = r.App, r
	}
	return schedule(ctx, apps, Prerequisites(apps, needs), o, func(ctx context.Context, app string) *Result {
		return d.Deploy(ctx, byApp[app])
	})
}

// schedule runs run for every app in an order that respects pre, and
// reports each result through o. It returns when every app has a result.
func schedule(ctx context.Context, apps []string, pre map[string][]string, o ManyOptions, run func(context.Context, string) *Result) []*Result {
	limit := o.Concurrency
	if limit <= 0 {
		limit = DefaultConcurrency
	}
	results := map[string]*Result{}
	finished := make(chan *Result)
	running, startedApps := 0, map[string]bool{}
	stopped := "" // why no further app starts
	report := func(r *Result) {
		results[r.App] = r
		if o.Finished != nil {
			o.Finished(r)
		}
	}
	// blocker returns why app cannot start ("" when it can, "wait" when
	// a prerequisite is still to come).
	blocker := func(app string) string {
		for _, dep := range pre[app] {
			r, ok := results[dep]
			switch {
			case !ok:
				return "wait"
			case r.Outcome == OutcomeFailed:
				return fmt.Sprintf("needs %s, which failed", dep)
			case r.Outcome == OutcomeNotStarted:
				return fmt.Sprintf("needs %s, which was not started", dep)
			case r.Outcome == OutcomePaused:
				return fmt.Sprintf("needs %s, which is paused", dep)
			}
		}
		return ""
	}
	for len(results) < len(apps) {
		if stopped == "" && ctx.Err() != nil {
			stopped = "interrupted before it started"
		}
		progress := true
		for progress {
			progress = false
			for _, app := range apps {
				if _, ok := results[app]; ok || startedApps[app] {
					continue
				}
				why := blocker(app)
				switch {
				case why == "wait":
					continue
				case why != "":
					report(notStarted(app, why))
					progress = true
					continue
				case stopped != "":
					report(notStarted(app, stopped))
					progress = true
					continue
				case running >= limit:
					continue
				}
				running++
				startedApps[app] = true
				if o.Started != nil {
					o.Started(app)
				}
				go func() { finished <- run(ctx, app) }()
			}
		}
		if len(results) == len(apps) {
			break
		}
		r := <-finished
		running--
		delete(startedApps, r.App)
		report(r)
		if o.FailFast && r.Outcome == OutcomeFailed && stopped == "" {
			stopped = fmt.Sprintf("--fail-fast: not started after %s failed", r.App)
		}
	}
	out := make([]*Result, len(apps))
	for i, app := range apps {
		out[i] = results[app]
	}
	return out
}

func notStarted(app, why string) *Result {
	now := time.Now()
	return &Result{App: app, Outcome: OutcomeNotStarted, Started: now, Finished: now, Err: &NotStartedError{App: app, Why: why}}
}

// NotStartedError says why an app of a deploy of several apps was not
// started.
type NotStartedError struct {
	App string
	Why string
}

func (e *NotStartedError) Error() string {
	return fmt.Sprintf("app %q was not started: %s", e.App, e.Why)
}

// ManyError is the error of a deploy of several apps in which some apps
// did not deploy: it unwraps to the error of the worst of them (a deploy
// left in place for a resume before one rolled back, before any other
// failure), so that its exit code is the worst of the apps'.
type ManyError struct {
	Results []*Result
	worst   error
}

// NewManyError returns the error of results, nil when every app deployed
// (or was unchanged, or paused as asked). worse tells whether one app's
// error is worse than another's.
func NewManyError(results []*Result, worse func(a, b error) bool) error {
	e := &ManyError{Results: results}
	var failed []string
	for _, r := range results {
		if r.Err == nil {
			continue
		}
		failed = append(failed, r.App)
		if e.worst == nil || worse(r.Err, e.worst) {
			e.worst = r.Err
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return e
}

func (e *ManyError) Error() string {
	var failed, skipped []string
	for _, r := range e.Results {
		switch r.Outcome {
		case OutcomeFailed:
			failed = append(failed, r.App)
		case OutcomeNotStarted:
			skipped = append(skipped, r.App)
		}
	}
	var parts []string
	if len(failed) > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d apps failed (%s)", len(failed), len(e.Results), strings.Join(failed, ", ")))
	}
	if len(skipped) > 0 {
		parts = append(parts, fmt.Sprintf("%d not started (%s)", len(skipped), strings.Join(skipped, ", ")))
	}
	return strings.Join(parts, ", ") + "; fix what failed, then run the same command again to finish what was left"
}

// Unwrap is the worst app's error.
func (e *ManyError) Unwrap() error { return e.worst }
