package promote

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/envops/kubectl-envops/pkg/appstate"
	"github.com/envops/kubectl-envops/pkg/config"
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

// LineWriter calls Each with every complete line written to it, without
// its newline, however the writes split the lines: the JSON lines of a
// step's deploy become the promotion's events one by one.
type LineWriter struct {
	Each func(line []byte)
	rest []byte
}

func (w *LineWriter) Write(p []byte) (int, error) {
	w.rest = append(w.rest, p...)
	for {
		line, rest, ok := bytes.Cut(w.rest, []byte("\n"))
		if !ok {
			return len(p), nil
		}
		w.rest = rest
		w.Each(line)
	}
}

// Cluster reads the app in the cluster of each environment.
type Cluster struct {
	Config    *config.Config
	Raw       clientcmdapi.Config
	App       string
	Timeout   time.Duration
	NewClient fleet.NewClient
}

// Observe is the app's state in env, for the gate before the next step.
func (c Cluster) Observe(ctx context.Context, env string) (Observation, error) {
	ctrls, err := fleet.App(ctx, c.Config, c.Raw, env, c.App, c.Timeout, c.NewClient)
	if err != nil {
		return Observation{}, err
	}
	return Observe(c.App, ctrls), nil
}

// Image is the image the app runs in env, the source of a promotion.
func (c Cluster) Image(ctx context.Context, env string) (string, error) {
	ctrls, err := fleet.App(ctx, c.Config, c.Raw, env, c.App, c.Timeout, c.NewClient)
	if err != nil {
		return "", fmt.Errorf("cannot read the image of %q in %s: %w", c.App, env, err)
	}
	return SourceImage(c.App, env, ctrls)
}
