package cmd

import (
	"errors"
	"regexp"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/envops/kubectl-envops/pkg/rbac"
)

// forbiddenMessage matches the API server's RBAC refusal, for example
// `User "system:serviceaccount:ci:envops" cannot get resource "secrets" in
// API group "" in the namespace "web"`.
var forbiddenMessage = regexp.MustCompile(`User "([^"]*)" cannot (\S+) resource "([^"]+)" in API group "([^"]*)" (?:in the namespace "([^"]*)"|at the cluster scope)`)

// useOf maps a command path to the rbac use that grants it ("" for none).
func useOf(commandPath string) rbac.Use {
	for _, f := range strings.Fields(commandPath) {
		if u, err := rbac.ParseUse(f); err == nil && u != rbac.All {
			return u
		}
	}
	return ""
}

// translateError turns an RBAC refusal from the API server into one line
// that names the missing verb and resource, who was refused, and the
// command that grants access. Other errors are returned unchanged.
func translateError(err error, commandPath string) error {
	// Errors that already say what is denied and how to get it stay as
	// the command wrote them.
	var denied *rbac.DeniedError
	if err == nil || errors.As(err, &denied) || !apierrors.IsForbidden(err) || strings.Contains(err.Error(), "kubectl envops rbac") {
		return err
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
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
	if u := useOf(commandPath); u != "" {
		fix = rbac.FixCommand(u, ns)
	}
	clusterScoped := !strings.Contains(m[0], "in the namespace")
	return &ExitCodeError{Code: exitCodeFor(err), Err: errors.New(rbac.Message(verb, gr, ns, clusterScoped, user, fix))}
}

// exitCodeFor keeps a specific exit code the command chose.
func exitCodeFor(err error) int {
	var ec *ExitCodeError
	if errors.As(err, &ec) {
		return ec.Code
	}
	return ExitError
}
