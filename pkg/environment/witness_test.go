package environment

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/envops/kubectl-envops/pkg/config"
)

func witnessConfig() *config.Config {
	cfg := config.Default()
	cfg.Path = "/p/.envops.yaml"
	cfg.Environments = map[string]config.Environment{
		"dev":     {Context: "envops-dev"},
		"staging": {Context: "shared", Namespace: "staging"},
		"qa":      {Context: "shared", Namespace: "qa"},
		"prod":    {Context: "envops-prod"},
	}
	return cfg
}

func TestMappedTo(t *testing.T) {
	cfg := witnessConfig()
	for _, tc := range []struct {
		context, namespace string
		want               string
	}{
		{"envops-dev", "web", "dev"},
		{"shared", "staging", "staging"},
		{"shared", "web", "qa,staging"},
		{"envops-dev", "elsewhere", "dev"},
		{"elsewhere", "web", ""},
	} {
		if got := strings.Join(MappedTo(cfg, tc.context, tc.namespace), ","); got != tc.want {
			t.Errorf("MappedTo(%s, %s) = %q, want %q", tc.context, tc.namespace, got, tc.want)
		}
	}
}

// TestGuardHearsTheProjectFile runs the guard of "--env prod --context
// envops-dev" on a namespace whose Secret says prod while .envops.yaml maps
// envops-dev to dev: it is refused, naming both witnesses and the ways out.
func TestGuardHearsTheProjectFile(t *testing.T) {
	cfg := witnessConfig()
	client := fake.NewClientset(secret("web", "environment", map[string]string{"environment": "prod"}))
	target := &Target{Env: "prod", Context: "envops-dev", Namespace: "web", Config: cfg, Client: client}
	err := target.Verify(t.Context())
	var we *WitnessError
	if !errors.As(err, &we) {
		t.Fatalf("err = %v; want a WitnessError", err)
	}
	for _, want := range []string{
		`namespace "web" of context "envops-dev" declares environment "prod" in its Secret`,
		`but /p/.envops.yaml maps context "envops-dev" to environment "dev"`,
		`drop --context (/p/.envops.yaml maps "prod" to context "envops-prod")`,
		`kubectl envops init-env dev --force --context envops-dev -n web`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v\nwant it to contain %q", err, want)
		}
	}

	for _, tc := range []struct {
		name                    string
		env, context, namespace string
	}{
		{"the context the project file maps prod to", "prod", "envops-prod", "web"},
		{"a context the project file does not know", "prod", "elsewhere", "web"},
		{"a shared context, in the namespace mapped to the environment", "staging", "shared", "staging"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(secret(tc.namespace, "environment", map[string]string{"environment": tc.env}))
			target := &Target{Env: tc.env, Context: tc.context, Namespace: tc.namespace, Config: cfg, Client: client}
			if err := target.Verify(t.Context()); err != nil {
				t.Errorf("refused: %v", err)
			}
		})
	}
	t.Run("a shared context, in the namespace mapped to another environment", func(t *testing.T) {
		client := fake.NewClientset(secret("qa", "environment", map[string]string{"environment": "staging"}))
		target := &Target{Env: "staging", Context: "shared", Namespace: "qa", Config: cfg, Client: client}
		if err := target.Verify(t.Context()); !errors.As(err, &we) || !strings.Contains(err.Error(), `to environment "qa"`) {
			t.Errorf("err = %v; want a WitnessError naming qa", err)
		}
	})
}
