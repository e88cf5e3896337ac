package config

import (
	"strings"
	"testing"
)

// FuzzParse loads arbitrary bytes as a project file: nothing may panic,
// every refusal is one line naming the file, and what is accepted is valid.
//
//	go test ./pkg/config -run '^$' -fuzz FuzzParse -fuzztime 1m
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"environments:\n  dev: {context: dev-cluster}\n  prod: {context: prod-cluster, confirm: true}\n",
		"secret: {name: environment, key: environment, mountPath: /etc/secrets}\nlabels:\n  required: [name, app, tier, role]\n  optional: [language]\n  allowed: {tier: [frontend, backend]}\n  name: \"{app}-{role}\"\napps: apps/\n",
		"environments:\n  dev: {context: a, confirm: \"yes\"}\n",
		"kustomize: {remoteResources: false}\n",
		"a: &a [*a, *a]\n",
		"environments: &e {dev: {context: x}}\nlabels: {allowed: *e}\n",
		"---\n---\n",
		"labels: {name: \"{app\"}\n",
		"\t",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "f.yaml")
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "f.yaml") || strings.Contains(msg, "\n") {
				t.Fatalf("error is not one line naming the file: %q", msg)
			}
			return
		}
		if errs := cfg.validate(); len(errs) > 0 {
			t.Fatalf("accepted an invalid configuration: %v", errs)
		}
		for _, name := range cfg.EnvironmentNames() {
			if _, err := cfg.Environment(name); err != nil {
				t.Fatalf("environment %q listed but not found: %v", name, err)
			}
		}
	})
}
