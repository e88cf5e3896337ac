package text

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzEscape checks, for any input, that Escape's output is valid UTF-8
// with no control character, no rune that moves or reorders text, and so
// no second line; that text needing no escape is returned as it is; and
// that Clip's output is bounded.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "web", "a\nb", "\x1b]0;t\x07", "\u202e", "\xff\xfe", "::error::x", "café", "a\u2028b\r\n\t"} {
		f.Add(s, 8)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		out := Escape(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Escape(%q) = %q: not valid UTF-8", s, out)
		}
		for _, r := range out {
			if r < 0x20 || r == 0x7f || Unsafe(r) {
				t.Fatalf("Escape(%q) = %q: holds %U", s, out, r)
			}
		}
		if isClean(s) && out != s {
			t.Fatalf("Escape(%q) = %q: changed clean text", s, out)
		}
		if !strings.ContainsAny(s, "\\") && strings.Count(out, `\`) < countUnsafe(s) {
			t.Fatalf("Escape(%q) = %q: fewer escapes than unsafe characters", s, out)
		}
		kept := EscapeKeepingBreaks(s)
		if strings.Count(kept, "\n") != strings.Count(s, "\n") {
			t.Fatalf("EscapeKeepingBreaks(%q) = %q: line breaks changed", s, kept)
		}
		if max < 0 || max > 1<<16 {
			return
		}
		c := Clip(s, max)
		if len(s) <= max && c != s || len(s) > max && (len(c) > max+len("...(bytes in all)")+20 || !strings.HasPrefix(s, strings.SplitN(c, "...(", 2)[0])) {
			t.Fatalf("Clip(%q, %d) = %q", s, max, c)
		}
	})
}

// countUnsafe counts what Escape must escape in s.
func countUnsafe(s string) int {
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r < 0x20 || r == 0x7f || Unsafe(r) {
			n++
		}
		i += size
	}
	return n
}
