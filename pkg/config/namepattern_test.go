package config

import (
	"slices"
	"testing"
)

func TestNamePatternParse(t *testing.T) {
	for _, tc := range []struct {
		pattern    string
		labels     []string
		unbalanced bool
	}{
		{pattern: "{app}-{role}", labels: []string{"app", "role"}},
		{pattern: "{app}", labels: []string{"app"}},
		{pattern: "web", labels: nil},
		{pattern: "", labels: nil},
		{pattern: "x{app}{role}y", labels: []string{"app", "role"}},
		{pattern: "{}", labels: []string{""}},
		{pattern: "{app-{role}", labels: []string{"role"}, unbalanced: true},
		{pattern: "{app}}", labels: []string{"app"}, unbalanced: true},
		{pattern: "app}-{role", labels: nil, unbalanced: true},
	} {
		p := ParseNamePattern(tc.pattern)
		if got := p.Labels(); !slices.Equal(got, tc.labels) {
			t.Errorf("%q: labels %q, want %q", tc.pattern, got, tc.labels)
		}
		if p.Unbalanced() != tc.unbalanced {
			t.Errorf("%q: unbalanced = %v, want %v", tc.pattern, p.Unbalanced(), tc.unbalanced)
		}
		if p.String() != tc.pattern {
			t.Errorf("%q: String() = %q", tc.pattern, p.String())
		}
		if p.IsZero() != (tc.pattern == "") {
			t.Errorf("%q: IsZero() = %v", tc.pattern, p.IsZero())
		}
	}
	if p := ParseNamePattern("{app}-{role}"); !p.Uses("role") || p.Uses("tier") {
		t.Errorf("Uses: role %v, tier %v; want true, false", p.Uses("role"), p.Uses("tier"))
	}
}

func TestNamePatternFormat(t *testing.T) {
	p := ParseNamePattern("{app}-{role}")
	name, missing := p.Format(Values(map[string]string{"app": "web", "role": "server"}))
	if name != "web-server" || len(missing) != 0 {
		t.Errorf("got %q, missing %v; want web-server", name, missing)
	}
	if _, missing := p.Format(Values(map[string]string{"app": "web"})); len(missing) != 1 || missing[0] != "role" {
		t.Errorf("missing = %v, want [role]", missing)
	}
	// Values counts an empty value as none; another lookup may not.
	if _, missing := p.Format(Values(map[string]string{"app": "web", "role": ""})); !slices.Equal(missing, []string{"role"}) {
		t.Errorf("an empty value: missing = %v, want [role]", missing)
	}
	present := func(k string) (string, bool) { return "", true }
	if name, missing := p.Format(present); name != "-" || len(missing) != 0 {
		t.Errorf("labels present but empty: got %q, missing %v; want \"-\" and none", name, missing)
	}
	placeholders := func(k string) (string, bool) { return "<" + k + ">", false }
	if name, missing := p.Format(placeholders); name != "<app>-<role>" || !slices.Equal(missing, []string{"app", "role"}) {
		t.Errorf("got %q, missing %v; want <app>-<role>, [app role]", name, missing)
	}
	if name, _ := ParseNamePattern("{app-{role}").Format(Values(map[string]string{"role": "db"})); name != "{app-db" {
		t.Errorf("a stray brace is literal text: got %q, want {app-db", name)
	}
}

func TestNamePatternMatch(t *testing.T) {
	p := ParseNamePattern("{app}-{role}")
	labels := Values(map[string]string{"app": "web", "role": "server"})
	for _, tc := range []struct {
		name string
		get  func(string) (string, bool)
		ok   bool
	}{
		{name: "web-server", get: labels, ok: true},
		{name: "web", get: labels, ok: false},
		{name: "server-web", get: labels, ok: false},
		{name: "anything", get: Values(map[string]string{"app": "web"}), ok: true},
	} {
		want, ok := p.Match(tc.name, tc.get)
		if ok != tc.ok {
			t.Errorf("Match(%q) = %v, want %v", tc.name, ok, tc.ok)
		}
		if tc.get == nil || (!ok && want != "web-server") {
			t.Errorf("Match(%q) wants %q, want web-server", tc.name, want)
		}
	}
}
