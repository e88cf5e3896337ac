package lint

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// EscapeText makes a value read from input safe to print on a terminal or
// in a CI log: control characters (newlines, ESC, C1 codes), bidirectional
// overrides, line separators and invalid UTF-8 are written as Go escapes,
// so that a name cannot start a line of its own ("::warning ..." is a
// GitHub Actions command) or drive the terminal.
func EscapeText(s string) string { return escapeText(s, false) }

// escapeText escapes as EscapeText does; keepBreaks leaves \n and \r for a
// format that escapes them its own way.
func escapeText(s string, keepBreaks bool) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case keepBreaks && (r == '\n' || r == '\r'):
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// unsafeRune reports the non-ASCII runes that move the cursor, reorder text
// or break lines: C1 controls, bidirectional marks and overrides, and the
// Unicode line and paragraph separators.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r < 0xa0,
		r == 0x061c, r == 0x200e, r == 0x200f,
		r >= 0x202a && r <= 0x202e,
		r >= 0x2066 && r <= 0x2069,
		r == 0x2028, r == 0x2029, r == 0xfeff:
		return true
	}
	return false
}
