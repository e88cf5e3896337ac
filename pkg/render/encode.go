package render

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	yamlv2 "go.yaml.in/yaml/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// encodeYAML writes obj exactly as printers.YAMLPrinter does, which goes
// through JSON: encoding/json writes the object, go.yaml.in/yaml/v2 reads
// that JSON back and writes it as YAML. Writing and parsing the JSON text
// is more than half of that work, and the object's values already are
// what the parse gives back, but for a few: those are converted as the
// round trip would convert them, and YAML is written straight from the
// result. ok is false for an object holding a value this does not know;
// the caller then uses the printer.
func encodeYAML(obj *unstructured.Unstructured) (out []byte, ok bool) {
	if obj.GetObjectKind().GroupVersionKind().Empty() {
		return nil, false
	}
	v, ok := asReadBackFromJSON(obj.Object)
	if !ok {
		return nil, false
	}
	out, err := yamlv2.Marshal(v)
	return out, err == nil
}

// asReadBackFromJSON returns v as go.yaml.in/yaml/v2 reads back the JSON
// that encoding/json writes for it. Only a few values differ, and v is
// reused where none of them is found:
//   - a nil map or list is JSON null, which reads back as nil;
//   - invalid UTF-8 in a string is written as U+FFFD, a byte at a time;
//   - a float is written in JSON's notation, which YAML may read back as
//     an integer (3.0 is written 3) or as another float spelling.
func asReadBackFromJSON(v any) (any, bool) {
	out, _, ok := readBack(v)
	return out, ok
}

// readBack is asReadBackFromJSON, and whether the value changed.
func readBack(v any) (out any, changed, ok bool) {
	switch v := v.(type) {
	case bool, int64, int32, int:
		return v, false, true
	case nil:
		return nil, false, true
	case string:
		if !utf8.ValidString(v) {
			return validUTF8(v), true, true
		}
		return v, false, true
	case float64:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, false, false
		}
		var back any
		if err := yamlv2.Unmarshal(b, &back); err != nil {
			return nil, false, false
		}
		return back, true, true
	case map[string]any:
		if v == nil {
			return nil, true, true
		}
		var copied map[string]any
		for k, e := range v {
			if !utf8.ValidString(k) {
				return nil, false, false
			}
			c, changed, ok := readBack(e)
			if !ok {
				return nil, false, false
			}
			if changed && copied == nil {
				copied = make(map[string]any, len(v))
				for k2, e2 := range v {
					copied[k2] = e2
				}
			}
			if changed {
				copied[k] = c
			}
		}
		if copied == nil {
			return v, false, true
		}
		return copied, true, true
	case []any:
		if v == nil {
			return nil, true, true
		}
		var copied []any
		for i, e := range v {
			c, changed, ok := readBack(e)
			if !ok {
				return nil, false, false
			}
			if changed && copied == nil {
				copied = append(make([]any, 0, len(v)), v...)
			}
			if changed {
				copied[i] = c
			}
		}
		if copied == nil {
			return v, false, true
		}
		return copied, true, true
	}
	return nil, false, false
}

// validUTF8 replaces each byte of s that is not valid UTF-8 with U+FFFD,
// as encoding/json does.
func validUTF8(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\ufffd")
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
