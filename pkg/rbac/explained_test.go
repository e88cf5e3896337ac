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
			`forbidden: cannot get resource "secrets" in namespace "web" as "bob"; ask an admin to run "kubectl envops rbac --for init-env -n web --apply"`},
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
