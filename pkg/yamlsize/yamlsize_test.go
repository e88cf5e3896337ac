package yamlsize

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	bomb, err := os.ReadFile("testdata/billion-laughs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Each anchor nests the one before: the text is small, the expansion deep.
	var chain strings.Builder
	chain.WriteString("a0: &a0 [x]\n")
	for i := 1; i <= MaxDepth+1; i++ {
		fmt.Fprintf(&chain, "a%d: &a%d [*a%d]\n", i, i, i-1)
	}
	for _, tc := range []struct {
		name    string
		data    string
		refused bool
	}{
		{"billion laughs is refused", string(bomb), true},
		{"a bomb in a later document is refused", "kind: A\n---\n" + string(bomb), true},
		{"an alias chain deeper than the parser allows is refused", chain.String(), true},
		{"an alias inside its own anchor is refused", "a: &a [*a]\n", true},
		{"an alias inside its own anchor further down is refused", "a: &a {b: {c: [1, *a]}}\n", true},
		{"anchors reused a few times pass", "base: &b {image: x, ports: [1, 2, 3]}\none: *b\ntwo: *b\nthree: {<<: *b, image: y}\n", false},
		{"a document without aliases passes", "kind: ConfigMap\ndata: {a: b}\n", false},
		{"a syntax error is left to the next parser", "a: [\n*", false},
		{"an undefined alias is left to the next parser", "a: *nope\n", false},
		{"JSON passes", `{"kind": "List", "items": [{"a": "*"}]}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check([]byte(tc.data))
			if tc.refused != (err != nil) {
				t.Fatalf("Check = %v, want refused=%v", err, tc.refused)
			}
			if err != nil && !errors.Is(err, ErrTooLarge) {
				t.Errorf("error %v does not wrap ErrTooLarge", err)
			}
		})
	}
}

func TestCheckNamesTheDocument(t *testing.T) {
	bomb, _ := os.ReadFile("testdata/billion-laughs.yaml")
	err := Check(append([]byte("kind: A\n---\n"), bomb...))
	if err == nil || !strings.HasPrefix(err.Error(), "document 2 at line 3: too large: its aliases expand it by 490.3 million nodes, more than 200000") {
		t.Fatalf("Check = %v", err)
	}
}

func TestReadAll(t *testing.T) {
	if _, err := ReadAll(strings.NewReader(strings.Repeat("a", 11)), 10); !errors.Is(err, ErrTooLarge) {
		t.Errorf("11 bytes with a limit of 10: %v", err)
	}
	if b, err := ReadAll(strings.NewReader(strings.Repeat("a", 10)), 10); err != nil || len(b) != 10 {
		t.Errorf("10 bytes with a limit of 10: %d bytes, %v", len(b), err)
	}
}

func BenchmarkCheckBomb(b *testing.B) {
	bomb, _ := os.ReadFile("testdata/billion-laughs.yaml")
	b.ReportAllocs()
	for b.Loop() {
		if Check(bomb) == nil {
			b.Fatal("bomb passed")
		}
	}
}
