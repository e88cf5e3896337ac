package lint

import (
	"fmt"
	"io"
	"strings"

	"github.com/envops/kubectl-envops/pkg/text"
)

// writeGitHub prints GitHub Actions workflow commands, which the runner
// turns into annotations on the file and line of each finding.
func writeGitHub(w io.Writer, rep *Report) error {
	var b strings.Builder
	for _, f := range rep.Findings {
		cmd := map[Severity]string{SeverityError: "error", SeverityWarning: "warning"}[f.Severity]
		if cmd == "" {
			cmd = "notice"
		}
		var props []string
		if f.Location.File != "" && f.Location.File != "-" {
			props = append(props, "file="+escapeProperty(text.Escape(f.Location.File)))
			if f.Location.Line > 0 {
				props = append(props, fmt.Sprintf("line=%d", f.Location.Line))
			}
			if f.Location.Column > 0 {
				props = append(props, fmt.Sprintf("col=%d", f.Location.Column))
			}
		}
		props = append(props, "title="+escapeProperty("envops lint: "+f.Rule))
		msg := f.Message
		if f.Object.Kind != "" {
			msg = f.Object.String() + ": " + msg
		}
		if f.Location.Context != "" {
			msg = f.Location.Label() + ": " + msg
		}
		if f.Hint != "" {
			msg += "\nfix: " + f.Hint
		}
		// Line breaks become %0A below; other control characters (ESC)
		// would reach the log raw.
		msg = text.EscapeKeepingBreaks(msg)
		fmt.Fprintf(&b, "::%s %s::%s\n", cmd, strings.Join(props, ","), escapeData(msg))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// escapeData escapes a workflow command's message.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// escapeProperty escapes a workflow command's property value.
func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
