package deploy

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/environment"
	"github.com/envops/kubectl-envops/pkg/kube"
	"github.com/envops/kubectl-envops/pkg/rollout"
)

// checkNamespaces runs the environment guard on every namespace: each
// must declare the target's environment, on this cluster. With
// CreateNamespaces, a namespace that does not exist is created, with the
// environment Secret, once the cluster is known to serve the environment.
// Each namespace is checked once per command, however many apps go there.
func (d *Deployer) checkNamespaces(ctx context.Context, namespaces []string, dryRun bool) error {
	for _, ns := range namespaces {
		if _, err := d.checked.do(ctx, ns, func() (struct{}, error) { return struct{}{}, d.checkNamespace(ctx, ns, dryRun) }); err != nil {
			return err
		}
	}
	return nil
}

// Preflight checks the target's own namespace before any app starts, so
// that deploying several apps to a cluster that does not serve the
// environment stops with one error rather than one per app.
func (d *Deployer) Preflight(ctx context.Context, timeout time.Duration, dryRun bool) error {
	ctx, cancel := checkTimeout(ctx, timeout)
	defer cancel()
	return d.checkNamespaces(ctx, []string{d.Target.Namespace}, dryRun)
}

// checkTimeout bounds the checks that run before a deploy touches the
// cluster by --timeout too, so that a server that never answers cannot
// hold the deploy.
func checkTimeout(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	return kube.WithTimeoutCause(ctx, cmp.Or(timeout, rollout.DefaultTimeout), "--timeout")
}

// access checks that the user may deploy in every namespace, once per
// namespace for the whole command, and returns who the user is.
func (d *Deployer) access(ctx context.Context, namespaces []string) (string, error) {
	user := ""
	for _, ns := range namespaces {
		u, err := d.allowed.do(ctx, ns, func() (string, error) {
			d.guardOnce.Do(func() { d.guardFn = d.guard() })
			d.guardMu.Lock()
			defer d.guardMu.Unlock()
			return d.guardFn(ctx, ns, false)
		})
		if err != nil {
			return "", err
		}
		user = u
	}
	return user, nil
}

func (d *Deployer) checkNamespace(ctx context.Context, ns string, dryRun bool) error {
	if d.CreateNamespaces {
		if _, err := d.kube().CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return d.createNamespace(ctx, ns, dryRun)
		}
	}
	return d.Target.VerifyNamespace(ctx, ns)
}

// createNamespace creates ns with the environment Secret, but only on a
// cluster that already declares the target's environment, and nothing
// else, in the namespaces it has: a namespace is created for an
// environment the cluster was set up to serve (init-env), never to make a
// cluster serve one.
func (d *Deployer) createNamespace(ctx context.Context, ns string, dryRun bool) error {
	t := d.Target
	s := t.Config.Secret
	declared, err := environment.Declarations(ctx, t.Client, s)
	if err != nil {
		return fmt.Errorf("context %q: cannot tell which environment the cluster serves before creating namespace %q: %w", t.Context, ns, err)
	}
	found := slices.Compact(slices.Sorted(maps.Values(declared)))
	switch {
	case len(found) == 0:
		return fmt.Errorf("context %q declares no environment in any namespace, so namespace %q is not created for %q: declare the cluster first with \"kubectl envops init-env %s --context %s\"", t.Context, ns, t.Env, t.Env, t.Context)
	case len(found) > 1 || found[0] != t.Env:
		return fmt.Errorf("context %q declares environment %s, not %q, so namespace %q is not created: check with \"kubectl envops env --context %s\"", t.Context, strings.Join(found, ", "), t.Env, ns, t.Context)
	}
	// One declaring namespace proves the Secrets are bound to this cluster.
	for other := range declared {
		if err := t.VerifyNamespace(ctx, other); err != nil {
			return err
		}
		break
	}
	if dryRun {
		return nil
	}
	if _, err := t.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{FieldManager: audit.FieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("context %q: cannot create namespace %q: %w", t.Context, ns, err)
	}
	if _, err := environment.Init(ctx, t.Client, environment.InitRequest{Env: t.Env, Context: t.Context, Namespace: ns, DryRun: cmdutil.DryRunNone, Secret: s, FieldManager: audit.FieldManager}); err != nil {
		return environment.ExplainInit(err, t.Context)
	}
	return t.VerifyNamespace(ctx, ns)
}
