package promote

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/envops/kubectl-envops/pkg/appstate"
	"github.com/envops/kubectl-envops/pkg/environment"
	"github.com/envops/kubectl-envops/pkg/fleet"
)

// Observe is the gate's view of app's controllers in one environment.
func Observe(app string, ctrls []appstate.Controller) Observation {
	if len(ctrls) == 0 {
		return Observation{Problem: fmt.Sprintf("app %q is not deployed there", app)}
	}
	obs := Observation{Steady: true, Healthy: true}
	for _, c := range ctrls {
		obs.Images = append(obs.Images, c.Images...)
		if c.State != appstate.Steady {
			obs.Steady = false
			if obs.Problem == "" {
				obs.Problem = fmt.Sprintf("%s %s is %s", c.Kind, c.Name, c.State)
				if c.Reason != "" {
					obs.Problem += " (" + c.Reason + ")"
				}
			}
		}
		if c.Ready != c.Desired {
			obs.Healthy = false
			if obs.Problem == "" {
				obs.Problem = fmt.Sprintf("%s %s has %d/%d pods ready", c.Kind, c.Name, c.Ready, c.Desired)
			}
		}
		if c.DeployedAt.After(obs.Since) {
			obs.Since = c.DeployedAt
		}
	}
	return obs
}

// SourceImage is the image app's controllers run in env, pinned to its
// digest when the pods report exactly one.
func SourceImage(app, env string, ctrls []appstate.Controller) (string, error) {
	var image string
	var digests []string
	for _, c := range ctrls {
		for _, i := range c.Images {
			if image != "" && i != image {
				return "", fmt.Errorf("app %q runs more than one image in %s (%s and %s): promote one with --image", app, env, image, i)
			}
			image = i
		}
		digests = append(digests, c.Digests...)
	}
	if image == "" {
		return "", fmt.Errorf("app %q is not deployed in %s, so there is nothing to promote from it: promote with --image", app, env)
	}
	if len(digests) == 1 && !strings.Contains(image, "@") {
		if d := appstate.Digest(digests[0]); d != "" {
			image += "@" + d
		}
	}
	return image, nil
}

// Cluster reads the app in the resolved target of each environment.
type Cluster struct {
	App string
	// Targets are the environments' targets, resolved once: the same
	// context and namespace the steps deploy to.
	Targets map[string]*environment.Target
	// Timeout bounds one read of a cluster.
	Timeout time.Duration
}

// read reads the app's controllers in env's target, within the timeout;
// the error says briefly why the cluster could not be read.
func (c Cluster) read(ctx context.Context, env string) ([]appstate.Controller, error) {
	t := c.Targets[env]
	if t == nil {
		return nil, fmt.Errorf("environment %q was not resolved", env)
	}
	results := fleet.Each(ctx, []string{t.Context}, c.Timeout, func(ctx context.Context, _ string) ([]appstate.Controller, error) {
		return appstate.Read(ctx, t.Client, t.Namespace, c.App, "app", time.Now())
	})
	if err := results[0].Err; err != nil {
		return nil, fmt.Errorf("context %q namespace %q: %s", t.Context, t.Namespace, fleet.Reason(err, c.Timeout))
	}
	return results[0].Value, nil
}

// Observe is the app's state in env, for the gate before the next step.
func (c Cluster) Observe(ctx context.Context, env string) (Observation, error) {
	ctrls, err := c.read(ctx, env)
	if err != nil {
		return Observation{}, err
	}
	return Observe(c.App, ctrls), nil
}

// Image is the image the app runs in env, the source of a promotion.
func (c Cluster) Image(ctx context.Context, env string) (string, error) {
	ctrls, err := c.read(ctx, env)
	if err != nil {
		return "", fmt.Errorf("cannot read the image of %q in %s: %w", c.App, env, err)
	}
	return SourceImage(c.App, env, ctrls)
}
