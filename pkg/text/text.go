// Package text makes text that comes from outside the process safe to put
// on a terminal or in a CI log: API server messages, Secret values, object
// names, file contents. Every command prints such text through Escape.
package text

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Escape makes s safe to print on a terminal or in a CI log: control
// characters (newlines, ESC, BEL, NUL, C1 codes), bidirectional marks and
// overrides, line separators and invalid UTF-8 are written as Go escapes
// (\n, \x1b, \u202e), so that text cannot start a line of its own
// ("::error::..." is a GitHub Actions command), drive the terminal or
// reorder what is shown. Text with none of these is returned as it is.
func Escape(s string) string { return escape(s, false) }

// EscapeKeepingBreaks is Escape that leaves \n and \r alone, for a format
// that escapes line breaks its own way.
func EscapeKeepingBreaks(s string) string { return escape(s, true) }

func escape(s string, keepBreaks bool) string {
	if isClean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
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
		case Unsafe(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// isClean reports whether s is printable ASCII only, which needs no escape.
func isClean(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			return false
		}
	}
	return true
}

// Unsafe reports the non-ASCII runes that move the cursor, reorder text or
// break lines: C1 controls, bidirectional marks and overrides, the Unicode
// line and paragraph separators, and the byte order mark.
func Unsafe(r rune) bool {
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

// Clip bounds s to its first max bytes, cut at a rune boundary, followed by
// a note of its full size ("...(1048576 bytes in all)"), so that a value of
// any size is never shown whole; s of at most max bytes is returned as it
// is. It does not escape: print the result through Escape.
func Clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s...(%d bytes in all)", s[:cut], len(s))
}

// Count is n and noun, plural when n is not 1: "1 replica", "3 replicas".
// Nouns whose plural is not noun+"s" are not for it.
func Count[N ~int | ~int32 | ~int64](n N, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
