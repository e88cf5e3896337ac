package lint

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// listState ties the items of a streamed List to its end. Whether the
// document is a List is known only at its end (kubectl prints "items"
// before "kind"), so the items' results wait for it.
type listState struct {
	// Set by the reader before it sends the end marker.
	count  int
	isList bool

	// The collector's own: whether the end was collected, and how many
	// objects the items added.
	ended   bool
	objects int
}

// jsonRecorder keeps the bytes the JSON decoder reads, from the start of
// the value being read, so a value that is not streamed can be handed on
// exactly as written, and counts the lines of the bytes it drops.
type jsonRecorder struct {
	r   io.Reader
	buf []byte
	// start indexes buf at keep; base is the stream offset of buf[0].
	start int
	base  int64
	// line is the line number at buf[start].
	line int
}

func (j *jsonRecorder) Read(p []byte) (int, error) {
	if len(j.buf)-j.start > MaxDocumentBytes {
		return 0, errTooLarge
	}
	n, err := j.r.Read(p)
	j.buf = append(j.buf, p[:n]...)
	return n, err
}

// keep drops the bytes before stream offset off, counting their lines,
// and returns the line off is on.
func (j *jsonRecorder) keep(off int64) int {
	k := int(off - j.base)
	if k > j.start && k <= len(j.buf) {
		j.line += bytes.Count(j.buf[j.start:k], []byte("\n"))
		j.start = k
	}
	// Compact now and then, not on every item: the decoder reads ahead.
	if j.start > 64<<10 && j.start > len(j.buf)/2 {
		n := copy(j.buf, j.buf[j.start:])
		j.buf, j.base, j.start = j.buf[:n], j.base+int64(j.start), 0
	}
	return j.line
}

// slice returns a copy of the stream bytes in [from, to); from must not
// have been dropped.
func (j *jsonRecorder) slice(from, to int64) []byte {
	a, b := int(from-j.base), int(to-j.base)
	if a < 0 || b > len(j.buf) || a > b {
		return nil
	}
	return append([]byte(nil), j.buf[a:b]...)
}

// startsWithJSON reports whether a stream starts with a JSON object or
// array (not YAML flow style), without consuming it.
func startsWithJSON(br *bufio.Reader) bool {
	data, _ := br.Peek(4096)
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	return looksLikeJSON(bytes.TrimLeft(data, " \t\r\n"))
}

// readJSONStream reads a stream of JSON values, as kubectl does, and emits
// each as a document; the items of a List are emitted one by one as they
// are decoded, so a List of any size is never held whole. next numbers
// documents in input order.
func readJSONStream(r io.Reader, next func() int, emit func(document) error) error {
	rec := &jsonRecorder{r: r, line: 1}
	dec := json.NewDecoder(rec)
	fail := func(err error, line int) error {
		msg, hint := "cannot parse JSON: "+err.Error(), "fix the JSON syntax at this line"
		if errors.Is(err, errTooLarge) {
			msg, hint = err.Error(), "split it into smaller documents; the rest of this stream was not read"
		}
		return emit(document{seq: next(), firstLine: line, errMsg: msg, errHint: hint})
	}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fail(err, rec.keep(errorOffset(dec, err)))
		}
		start := dec.InputOffset() - 1
		line := rec.keep(start)
		if d, ok := tok.(json.Delim); !ok || d != '{' {
			// Not an object: skip the value and report it.
			depth := 0
			if d, ok := tok.(json.Delim); ok && d == '[' {
				depth = 1
			}
			for depth > 0 {
				t, err := dec.Token()
				if err != nil {
					return fail(err, rec.keep(dec.InputOffset()))
				}
				if d, ok := t.(json.Delim); ok {
					if d == '[' || d == '{' {
						depth++
					} else {
						depth--
					}
				}
			}
			what := "a list"
			if depth == 0 && !isDelim(tok, '[') {
				what = "a " + jsonType(tok)
			}
			if err := emit(document{seq: next(), firstLine: line, errMsg: "document is " + what + ", not a Kubernetes object",
				errHint: "make the document a mapping with apiVersion, kind and metadata"}); err != nil {
				return err
			}
			rec.keep(dec.InputOffset())
			continue
		}
		if err := readJSONObject(dec, rec, start, line, next, emit); err != nil {
			if errors.Is(err, errStopStream) {
				return nil
			}
			return err
		}
	}
}

// readJSONObject reads one top-level object whose "{" was just read.
func readJSONObject(dec *json.Decoder, rec *jsonRecorder, start int64, line int, next func() int, emit func(document) error) error {
	type pair struct {
		key   string
		value json.RawMessage
	}
	var pairs []pair
	held := 0
	kind, kindSeen := "", false
	var list *listState
	// The root's seq comes first, so its findings precede its items'.
	root := document{seq: next(), firstLine: line}
	fail := func(err error) error {
		msg, hint := "cannot parse JSON: "+err.Error(), "fix the JSON syntax at this line"
		if errors.Is(err, errTooLarge) {
			msg, hint = err.Error(), "split it into smaller documents; the rest of this stream was not read"
		}
		if list != nil {
			// The items read so far are reported with the error.
			list.isList = true
			if err := emit(document{seq: root.seq, list: list, listEnd: true}); err != nil {
				return err
			}
		}
		if e := emit(document{seq: next(), firstLine: rec.keep(errorOffset(dec, err)), errMsg: msg, errHint: hint}); e != nil {
			return e
		}
		return errStopStream
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fail(err)
		}
		key, _ := t.(string)
		valueAt := dec.InputOffset()
		if t, err = dec.Token(); err != nil {
			return fail(err)
		}
		if key == "items" && list != nil {
			// Read whole, the last "items" would win over those already
			// streamed: a List that says two things is refused.
			return fail(errDuplicateItems)
		}
		if key == "items" && list == nil && isDelim(t, '[') && (!kindSeen || strings.HasSuffix(kind, "List")) {
			list = &listState{}
			for dec.More() {
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return fail(err)
				}
				itemLine := rec.keep(dec.InputOffset() - int64(len(raw)))
				d := document{seq: next(), firstLine: itemLine, data: raw, list: list, listItem: true}
				if raw[0] != '{' {
					d.data, d.errMsg, d.errHint = nil, "List item is not an object", "make every item a mapping with apiVersion, kind and metadata"
				}
				if err := emit(d); err != nil {
					return err
				}
				list.count++
			}
			if _, err := dec.Token(); err != nil { // ]
				return fail(err)
			}
			rec.keep(dec.InputOffset())
			continue
		}
		// Any other value is skipped token by token and taken, as written,
		// from the recorder.
		for depth := delimDepth(t); depth > 0; {
			t, err := dec.Token()
			if err != nil {
				return fail(err)
			}
			depth += delimDepth(t)
		}
		raw := bytes.TrimLeft(rec.slice(valueAt, dec.InputOffset()), " \t\r\n:")
		if held += len(raw); list != nil && held > MaxDocumentBytes {
			return fail(errTooLarge)
		}
		if key == "kind" {
			kindSeen = true
			_ = json.Unmarshal(raw, &kind)
		}
		pairs = append(pairs, pair{key, raw})
	}
	if _, err := dec.Token(); err != nil { // }
		return fail(err)
	}
	end := dec.InputOffset()
	if list == nil {
		if end-start > MaxDocumentBytes {
			root.tooLarge = true
		} else {
			root.data = rec.slice(start, end)
		}
		rec.keep(end)
		return emit(root)
	}
	rec.keep(end)
	// A List's own fields are not checked; an object that only looked like
	// one (kind is not a List) is checked without its items.
	list.isList = strings.HasSuffix(kind, "List")
	marker := document{seq: root.seq, firstLine: line, list: list, listEnd: true}
	if !list.isList {
		var b bytes.Buffer
		b.WriteByte('{')
		for i, p := range pairs {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(p.key)
			b.Write(k)
			b.WriteByte(':')
			b.Write(p.value)
		}
		if len(pairs) > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"items":[]}`)
		marker.data = b.Bytes()
	}
	return emit(marker)
}

// errDuplicateItems is a List with a second "items" key.
var errDuplicateItems = errors.New(`the key "items" appears twice`)

// errStopStream ends a stream after an error was reported as a finding.
var errStopStream = errors.New("stream stopped")

// errorOffset is where a decoding error is reported: the start of the
// value that could not be read.
func errorOffset(dec *json.Decoder, _ error) int64 {
	at := dec.InputOffset()
	rest, _ := io.ReadAll(io.LimitReader(dec.Buffered(), 4096))
	return at + int64(len(rest)-len(bytes.TrimLeft(rest, " \t\r\n,:")))
}

// delimDepth is +1 for an opening delimiter, -1 for a closing one.
func delimDepth(t json.Token) int {
	switch t {
	case json.Delim('{'), json.Delim('['):
		return 1
	case json.Delim('}'), json.Delim(']'):
		return -1
	}
	return 0
}

func isDelim(t json.Token, d json.Delim) bool {
	x, ok := t.(json.Delim)
	return ok && x == d
}

func jsonType(t json.Token) string {
	switch t.(type) {
	case string:
		return "string"
	case float64, json.Number:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return "value"
}
