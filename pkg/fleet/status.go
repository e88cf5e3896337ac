package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/envops/kubectl-envops/pkg/appstate"
	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/drift"
	"github.com/envops/kubectl-envops/pkg/environment"
)

// StatusRow is an app's controller in one cluster, or a cluster that could
// not be read.
type StatusRow struct {
	Environment string `json:"environment,omitempty"`
	Context     string `json:"context"`
	Namespace   string `json:"namespace"`
	// Secret is the check of the environment Secret: ok, unbound, another
	// cluster, missing, or "holds X" when it declares another environment;
	// "no namespace" or "terminating" when the namespace is not there, or
	// is being deleted.
	Secret     string     `json:"secret,omitempty"`
	App        string     `json:"app,omitempty"`
	Kind       string     `json:"kind,omitempty"`
	Name       string     `json:"name,omitempty"`
	Images     []string   `json:"images,omitempty"`
	Ready      int32      `json:"ready"`
	Desired    int32      `json:"desired"`
	State      string     `json:"state"`
	Reason     string     `json:"reason,omitempty"`
	DeployedBy string     `json:"deployedBy,omitempty"`
	DeployedAt *time.Time `json:"deployedAt,omitempty"`
	// Drift says whether the app runs what its overlay renders: "in sync",
	// or briefly what differs; empty when it was not compared.
	Drift string `json:"drift,omitempty"`
	// Drifted are the app's objects that are not in sync, with what
	// differs in each.
	Drifted []drift.Object `json:"drifted,omitempty"`
	// OK is true when the row is steady and healthy, and in sync when
	// compared.
	OK bool `json:"ok"`
}

// Status asks clusters which version of each app runs there.
type Status struct {
	Apps    []string
	Secret  config.Secret
	Timeout time.Duration
	Client  NewClient
	Now     func() time.Time
	// Overlays, when set, compares each app with its overlay (drift).
	Overlays *Overlays
}

// Collect asks every target at once, each within the timeout; a target
// that fails is one row saying why.
func (s *Status) Collect(ctx context.Context, targets []Target) []StatusRow {
	names := make([]string, len(targets))
	byName := map[string]Target{}
	for i, t := range targets {
		names[i] = t.Context
		byName[t.Context] = t
	}
	results := Each(ctx, names, s.Timeout, func(ctx context.Context, name string) ([]StatusRow, error) {
		return s.ask(ctx, byName[name])
	})
	var rows []StatusRow
	for i, r := range results {
		if r.Err != nil {
			t := targets[i]
			rows = append(rows, StatusRow{Environment: t.Env, Context: t.Context, Namespace: t.Namespace, State: Reason(r.Err, s.Timeout)})
			continue
		}
		rows = append(rows, r.Value...)
	}
	return rows
}

// ask reads one cluster: the environment Secret's check, then each app.
func (s *Status) ask(ctx context.Context, t Target) ([]StatusRow, error) {
	client, err := s.Client(t.Context, s.Timeout)
	if err != nil {
		return nil, err
	}
	secret, err := SecretCheck(ctx, client, t, s.Secret)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	var rows []StatusRow
	for _, app := range s.Apps {
		base := StatusRow{Environment: t.Env, Context: t.Context, Namespace: t.Namespace, Secret: secret, App: app}
		ctrls, err := appstate.Read(ctx, client, t.Namespace, app, "app", now)
		if err != nil {
			return nil, err
		}
		inSync := true
		if s.Overlays != nil {
			report, err := s.Overlays.Drift(ctx, t, client, app, ctrls, s.Timeout)
			switch {
			case errors.Is(err, ErrNoOverlay):
				base.Drift = "-"
			case err != nil:
				// What runs is still worth a row: the comparison says why it
				// could not be made, and decides nothing.
				base.Drift = "unknown: " + Reason(err, s.Timeout)
			default:
				base.Drift, inSync = report.Brief(), report.InSync()
				for _, o := range report.Objects {
					if o.State != drift.InSync {
						base.Drifted = append(base.Drifted, o)
					}
				}
			}
		}
		if len(ctrls) == 0 {
			base.State = string(appstate.Missing)
			rows = append(rows, base)
			continue
		}
		for _, c := range ctrls {
			row := base
			row.Kind, row.Name, row.Images = c.Kind, c.Name, c.Images
			row.Ready, row.Desired, row.State, row.Reason = c.Ready, c.Desired, string(c.State), c.Reason
			row.DeployedBy = c.DeployedBy
			if !c.DeployedAt.IsZero() {
				at := c.DeployedAt
				row.DeployedAt = &at
			}
			row.OK = c.Healthy() && (secret == "ok" || secret == "unbound") && inSync
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// SecretCheck says whether the target namespace's environment Secret
// declares the target's environment (or, without one, any) on the cluster
// it was written on, or that the namespace is missing or being deleted.
// Only failures to reach or read the cluster are errors.
func SecretCheck(ctx context.Context, client kubernetes.Interface, t Target, s config.Secret) (string, error) {
	expected := t.Env
	if expected == "" {
		found, err := environment.Read(ctx, client, t.Namespace, s)
		// A namespace without the Secret goes on to Check, which tells a
		// missing Secret from a missing namespace.
		if err != nil && !errors.Is(err, environment.ErrNotDeclared) {
			return "", err
		}
		expected = found
	}
	binding, err := environment.Check(ctx, client, t.Namespace, expected, s)
	var ge *environment.GuardError
	var ie *environment.IdentityError
	var nse *environment.NamespaceError
	switch {
	case errors.As(err, &nse) && nse.Terminating:
		return "terminating", nil
	case errors.As(err, &nse):
		return "no namespace", nil
	case errors.As(err, &ge) && ge.Missing:
		return "missing", nil
	case errors.As(err, &ge):
		return "holds " + ge.Found, nil
	case errors.As(err, &ie):
		return "another cluster", nil
	case err != nil:
		return "", err
	case binding.Unbound:
		return "unbound", nil
	}
	return "ok", nil
}

// Healthy names every unhealthy row up to namedAll of them; with more, it
// names namedInSummary and counts the rest.
const (
	namedAll       = 5
	namedInSummary = 3
)

// Healthy is nil when every row is steady and healthy, and otherwise one
// line naming the rows that are not: the first few, then how many more,
// by kind, so that the line stays short with thousands of environments.
func Healthy(rows []StatusRow) error {
	total := 0
	for _, r := range rows {
		if !r.OK {
			total++
		}
	}
	if total == 0 {
		return nil
	}
	name := namedInSummary
	if total <= namedAll {
		name = total
	}
	var named []string
	more := map[string]int{}
	var kinds []string
	for _, r := range rows {
		if r.OK {
			continue
		}
		where := r.Environment
		if where == "" {
			where = r.Context
		}
		if r.App != "" {
			where += "/" + r.App
		}
		what := r.State
		if r.Secret != "" && r.Secret != "ok" && r.Secret != "unbound" {
			what = "environment Secret: " + r.Secret
		} else if r.State == string(appstate.Steady) && r.Ready == r.Desired && r.Drift != "" && r.Drift != "-" {
			what = "drift: " + r.Drift
		} else if r.State == string(appstate.Steady) {
			what = fmt.Sprintf("%d/%d ready", r.Ready, r.Desired)
		}
		if len(named) < name {
			named = append(named, where+" "+what)
			continue
		}
		kind, _, _ := strings.Cut(what, ":")
		if more[kind] == 0 {
			kinds = append(kinds, kind)
		}
		more[kind]++
	}
	msg := strings.Join(named, "; ")
	if rest := total - len(named); rest > 0 {
		counts := make([]string, len(kinds))
		for i, k := range kinds {
			counts[i] = fmt.Sprintf("%d %s", more[k], k)
		}
		msg += fmt.Sprintf("; and %d more (%s)", rest, strings.Join(counts, ", "))
	}
	return fmt.Errorf("not every environment is steady and healthy: %s", msg)
}

// Watch collects the rows every interval and hands each round to show,
// until ctx ends or show fails.
func (s *Status) Watch(ctx context.Context, targets []Target, interval time.Duration, show func([]StatusRow) error) error {
	for {
		rows := s.Collect(ctx, targets)
		if ctx.Err() != nil {
			return nil
		}
		if err := show(rows); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}
