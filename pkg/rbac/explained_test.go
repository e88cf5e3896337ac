package rbac

import (
	"errors"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestExplain(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "environment",
		errors.New(`User "bob" cannot get resource "secrets" in API group "" in the namespace "web"`))
	explained := &ExplainedError{Err: fmt.Errorf("context %q: %w; ask for the init-env role", "prod", forbidden)}
	tests := []struct {
		name string
		err  error
		use  Use
		want string
	}{
		{"a bare refusal names the fix", fmt.Errorf("reading: %w", forbidden), InitEnv,
			`forbidden: cannot get resource "secrets" in namespace "web" as "bob"; ask an admin to create the roles with "kubectl envops rbac --for init-env -n web --apply" and bind them to user "bob" with "kubectl create rolebinding envops-init-env:bob -n web --role envops-init-env --user bob" and "kubectl create clusterrolebinding envops-init-env-cluster:bob --clusterrole envops-init-env-cluster --user bob"`},
		{"a refusal without a use", forbidden, "", `forbidden: cannot get resource "secrets" in namespace "web" as "bob"; ask an admin to grant it`},
		{"an explained refusal is kept", explained, InitEnv, explained.Error()},
		{"other errors are kept", errors.New("boom"), Deploy, "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Explain(tt.err, tt.use); got.Error() != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// The fix names who was refused: a service account of the namespace by
// --service-account (the rbac command binds "envops" without it), anyone
// else by the bindings to add to the roles the rbac command writes.
func TestFixNamesWhoWasRefused(t *testing.T) {
	for _, tc := range []struct {
		name, namespace, user, want string
	}{
		{"a service account of the namespace", "web", "system:serviceaccount:web:ci",
			`ask an admin to run "kubectl envops rbac --for deploy -n web --service-account ci --apply"`},
		{"a service account, cluster-wide", "", "system:serviceaccount:ops:ci",
			`ask an admin to run "kubectl envops rbac --for deploy --cluster-wide -n ops --service-account ci --apply"`},
		{"a service account of another namespace", "web", "system:serviceaccount:ops:ci",
			`ask an admin to create the roles with "kubectl envops rbac --for deploy -n web --apply" and bind them to service account ops/ci with ` +
				`"kubectl create rolebinding envops-deploy:ops:ci -n web --role envops-deploy --serviceaccount ops:ci" and ` +
				`"kubectl create clusterrolebinding envops-deploy-cluster:ops:ci --clusterrole envops-deploy-cluster --serviceaccount ops:ci"`},
		{"a person", "web", "alice@example.com",
			`ask an admin to create the roles with "kubectl envops rbac --for deploy -n web --apply" and bind them to user "alice@example.com" with ` +
				`"kubectl create rolebinding envops-deploy:alice@example.com -n web --role envops-deploy --user alice@example.com" and ` +
				`"kubectl create clusterrolebinding envops-deploy-cluster:alice@example.com --clusterrole envops-deploy-cluster --user alice@example.com"`},
		{"nobody known", "web", "", `ask an admin to run "kubectl envops rbac --for deploy -n web --apply"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Fix(Deploy, tc.namespace, tc.user); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
