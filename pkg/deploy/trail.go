package deploy

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/rbac"
	"github.com/envops/kubectl-envops/pkg/rollout"
)

// Trail is the access check and the audit record of one deploy.
type Trail struct {
	Client kubernetes.Interface
	// Guard checks access in a namespace and returns who the user is.
	Guard func(ctx context.Context, namespace string, allNamespaces bool) (string, error)
	// Record is stamped on every controller; Check fills in the user and
	// the time.
	Record  audit.Record
	records []audit.Record
}

// NewTrail prepares the trail of a deploy to env with the deploy role's
// guard; cause is the change cause.
func NewTrail(client kubernetes.Interface, env, cause string) *Trail {
	return &Trail{
		Client: client,
		Guard:  rbac.NewGuard(client, rbac.Deploy).Check,
		Record: audit.Record{Environment: env, Cause: cause},
	}
}

// check refuses, before anything changes, when the user lacks a rule of
// the deploy role in one of the namespaces; then it stamps the audit
// record on the controllers. A client dry run only reads, so it is not
// checked.
func (t *Trail) check(ctx context.Context, namespaces []string, dryRun rollout.DryRun, controllers []*unstructured.Unstructured) error {
	if t == nil {
		return nil
	}
	if dryRun != rollout.DryRunClient {
		for _, ns := range namespaces {
			user, err := t.Guard(ctx, ns, false)
			if err != nil {
				return err
			}
			t.Record.User = user
		}
	}
	t.Record.Time = time.Now()
	t.records = audit.StampControllers(controllers, t.Record)
	return nil
}

// preview stamps the audit record a deploy would write, for a diff; it
// asks who the user is but checks no access.
func (t *Trail) preview(ctx context.Context, controllers []*unstructured.Unstructured) error {
	if t == nil {
		return nil
	}
	user, err := audit.WhoAmI(ctx, t.Client)
	if err != nil {
		return err
	}
	t.Record.User, t.Record.Time = user, time.Now()
	audit.StampControllers(controllers, t.Record)
	return nil
}

// done records a deploy that changed the cluster as Events.
func (t *Trail) done(ctx context.Context, app string, controllers []*unstructured.Unstructured, namespaceOf func(*unstructured.Unstructured) string) error {
	if t == nil || len(t.records) != len(controllers) {
		return nil
	}
	return audit.RecordControllers(ctx, t.Client, app, controllers, t.records, namespaceOf)
}
