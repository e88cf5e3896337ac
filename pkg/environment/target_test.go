package environment

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/envops/kubectl-envops/pkg/config"
)

func TestConfirmTyped(t *testing.T) {
	tests := []struct {
		name  string
		input string
		ok    bool
	}{
		{"exact name", "prod\n", true},
		{"surrounding spaces are forgiven", "  prod \n", true},
		{"no newline at end of input", "prod", true},
		{"another word", "yes\n", false},
		{"empty answer", "\n", false},
		{"end of input", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := ConfirmTyped(strings.NewReader(tt.input), &out, "prod", `about to deploy web in environment "prod"`)
			if (err == nil) != tt.ok {
				t.Errorf("ConfirmTyped(%q) = %v, want ok=%v", tt.input, err, tt.ok)
			}
			if !strings.Contains(out.String(), `Type "prod" to continue`) {
				t.Errorf("prompt = %q", out.String())
			}
		})
	}
}

func TestNewTargetAndCheckContext(t *testing.T) {
	mapped := &config.Config{Path: "/p/.envops.yaml", Environments: map[string]config.Environment{"prod": {Context: "prod-ctx"}}}
	if _, err := NewTarget(mapped, ""); err == nil || !strings.Contains(err.Error(), "--env is required") || !strings.Contains(err.Error(), "one of prod") {
		t.Errorf("no env: %v, want --env is required naming prod", err)
	}
	if _, err := NewTarget(mapped, "staging"); err == nil {
		t.Error("an environment the project file does not map was accepted")
	}
	tg, err := NewTarget(mapped, "prod")
	if err != nil || !tg.Mapped || tg.Mapping.Context != "prod-ctx" {
		t.Fatalf("prod: %+v, %v; want the mapping of prod", tg, err)
	}
	tg.Context = "prod-ctx"
	raw := clientcmdapi.Config{Contexts: map[string]*clientcmdapi.Context{"dev-ctx": {}}}
	if err := tg.CheckContext(raw); err == nil || !strings.Contains(err.Error(), `maps to context "prod-ctx" in /p/.envops.yaml`) {
		t.Errorf("missing mapped context: %v", err)
	}
	raw.Contexts["prod-ctx"] = &clientcmdapi.Context{}
	if err := tg.CheckContext(raw); err != nil {
		t.Errorf("present context: %v", err)
	}
	// Without any mapping, the current context serves and the guard decides.
	tg, err = NewTarget(&config.Config{}, "dev")
	if err != nil || tg.Mapped {
		t.Fatalf("unmapped: %+v, %v", tg, err)
	}
	if err := tg.CheckContext(clientcmdapi.Config{}); err == nil || !strings.Contains(err.Error(), "no current context") {
		t.Errorf("no current context: %v", err)
	}
}

func TestConfirmWithoutATerminalNeedsYes(t *testing.T) {
	tg := &Target{Env: "prod", Context: "prod-ctx", Mapping: config.Environment{Confirm: true}, Config: &config.Config{Path: "/p/.envops.yaml"}}
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	if err := tg.Confirm(streams, false, "deploy web"); !errors.Is(err, ErrNeedsYes) {
		t.Errorf("Confirm = %v, want ErrNeedsYes", err)
	}
	if err := tg.Confirm(streams, true, "deploy web"); err != nil {
		t.Errorf("Confirm with --yes = %v", err)
	}
}
