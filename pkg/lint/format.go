package lint

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/envops/kubectl-envops/pkg/text"
)

// Output formats.
const (
	FormatText   = "text"
	FormatJSON   = "json"
	FormatSARIF  = "sarif"
	FormatJUnit  = "junit"
	FormatGitHub = "github"
)

// Formats lists the output formats.
func Formats() []string {
	return []string{FormatText, FormatJSON, FormatSARIF, FormatJUnit, FormatGitHub}
}

// WriteOptions shape a report's output.
type WriteOptions struct {
	// Format is one of Formats().
	Format string
	// Color turns on terminal colours in the text format.
	Color bool
	// FailOn is the severity that fails the run; JUnit counts findings at or
	// above it as failures.
	FailOn Severity
	// ToolVersion is the plugin's version, for SARIF.
	ToolVersion string
}

// Write prints a report in the chosen format.
func Write(w io.Writer, rep *Report, opts WriteOptions) error {
	if opts.FailOn == 0 {
		opts.FailOn = SeverityError
	}
	switch opts.Format {
	case FormatText, "":
		return writeText(w, rep, opts)
	case FormatJSON:
		return writeJSON(w, rep)
	case FormatSARIF:
		return writeSARIF(w, rep, opts)
	case FormatJUnit:
		return writeJUnit(w, rep, opts)
	case FormatGitHub:
		return writeGitHub(w, rep)
	}
	return fmt.Errorf("unknown output format %q: use one of %s", opts.Format, strings.Join(Formats(), ", "))
}

// Summary counts a report's findings by severity.
type Summary struct {
	Objects  int `json:"objects"`
	Sources  int `json:"sources"`
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	Info     int `json:"info"`
	// Skipped counts inputs that were not checked (kustomize Components,
	// FIFOs and devices in a directory).
	Skipped int `json:"skipped,omitempty"`
}

// Summarize counts a report's findings.
func (r *Report) Summarize() Summary {
	s := Summary{Objects: r.Objects, Sources: len(r.Sources), Skipped: len(r.Skipped)}
	for _, f := range r.Findings {
		switch f.Severity {
		case SeverityError:
			s.Errors++
		case SeverityWarning:
			s.Warnings++
		default:
			s.Info++
		}
	}
	return s
}

// writeJSON writes the report as one indented JSON object, a finding at a
// time, so that a report of many findings is never encoded whole in memory.
func writeJSON(w io.Writer, rep *Report) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	indented := func(v any, prefix string) error {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent(prefix, "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return err
		}
		_, err := bw.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
		return err
	}
	bw.WriteString("{\n  \"findings\": [")
	for i := range rep.Findings {
		if i > 0 {
			bw.WriteString(",")
		}
		bw.WriteString("\n    ")
		if err := indented(&rep.Findings[i], "    "); err != nil {
			return err
		}
	}
	if len(rep.Findings) > 0 {
		bw.WriteString("\n  ")
	}
	bw.WriteString("],\n")
	if len(rep.Skipped) > 0 {
		bw.WriteString("  \"skipped\": ")
		if err := indented(rep.Skipped, "  "); err != nil {
			return err
		}
		bw.WriteString(",\n")
	}
	bw.WriteString("  \"summary\": ")
	if err := indented(rep.Summarize(), "  "); err != nil {
		return err
	}
	bw.WriteString("\n}\n")
	return bw.Flush()
}

// groups splits findings by source, keeping input order.
func groups(findings []Finding) [][]Finding {
	var out [][]Finding
	index := map[Source]int{}
	for _, f := range findings {
		i, ok := index[f.Location.Source]
		if !ok {
			i = len(out)
			index[f.Location.Source] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], f)
	}
	return out
}

// position renders "line:column", "line" or "-".
func position(l Location) string {
	switch {
	case l.Line > 0 && l.Column > 0:
		return fmt.Sprintf("%d:%d", l.Line, l.Column)
	case l.Line > 0:
		return fmt.Sprint(l.Line)
	}
	return "-"
}

// ANSI styles for the text format.
const (
	styleBold  = "\x1b[1m"
	styleFaint = "\x1b[2m"
	styleRed   = "\x1b[31m"
	styleYell  = "\x1b[33m"
	styleCyan  = "\x1b[36m"
	styleReset = "\x1b[0m"
)

func writeText(w io.Writer, rep *Report, opts WriteOptions) error {
	paint := func(style, s string) string {
		if !opts.Color {
			return s
		}
		return style + s + styleReset
	}
	sevStyle := map[Severity]string{SeverityError: styleRed, SeverityWarning: styleYell, SeverityInfo: styleCyan}
	// Written as it goes: a report of many findings is not held twice.
	b := bufio.NewWriterSize(w, 64<<10)
	for _, g := range groups(rep.Findings) {
		// Everything that comes from input is escaped before it is painted.
		b.WriteString(paint(styleBold, text.Escape(g[0].Location.Label())) + "\n")
		width := 0
		for _, f := range g {
			width = max(width, len(position(f.Location)))
		}
		indent := strings.Repeat(" ", 2+width+2+7+1)
		for _, f := range g {
			fmt.Fprintf(b, "  %-*s  %s %s: %s  %s\n", width, position(f.Location),
				paint(sevStyle[f.Severity], fmt.Sprintf("%-7s", f.Severity)), text.Escape(f.Object.String()), text.Escape(f.Message), paint(styleFaint, "["+f.Rule+"]"))
			if f.Hint != "" {
				b.WriteString(indent + paint(styleFaint, "fix: "+text.Escape(f.Hint)) + "\n")
			}
		}
		b.WriteString("\n")
	}
	for _, sk := range rep.Skipped {
		fmt.Fprintf(b, "skipped %s: %s\n", text.Escape(sk.Source.Label()), text.Escape(sk.Reason))
	}
	s := rep.Summarize()
	fmt.Fprintf(b, "%s checked in %s", plural(s.Objects, "object"), sourcesNoun(rep.Sources))
	if s.Skipped > 0 {
		fmt.Fprintf(b, " (%d skipped)", s.Skipped)
	}
	b.WriteString(": ")
	if len(rep.Findings) == 0 {
		b.WriteString("no findings\n")
	} else {
		parts := []string{paint(sevStyle[SeverityError], plural(s.Errors, "error")), paint(sevStyle[SeverityWarning], plural(s.Warnings, "warning"))}
		if s.Info > 0 {
			parts = append(parts, paint(sevStyle[SeverityInfo], fmt.Sprintf("%d info", s.Info)))
		}
		b.WriteString(strings.Join(parts, ", ") + "\n")
	}
	return b.Flush()
}

// sourcesNoun says "3 files", "2 namespaces", "2 contexts" or "4 sources".
func sourcesNoun(sources []Source) string {
	files, live, allNamespaces := 0, 0, false
	for _, s := range sources {
		if s.Context != "" {
			live++
			allNamespaces = allNamespaces || s.Namespace == ""
		} else {
			files++
		}
	}
	switch {
	case live == 0:
		return plural(files, "file")
	case files == 0 && allNamespaces:
		return plural(live, "context")
	case files == 0:
		return plural(live, "namespace")
	}
	return plural(len(sources), "source")
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// JSONValue is the report as its json format decodes, for templates.
func JSONValue(rep *Report) (any, error) {
	var buf bytes.Buffer
	if err := writeJSON(&buf, rep); err != nil {
		return nil, err
	}
	var v any
	err := json.Unmarshal(buf.Bytes(), &v)
	return v, err
}
