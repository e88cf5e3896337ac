package nodeagent

import (
	"context"
	"errors"
	"testing"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/rollout"
)

// A refused access stops the job before anything is read or written; a
// client dry run only reads, so it asks no access.
func TestJobGuard(t *testing.T) {
	denied := errors.New("denied")
	for _, tc := range []struct {
		dryRun rollout.DryRun
		want   error
	}{{rollout.DryRunNone, denied}, {rollout.DryRunServer, denied}, {rollout.DryRunClient, nil}} {
		client := fake.NewClientset()
		asked := false
		j := &Job{Client: client, Spec: Spec{Name: "agent", Namespace: "mon", Record: &audit.Record{}}, Install: InstallOptions{DryRun: tc.dryRun},
			Guard: func(context.Context, string, bool) (string, error) { asked = true; return "", denied }}
		if err := j.Run(context.Background()); !errors.Is(err, tc.want) || asked != (tc.want != nil) {
			t.Errorf("dry run %v: Run = %v, guard asked %v; want %v", tc.dryRun, err, asked, tc.want)
		}
		if len(client.Actions()) != 0 {
			t.Errorf("dry run %v: the job touched the cluster: %v", tc.dryRun, client.Actions())
		}
	}
}
