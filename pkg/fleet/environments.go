package fleet

import (
	"context"
	"fmt"
	"strings"
	"time"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/environment"
)

// ContextRow is the environment one context of the kubeconfig serves.
type ContextRow struct {
	Current     bool   `json:"current"`
	Context     string `json:"context"`
	Cluster     string `json:"cluster"`
	Environment string `json:"environment"`
	Namespace   string `json:"namespace"`
	// Status is "ok" or says what went wrong, briefly.
	Status string `json:"status"`
	// Expected is the environment .envops.yaml maps to this context, if any.
	Expected string `json:"expected,omitempty"`
}

// Environments asks every context of raw at once, each within timeout,
// which environment its cluster serves; current marks the current context.
// Every failure is a row's status, never an error.
func Environments(ctx context.Context, cfg *config.Config, raw clientcmdapi.Config, current string, timeout time.Duration, newClient NewClient) []ContextRow {
	names := Contexts(raw)
	expected := map[string]string{}
	for _, env := range cfg.EnvironmentNames() {
		expected[cfg.Environments[env].Context] = env
	}
	base := func(name string) ContextRow {
		row := ContextRow{Current: name == current, Context: name, Cluster: raw.Contexts[name].Cluster, Namespace: "default"}
		if ns := raw.Contexts[name].Namespace; ns != "" {
			row.Namespace = ns
		}
		return row
	}
	// Each gives up on a context at the deadline even when a call does not
	// honour it.
	results := Each(ctx, names, timeout, func(ctx context.Context, name string) (ContextRow, error) {
		return askContext(ctx, base(name), cfg.Secret, timeout, newClient), nil
	})
	rows := make([]ContextRow, len(names))
	for i, r := range results {
		rows[i] = r.Value
		if r.Err != nil {
			rows[i] = base(names[i])
			rows[i].Status = Reason(r.Err, timeout)
		}
		rows[i].Expected = expected[names[i]]
		if rows[i].Expected != "" && rows[i].Environment != "" && rows[i].Expected != rows[i].Environment {
			rows[i].Status = fmt.Sprintf("mismatch: %s maps it to %q", config.FileName, rows[i].Expected)
		}
	}
	return rows
}

// askContext reads one context's environment; every failure becomes the
// row's status.
func askContext(ctx context.Context, row ContextRow, s config.Secret, timeout time.Duration, newClient NewClient) ContextRow {
	client, err := newClient(row.Context, timeout)
	if err != nil {
		row.Status = "invalid: " + oneLine(err.Error())
		return row
	}
	r, err := environment.Inspect(ctx, client, row.Namespace, s)
	if err != nil {
		row.Status = Reason(err, timeout)
		return row
	}
	row.Environment = r.Environment
	switch {
	case !r.Consistent():
		row.Status = "namespaces disagree: " + strings.Join(r.Environments(), ", ")
	case r.Environment == "":
		row.Status = "no environment Secret"
	case r.Source != r.Namespace:
		row.Status = fmt.Sprintf("ok (read from namespace %s)", r.Source)
	default:
		row.Status = "ok"
	}
	return row
}
