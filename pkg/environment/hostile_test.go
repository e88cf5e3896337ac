package environment

import (
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"
)

// TestValuesAreBounded checks that a Secret of a megabyte comes back cut,
// with a note of its size, from every reader of the value, and that the
// guard still refuses it.
func TestValuesAreBounded(t *testing.T) {
	huge := secret("web", "environment", map[string]string{"environment": strings.Repeat("p", 1<<20)})
	client := fake.NewClientset(huge, namespace("web"))
	want := strings.Repeat("p", MaxValueShown) + "...(1048576 bytes in all)"
	if got, err := Read(t.Context(), client, "web", defaultSecret); err != nil || got != want {
		t.Errorf("Read = %.120q, %v; want %q", got, err, want)
	}
	declared, err := Declarations(t.Context(), client, defaultSecret)
	if err != nil || declared["web"] != want {
		t.Errorf("Declarations = %.120q, %v", declared["web"], err)
	}
	err = Verify(t.Context(), client, "web", "prod", defaultSecret)
	if err == nil || len(err.Error()) > 1000 || !strings.Contains(err.Error(), "1048576 bytes in all") {
		t.Errorf("Verify = %.300v; want a mismatch of bounded length", err)
	}
	if got := Sanitize(huge, defaultSecret).Data["environment"]; string(got) != want {
		t.Errorf("Sanitize kept %d bytes", len(got))
	}
}

// TestControlCharactersInAValueAreQuotedByTheGuard reads
// testdata/hostile/control-characters.yaml: the guard's line shows the
// value escaped.
func TestControlCharactersInAValueAreQuotedByTheGuard(t *testing.T) {
	data, err := os.ReadFile("testdata/hostile/control-characters.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var s corev1.Secret
	if err := yaml.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset(&s)
	err = Verify(t.Context(), client, "web", "dev", defaultSecret)
	if err == nil || strings.ContainsAny(err.Error(), "\x1b\x00") || !strings.Contains(err.Error(), `"dev\x1b[2J\x00"`) {
		t.Errorf("Verify = %q; want a mismatch quoting the value escaped", err)
	}
}
