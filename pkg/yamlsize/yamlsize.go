// Package yamlsize bounds what a YAML stream costs once parsed. YAML
// aliases let a few hundred bytes stand for billions of nodes ("billion
// laughs"); parsers that expand aliases, as kustomize does, would run out
// of memory. Check measures the expanded size without expanding anything.
package yamlsize

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	yaml "go.yaml.in/yaml/v3"
)

// MaxDocumentBytes bounds one YAML or JSON document; no Kubernetes object
// comes near this size.
const MaxDocumentBytes = 32 << 20

// MaxFileBytes bounds a file handed to kustomize: a resource file may hold
// many documents, but kustomize keeps all of them in memory several times.
const MaxFileBytes = 16 << 20

// MaxExtraNodes bounds how many nodes aliases may add to a document once
// expanded, beyond the document's own size. Anchors in real manifests
// repeat a few small blocks; a bomb adds millions.
const MaxExtraNodes = 200_000

// MaxDepth bounds the nesting of a document once aliases are expanded, as
// the YAML parser bounds the nesting of the text.
const MaxDepth = 10_000

// ErrTooLarge is wrapped by the errors of ReadAll and Check.
var ErrTooLarge = errors.New("too large")

// ReadAll reads r up to limit bytes; more is an error wrapping ErrTooLarge.
func ReadAll(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: more than %d MiB", ErrTooLarge, limit>>20)
	}
	return data, nil
}

// Check parses every document of a YAML stream (JSON included) without
// expanding aliases, and returns an error wrapping ErrTooLarge for the
// first document whose aliases would expand it by more than MaxExtraNodes
// nodes or beyond MaxDepth levels. Syntax errors are not Check's business:
// it stops at the first one and returns nil, leaving the report to the
// parser that comes next.
func Check(data []byte) error {
	if !bytes.Contains(data, []byte{'*'}) {
		// No alias, nothing can expand: the common case costs one scan.
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for doc := 1; ; doc++ {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			return nil
		}
		c := counter{memo: map[*yaml.Node]sized{}, open: map[*yaml.Node]bool{}}
		var own int64
		total := c.size(&n, &own)
		if c.err == nil && total.height > MaxDepth {
			c.err = fmt.Errorf("%w: its aliases nest it more than %d levels deep", ErrTooLarge, MaxDepth)
		}
		if c.err == nil && total.nodes-own > MaxExtraNodes {
			c.err = fmt.Errorf("%w: its aliases expand it by %s nodes, more than %d", ErrTooLarge, count(total.nodes-own), MaxExtraNodes)
		}
		if c.err != nil {
			line := n.Line
			if len(n.Content) > 0 {
				line = n.Content[0].Line
			}
			return fmt.Errorf("document %d at line %d: %w", doc, max(line, 1), c.err)
		}
	}
}

// sized is the size of a node tree with aliases expanded.
type sized struct {
	nodes, height int64
}

// counter sizes node trees. Each node is visited once; the size below an
// anchor is remembered, so an alias costs one lookup however often the
// anchor is used.
type counter struct {
	memo map[*yaml.Node]sized
	// open holds the nodes being sized: an alias to one of them refers
	// to its own anchor, and would expand forever.
	open map[*yaml.Node]bool
	err  error
}

// limit caps sizes so sums cannot overflow; anything past it is refused anyway.
const limit = 1 << 50

// size returns the expanded size of n and adds n's own nodes (an alias
// counts one) to own. The parser has already bounded the nesting of the
// text, so the recursion is bounded too.
func (c *counter) size(n *yaml.Node, own *int64) sized {
	if n == nil || c.err != nil {
		return sized{}
	}
	if n.Kind == yaml.AliasNode {
		*own++
		if n.Alias == nil {
			return sized{1, 1}
		}
		if c.open[n.Alias] {
			c.err = fmt.Errorf("%w: an alias to %q inside its own anchor expands without end", ErrTooLarge, n.Value)
			return sized{}
		}
		if s, ok := c.memo[n.Alias]; ok {
			return s
		}
		// The parser refuses forward references, so an anchor is always
		// sized before its aliases; should it not be, size it without
		// counting its text twice.
		var ignore int64
		return c.size(n.Alias, &ignore)
	}
	if s, ok := c.memo[n]; ok {
		return s
	}
	*own++
	s := sized{1, 1}
	c.open[n] = true
	defer delete(c.open, n)
	for _, ch := range n.Content {
		cs := c.size(ch, own)
		s.nodes = min(s.nodes+cs.nodes, limit)
		s.height = max(s.height, min(cs.height+1, limit))
	}
	if n.Anchor != "" {
		c.memo[n] = s
	}
	return s
}

// count prints a large number briefly.
func count(n int64) string {
	switch {
	case n >= limit:
		return "more than 10^15"
	case n >= 1e9:
		return fmt.Sprintf("%.1f billion", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f million", float64(n)/1e6)
	}
	return fmt.Sprint(n)
}
