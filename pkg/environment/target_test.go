package environment

import (
	"bytes"
	"strings"
	"testing"
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
