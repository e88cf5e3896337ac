package lint

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/envops/kubectl-envops/pkg/yamlsize"
)

// errTooLarge is a document, YAML or JSON, that outgrows MaxDocumentBytes.
var errTooLarge = fmt.Errorf("document is larger than %d MiB", MaxDocumentBytes>>20)

// MaxDocumentBytes bounds one YAML or JSON document. A larger one is
// reported as invalid and skipped without being held in memory: no single
// Kubernetes object comes near this size.
const MaxDocumentBytes = yamlsize.MaxDocumentBytes

// document is one YAML document of a stream, or a stream of JSON values.
type document struct {
	src Source
	// firstLine is the line of the stream the document starts on.
	firstLine int
	data      []byte
	// tooLarge is set, and data empty, when the document exceeded MaxDocumentBytes.
	tooLarge bool
	// kustomization marks a document read from a kustomization file.
	kustomization bool
	seq           int
	// errMsg, when set, is why the document cannot be read, with errHint.
	errMsg, errHint string
	// list ties the items of a streamed List to its end marker (listEnd),
	// which carries the object itself when it turned out not to be a List.
	list     *listState
	listItem bool
	listEnd  bool
}

// splitDocuments reads a YAML stream line by line and calls emit with each
// non-blank document and the line it starts on, so that only one document
// is in memory at a time. Lines of any length are handled. A document
// larger than MaxDocumentBytes is emitted as too large and ends the
// reading: the input may never end (/dev/zero, "yes"), and no separator
// need ever come.
func splitDocuments(r io.Reader, emit func(firstLine int, data []byte, tooLarge bool) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	lineNo, first := 1, 1
	atLineStart, tooLarge := true, false
	flush := func() error {
		defer func() { buf, tooLarge = buf[:0], false }()
		if tooLarge {
			return emit(first, nil, true)
		}
		if blank(buf) {
			return nil
		}
		// The worker owns the bytes it is handed.
		return emit(first, append([]byte(nil), buf...), false)
	}
	for {
		chunk, err := br.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) && !errors.Is(err, io.EOF) {
			return err
		}
		if len(chunk) > 0 {
			if atLineStart {
				if rest, ok := separator(chunk); ok {
					if ferr := flush(); ferr != nil {
						return ferr
					}
					first = lineNo + 1
					if len(rest) > 0 {
						// Content after "---" on the same line starts the document.
						first = lineNo
						buf = append(buf, rest...)
					}
					chunk = nil
				}
			}
			if len(chunk) > 0 {
				if len(buf)+len(chunk) > MaxDocumentBytes {
					tooLarge = true
					return flush()
				}
				buf = append(buf, chunk...)
			}
		}
		atLineStart = len(chunk) == 0 || chunk[len(chunk)-1] == '\n'
		if atLineStart && err == nil {
			lineNo++
		}
		if errors.Is(err, io.EOF) {
			return flush()
		}
	}
}

// separator reports whether a line is a document marker ("---" or "..."),
// and returns any content following "---" on the same line.
func separator(line []byte) ([]byte, bool) {
	if len(line) < 3 {
		return nil, false
	}
	marker := string(line[:3])
	if marker != "---" && marker != "..." {
		return nil, false
	}
	rest := line[3:]
	if len(rest) > 0 && rest[0] != ' ' && rest[0] != '\t' && rest[0] != '\n' && rest[0] != '\r' {
		return nil, false
	}
	trimmed := bytes.TrimSpace(rest)
	if marker == "..." || len(trimmed) == 0 || trimmed[0] == '#' {
		return nil, true
	}
	return bytes.TrimLeft(rest, " \t"), true
}

// blank reports whether a document holds only whitespace, comments and directives.
func blank(data []byte) bool {
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' && line[0] != '%' {
			return false
		}
	}
	return true
}

// kustomizationNames are the file names kustomize looks for, in its order.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// isKustomizationFile reports whether a path names a kustomization file.
func isKustomizationFile(path string) bool {
	return slices.Contains(kustomizationNames, filepath.Base(path))
}

// parseDocument turns a document into objects, expanding List kinds; a
// document that cannot be read becomes one invalid-document finding.
func parseDocument(d document) (objs []*Object, bad *Finding) {
	// The YAML parser is third-party code fed untrusted input: should it
	// panic, the document is reported rather than the run lost.
	defer func() {
		if r := recover(); r != nil {
			objs, bad = nil, invalidDocument(d.src, d.firstLine, fmt.Sprintf("the YAML parser failed on this document: %v", r),
				"check the document's syntax")
		}
	}()
	if d.errMsg != "" {
		return nil, invalidDocument(d.src, d.firstLine, d.errMsg, d.errHint)
	}
	if d.listEnd && d.data == nil {
		return nil, nil
	}
	if d.tooLarge {
		return nil, invalidDocument(d.src, d.firstLine, errTooLarge.Error(),
			"split it into smaller documents separated by ---; the rest of this input was not read")
	}
	// JSON is YAML, but a stream of JSON values is not one YAML document;
	// kubectl reads such streams, so JSON goes through a JSON decoder.
	if trimmed := bytes.TrimLeft(d.data, " \t\r\n"); looksLikeJSON(trimmed) {
		return parseJSON(d)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(d.data, &doc); err != nil {
		line, msg := yamlErrorLine(err)
		return nil, invalidDocument(d.src, d.firstLine+max(line, 1)-1, "cannot parse YAML: "+msg,
			"fix the YAML syntax at this line")
	}
	return rootObjects(d, &doc, d.firstLine)
}

// looksLikeJSON tells JSON from YAML flow style by a quoted first key.
func looksLikeJSON(data []byte) bool {
	if len(data) == 0 || (data[0] != '{' && data[0] != '[') {
		return false
	}
	rest := bytes.TrimLeft(data[1:], " \t\r\n")
	return len(rest) == 0 || rest[0] == '"' || rest[0] == '}' || rest[0] == ']' || rest[0] == '{'
}

// parseJSON reads a stream of JSON values (as kubectl does), each an object or a List.
func parseJSON(d document) ([]*Object, *Finding) {
	dec := json.NewDecoder(bytes.NewReader(d.data))
	var objs []*Object
	line, counted := d.firstLine, 0
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			at := int(dec.InputOffset())
			var se *json.SyntaxError
			if errors.As(err, &se) {
				at = int(se.Offset)
			}
			at = min(at, len(d.data))
			errLine := line + bytes.Count(d.data[counted:max(at, counted)], []byte("\n"))
			return objs, invalidDocument(d.src, errLine, "cannot parse JSON: "+err.Error(), "fix the JSON syntax at this line")
		}
		end := int(dec.InputOffset())
		start := end - len(raw)
		line += bytes.Count(d.data[counted:start], []byte("\n"))
		counted = start
		var doc yaml.Node
		if yerr := yaml.Unmarshal(raw, &doc); yerr != nil {
			// Valid JSON that the YAML parser refuses (tabs, for one): decode
			// it as JSON and point every finding at the value's first line.
			var v any
			if jerr := json.Unmarshal(raw, &v); jerr != nil {
				return objs, invalidDocument(d.src, line, "cannot parse JSON: "+jerr.Error(), "fix the JSON syntax at this line")
			}
			doc = yaml.Node{}
			if eerr := doc.Encode(v); eerr != nil {
				return objs, invalidDocument(d.src, line, "cannot read JSON value: "+eerr.Error(), "check the value at this line")
			}
			setLines(&doc, 1, map[*yaml.Node]bool{})
		}
		more, f := rootObjects(d, &doc, line)
		objs = append(objs, more...)
		if f != nil {
			return objs, f
		}
	}
}

// setLines gives every node the same position.
func setLines(n *yaml.Node, line int, seen map[*yaml.Node]bool) {
	if n == nil || seen[n] {
		return
	}
	seen[n] = true
	n.Line, n.Column = line, 1
	for _, c := range n.Content {
		setLines(c, line, seen)
	}
}

// rootObjects checks a parsed document's shape and expands List kinds.
func rootObjects(d document, doc *yaml.Node, firstLine int) ([]*Object, *Finding) {
	root := doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, nil
		}
		root = root.Content[0]
	}
	root = resolve(root)
	if isNull(root) {
		return nil, nil
	}
	lineOf := func(n *yaml.Node) int {
		if n.Line == 0 {
			return firstLine
		}
		return firstLine + n.Line - 1
	}
	if root.Kind != yaml.MappingNode {
		return nil, invalidDocument(d.src, lineOf(root), fmt.Sprintf("document is a %s, not a Kubernetes object", yamlType(root)),
			"make the document a mapping with apiVersion, kind and metadata")
	}
	if dup, first := duplicateKey(root, 0); dup != nil {
		return nil, invalidDocument(d.src, lineOf(dup), fmt.Sprintf("key %q appears twice in one mapping (first at line %d)", dup.Value, lineOf(first)),
			"remove one of the two keys; kubectl would refuse this document")
	}
	obj := &Object{Node: root, Source: d.src, FirstLine: firstLine, kustomization: d.kustomization}
	kind, _ := scalar(second(lookup(root, "kind")))
	_, items := lookup(root, "items")
	// The items of a List are objects, not Lists to expand again.
	if d.listItem || !strings.HasSuffix(kind, "List") || items == nil || items.Kind != yaml.SequenceNode {
		return []*Object{obj}, nil
	}
	objs := make([]*Object, 0, len(items.Content))
	for _, it := range items.Content {
		it = resolve(it)
		if it == nil || it.Kind != yaml.MappingNode {
			return objs, invalidDocument(d.src, lineOf(it), kind+" item is not an object", "make every item a mapping with apiVersion, kind and metadata")
		}
		objs = append(objs, &Object{Node: it, Source: d.src, FirstLine: firstLine})
	}
	return objs, nil
}

// maxCheckDepth bounds the duplicate-key walk; the YAML parser itself
// refuses documents nested deeper than this.
const maxCheckDepth = 10000

// duplicateKey finds the first key that appears twice in one mapping, and
// the key it repeats. Aliases are not followed, so shared anchors are
// checked once.
func duplicateKey(n *yaml.Node, depth int) (dup, first *yaml.Node) {
	if n == nil || depth > maxCheckDepth {
		return nil, nil
	}
	if n.Kind == yaml.MappingNode {
		if len(n.Content) <= 16 {
			for i := 0; i+1 < len(n.Content); i += 2 {
				for j := 0; j < i; j += 2 {
					if n.Content[i].Kind == yaml.ScalarNode && n.Content[i].Tag != "!!merge" && n.Content[i].Value == n.Content[j].Value && n.Content[j].Kind == yaml.ScalarNode {
						return n.Content[i], n.Content[j]
					}
				}
			}
		} else {
			seen := make(map[string]*yaml.Node, len(n.Content)/2)
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
					continue
				}
				if f, ok := seen[k.Value]; ok {
					return k, f
				}
				seen[k.Value] = k
			}
		}
	}
	for _, c := range n.Content {
		if d, f := duplicateKey(c, depth+1); d != nil {
			return d, f
		}
	}
	return nil, nil
}

// yamlLineRE matches the "line N:" the YAML parser puts in its messages.
var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?(?:unmarshal errors:\s*)?line (\d+): `)

// yamlErrorLine splits a YAML parser error into its line (0 when it names
// none) and the rest of its message.
func yamlErrorLine(err error) (int, string) {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.TrimSpace(msg)
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, msg[len(m[0]):]
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}

// invalidDocument builds the finding for a document that cannot be checked.
func invalidDocument(src Source, line int, msg, hint string) *Finding {
	return &Finding{
		Rule: RuleInvalidDocument, Severity: SeverityError, Message: msg, Hint: hint,
		Location: Location{Source: src, Line: line},
	}
}
