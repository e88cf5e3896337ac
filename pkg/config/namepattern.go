package config

import (
	"regexp"
	"strings"
)

// NamePattern is the pattern of the name label, such as "{app}-{role}":
// literal text around "{label}" placeholders that other labels fill in.
// It is parsed once, so that filling or matching it needs no regexp.
type NamePattern struct {
	text     string
	literals []string // len(labels)+1 pieces of text around the placeholders
	labels   []string
}

// placeholder matches "{label}" in a name pattern.
var placeholder = regexp.MustCompile(`\{([^{}]*)\}`)

// ParseNamePattern splits a name pattern into its literal text and its
// placeholders. A brace that opens or closes no placeholder stays literal
// text; Unbalanced reports it.
func ParseNamePattern(pattern string) NamePattern {
	p := NamePattern{text: pattern}
	rest := 0
	for _, m := range placeholder.FindAllStringSubmatchIndex(pattern, -1) {
		p.literals = append(p.literals, pattern[rest:m[0]])
		p.labels = append(p.labels, pattern[m[2]:m[3]])
		rest = m[1]
	}
	p.literals = append(p.literals, pattern[rest:])
	return p
}

// String returns the pattern as written.
func (p NamePattern) String() string { return p.text }

// IsZero reports whether there is no pattern: no name label is built or
// checked.
func (p NamePattern) IsZero() bool { return p.text == "" }

// Labels returns the labels of the placeholders, in order.
func (p NamePattern) Labels() []string { return append([]string(nil), p.labels...) }

// Uses reports whether a placeholder names label.
func (p NamePattern) Uses(label string) bool {
	for _, l := range p.labels {
		if l == label {
			return true
		}
	}
	return false
}

// Unbalanced reports whether the literal text holds a brace, which is a
// placeholder written wrongly.
func (p NamePattern) Unbalanced() bool {
	for _, lit := range p.literals {
		if strings.ContainsAny(lit, "{}") {
			return true
		}
	}
	return false
}

// Format fills the placeholders with the values get finds, and returns
// the labels it found no value for, in order.
func (p NamePattern) Format(get func(label string) (string, bool)) (name string, missing []string) {
	var b strings.Builder
	for i, lit := range p.literals {
		b.WriteString(lit)
		if i < len(p.labels) {
			v, found := get(p.labels[i])
			if !found {
				missing = append(missing, p.labels[i])
			}
			b.WriteString(v)
		}
	}
	return b.String(), missing
}

// Match reports whether name is what the pattern gives for the labels get
// finds, and returns that name. When a placeholder has no value the
// pattern says nothing about the name, and Match reports true.
func (p NamePattern) Match(name string, get func(label string) (string, bool)) (want string, ok bool) {
	want, missing := p.Format(get)
	return want, len(missing) > 0 || name == want
}

// Values looks labels up in a map; an empty value counts as none.
func Values(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v := m[k]
		return v, v != ""
	}
}
