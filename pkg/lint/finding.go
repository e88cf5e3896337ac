// Package lint checks Kubernetes objects against a project's label
// convention. Rules turn objects into findings; readers stream objects from
// files and standard input, rendered kustomizations and live clusters; and
// reporters write findings as text, JSON, SARIF, JUnit or GitHub workflow
// annotations. Nothing here prints: callers choose where reports go.
package lint

import (
	"fmt"
	"strings"
)

// Severity ranks findings; --fail-on compares against it.
type Severity int

// Severities, lowest first.
const (
	SeverityInfo Severity = iota + 1
	SeverityWarning
	SeverityError
)

var severityNames = map[Severity]string{
	SeverityInfo:    "info",
	SeverityWarning: "warning",
	SeverityError:   "error",
}

// String returns the severity's lowercase name.
func (s Severity) String() string {
	if n, ok := severityNames[s]; ok {
		return n
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// MarshalText writes the severity's name, so JSON shows "error", not 3.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ParseSeverity reads a severity name: info, warning or error.
func ParseSeverity(name string) (Severity, error) {
	for s, n := range severityNames {
		if strings.EqualFold(n, name) {
			return s, nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q: use info, warning or error", name)
}

// ObjectRef names the Kubernetes object a finding is about.
type ObjectRef struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name,omitempty"`
}

// String reads like kubectl's "Kind/name" (with the namespace when known).
func (r ObjectRef) String() string {
	kind := r.Kind
	if kind == "" {
		kind = "document"
	}
	if r.Name == "" {
		return kind
	}
	if r.Namespace != "" {
		return kind + "/" + r.Name + " (namespace " + r.Namespace + ")"
	}
	return kind + "/" + r.Name
}

// Source says where objects came from: a file (or "-" for standard
// input), a rendered kustomization, or a live cluster's context and namespace.
type Source struct {
	// File is the path as the user gave it; for rendered objects, the
	// kustomization file they were rendered from.
	File string `json:"file,omitempty"`
	// Context and Namespace locate objects read from a live cluster.
	Context   string `json:"context,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// Label is how reporters title a source.
func (s Source) Label() string {
	switch {
	case s.File == "-":
		return "<stdin>"
	case s.File != "":
		return s.File
	case s.Namespace == "":
		return "context " + s.Context + ", all namespaces"
	default:
		return "context " + s.Context + ", namespace " + s.Namespace
	}
}

// Location pins a finding: the source, and for files the line and column
// of the field at fault (0 when unknown).
type Location struct {
	Source
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
	// Field is the path of the field at fault, e.g. spec.template.metadata.labels.
	Field string `json:"field,omitempty"`
}

// Finding is one violation of a rule by one object.
type Finding struct {
	Rule     string    `json:"rule"`
	Severity Severity  `json:"severity"`
	Message  string    `json:"message"`
	Hint     string    `json:"hint,omitempty"`
	Object   ObjectRef `json:"object"`
	Location Location  `json:"location"`

	// seq and item order findings by the position of their document in
	// the input and of their object in the document (-1: the document itself).
	seq, item int
}
