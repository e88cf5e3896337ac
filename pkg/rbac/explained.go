package rbac

import (
	"errors"
	"regexp"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// ExplainedError is a refusal by the API server whose message already says
// which role grants the access; it is shown as it is, not reworded.
type ExplainedError struct{ Err error }

func (e *ExplainedError) Error() string { return e.Err.Error() }
func (e *ExplainedError) Unwrap() error { return e.Err }

// forbiddenMessage matches the API server's RBAC refusal, for example
// `User "system:serviceaccount:ci:envops" cannot get resource "secrets" in
// API group "" in the namespace "web"`.
var forbiddenMessage = regexp.MustCompile(`User "([^"]*)" cannot (\S+) resource "([^"]+)" in API group "([^"]*)" (?:in the namespace "([^"]*)"|at the cluster scope)`)

// Explain rewords an RBAC refusal from the API server as one line that names
// the missing verb and resource, who was refused, and the command that
// grants u ("" for none). Errors that already say so (DeniedError,
// ExplainedError), and any other error, are returned unchanged.
func Explain(err error, u Use) error {
	var denied *DeniedError
	var explained *ExplainedError
	var status apierrors.APIStatus
	if errors.As(err, &denied) || errors.As(err, &explained) || !apierrors.IsForbidden(err) || !errors.As(err, &status) {
		return err
	}
	m := forbiddenMessage.FindStringSubmatch(status.Status().Message)
	if m == nil {
		return err
	}
	user, verb, resource, group, ns := m[1], m[2], m[3], m[4], m[5]
	gr := resource
	if group != "" {
		gr = resource + "." + group
	}
	fix := ""
	if u != "" {
		fix = Fix(u, ns, user)
	}
	return errors.New(Message(verb, gr, ns, !strings.Contains(m[0], "in the namespace"), user, fix))
}
