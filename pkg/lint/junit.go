package lint

import (
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/envops/kubectl-envops/pkg/text"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	SystemOut *junitText    `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"`
}

// junitText keeps line breaks readable in CI viewers.
type junitText struct {
	Text string `xml:",cdata"`
}

// objectKey identifies one object of the input.
type objectKey struct{ seq, item int }

// writeJUnit writes a test suite per source and a test case per object:
// findings at or above FailOn fail the case, lower ones are its output,
// and a document that cannot be read is an errored case.
func writeJUnit(w io.Writer, rep *Report, opts WriteOptions) error {
	byObject := map[objectKey][]Finding{}
	for _, f := range rep.Findings {
		k := objectKey{f.seq, f.item}
		byObject[k] = append(byObject[k], f)
	}
	type entry struct {
		key  objectKey
		name string
		src  Source
	}
	var entries []entry
	listed := map[objectKey]bool{}
	for _, c := range rep.Checked {
		k := objectKey{c.seq, c.item}
		listed[k] = true
		entries = append(entries, entry{key: k, name: text.Escape(c.Object.String()), src: c.Location.Source})
	}
	for _, f := range rep.Findings {
		k := objectKey{f.seq, f.item}
		if listed[k] {
			continue
		}
		listed[k] = true
		name := text.Escape(f.Object.String())
		if f.item < 0 && f.Location.Line > 0 {
			name = fmt.Sprintf("document at line %d", f.Location.Line)
		} else if f.item < 0 {
			name = text.Escape(f.Location.Label())
		}
		entries = append(entries, entry{key: k, name: name, src: f.Location.Source})
	}
	suiteIndex := map[Source]int{}
	out := junitSuites{Name: "kubectl envops lint"}
	for _, s := range rep.Sources {
		if _, ok := suiteIndex[s]; !ok {
			suiteIndex[s] = len(out.Suites)
			out.Suites = append(out.Suites, junitSuite{Name: text.Escape(s.Label())})
		}
	}
	sort.SliceStable(entries, func(i, j int) bool {
		a, b := entries[i].key, entries[j].key
		return a.seq < b.seq || (a.seq == b.seq && a.item < b.item)
	})
	for _, e := range entries {
		i, ok := suiteIndex[e.src]
		if !ok {
			i = len(out.Suites)
			suiteIndex[e.src] = i
			out.Suites = append(out.Suites, junitSuite{Name: text.Escape(e.src.Label())})
		}
		suite := &out.Suites[i]
		tc := junitCase{Name: e.name, ClassName: suite.Name}
		var failing, other []string
		var first Finding
		for _, f := range byObject[e.key] {
			// Control characters are not allowed in XML, even as CDATA.
			line := fmt.Sprintf("%s: %s [%s]", position(f.Location), text.Escape(f.Message), f.Rule)
			if f.Hint != "" {
				line += "\n  fix: " + text.Escape(f.Hint)
			}
			if f.Severity >= opts.FailOn || f.Rule == RuleInvalidDocument {
				if len(failing) == 0 {
					first = f
				}
				failing = append(failing, line)
			} else {
				other = append(other, f.Severity.String()+" "+line)
			}
		}
		if len(failing) > 0 {
			p := &junitProblem{Message: text.Escape(first.Message), Type: first.Rule, Text: strings.Join(failing, "\n")}
			if first.Rule == RuleInvalidDocument {
				tc.Error = p
				suite.Errors++
			} else {
				tc.Failure = p
				suite.Failures++
			}
		}
		if len(other) > 0 {
			tc.SystemOut = &junitText{Text: strings.Join(other, "\n")}
		}
		suite.Tests++
		suite.Cases = append(suite.Cases, tc)
	}
	for _, s := range out.Suites {
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Errors += s.Errors
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
