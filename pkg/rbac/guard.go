package rbac

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"

	"github.com/envops/kubectl-envops/pkg/audit"
)

// Guard is the check a command that writes runs before it changes
// anything: it learns who the user is (for the audit record) and refuses,
// naming the missing verb and resource, when the user lacks a rule of Use.
type Guard struct {
	Client kubernetes.Interface
	Use    Use

	user  string
	asked bool
}

// NewGuard returns the guard of use over client.
func NewGuard(client kubernetes.Interface, use Use) *Guard {
	return &Guard{Client: client, Use: use}
}

// Check checks namespace ("" with allNamespaces: every namespace) and
// returns who the user is. A command that checks several namespaces asks
// who the user is only once; a server that will not say is no refusal.
func (g *Guard) Check(ctx context.Context, namespace string, allNamespaces bool) (string, error) {
	if !g.asked {
		user, err := audit.WhoAmI(ctx, g.Client)
		if err != nil && !apierrors.IsForbidden(err) && !apierrors.IsNotFound(err) {
			return "", err
		}
		g.user, g.asked = user, true
	}
	if err := Check(ctx, g.Client, g.Use, namespace, allNamespaces, g.user); err != nil {
		return "", err
	}
	return g.user, nil
}
