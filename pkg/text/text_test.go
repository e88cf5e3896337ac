package text

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain text is left alone", "web-server: ready", "web-server: ready"},
		{"printable non-ASCII is left alone", "café ≥ 3 ✓", "café ≥ 3 ✓"},
		{"a forged CI command on a line of its own", "denied\n::error::pwned", `denied\n::error::pwned`},
		{"carriage return", "ok\rFAIL", `ok\rFAIL`},
		{"ESC: colours and cursor moves", "\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"OSC title with BEL", "\x1b]0;owned\x07", `\x1b]0;owned\x07`},
		{"NUL and DEL", "a\x00b\x7f", `a\x00b\x7f`},
		{"C1 control", "a\u009bb", `a\u009bb`},
		{"right-to-left override", "abc\u202edef", `abc\u202edef`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"invalid UTF-8", "a\xffb", `a\xffb`},
		{"tab", "a\tb", `a\tb`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Escape(tc.in); got != tc.want {
				t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	if got := EscapeKeepingBreaks("a\nb\r\x1b"); got != "a\nb\r\\x1b" {
		t.Errorf("EscapeKeepingBreaks = %q", got)
	}
}

func TestClip(t *testing.T) {
	mb := strings.Repeat("p", 1<<20)
	got := Clip(mb, 64)
	if want := strings.Repeat("p", 64) + "...(1048576 bytes in all)"; got != want {
		t.Errorf("Clip of 1 MiB = %q, want %q", got, want)
	}
	if got := Clip("prod", 64); got != "prod" {
		t.Errorf("Clip(prod) = %q", got)
	}
	// A cut never splits a rune.
	if got := Clip(strings.Repeat("é", 10), 5); !utf8.ValidString(got) || !strings.HasPrefix(got, "éé...") {
		t.Errorf("Clip split a rune: %q", got)
	}
}

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{{0, "0 replicas"}, {1, "1 replica"}, {2, "2 replicas"}} {
		if got := Count(tc.n, "replica"); got != tc.want {
			t.Errorf("Count(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
	if got := Count(int32(1), "ready pod"); got != "1 ready pod" {
		t.Errorf("Count(int32(1)) = %q", got)
	}
}
