// Package drift compares the objects an overlay renders with the objects a
// cluster runs. Every field the rendered object sets must hold the same
// value live; fields only the cluster sets (defaults, status, what other
// managers add) are not drift. A hash of the rendered object, recorded on
// each object when it is deployed, tells an overlay changed since the last
// deploy (a key removed, which the field comparison cannot see) from a
// change made by hand in the cluster.
package drift

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// AnnotationApplied is the hash of the rendered object as last deployed.
const AnnotationApplied = "envops.io/applied"

// Difference is one field where the cluster differs from what the overlay
// renders.
type Difference struct {
	// Path names the field, as in kubectl explain, with list items named
	// by their name where they have one: spec.template.spec.containers[web].image.
	Path string `json:"path"`
	// Live and Want are the live and rendered values, shortened.
	Live string `json:"live"`
	Want string `json:"want"`
}

func (d Difference) String() string {
	if what := d.Meaning(); what != "" {
		return what
	}
	return fmt.Sprintf("%s %s (want %s)", d.Path, d.Live, d.Want)
}

// partOf is the ApplySet label of a member (applyset.LabelPartOf; drift
// sits below applyset).
const partOf = "applyset.kubernetes.io/part-of"

// Meaning says what a difference in one of the fields the deploy records
// means, "" for the fields of the overlay itself.
func (d Difference) Meaning() string {
	switch d.Path {
	case "metadata.annotations." + AnnotationApplied:
		return "the overlay changed since the last deploy"
	case "metadata.labels." + partOf:
		return "not yet in the app's set (deployed by an earlier release)"
	}
	return ""
}

// Fields returns every field that want sets and live does not hold, in
// the order of want's keys. A field want sets to a zero value (false, 0,
// "", an empty map or list) matches live leaving it out, as the API
// server omits such fields when it answers.
func Fields(want, live map[string]any) []Difference {
	var out []Difference
	compare("", want, live, &out)
	return out
}

func compare(path string, want, live any, out *[]Difference) {
	switch w := want.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			if isZero(w) && isZero(live) {
				return
			}
			*out = append(*out, Difference{Path: path, Live: short(live), Want: short(w)})
			return
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			compare(join(path, k), w[k], l[k], out)
		}
	case []any:
		l, _ := live.([]any)
		if len(w) == 0 {
			return
		}
		if len(l) != len(w) {
			*out = append(*out, Difference{Path: path, Live: count(len(l)), Want: count(len(w))})
			return
		}
		for i := range w {
			compare(path+"["+itemName(w[i], i)+"]", w[i], l[i], out)
		}
	default:
		if !sameScalar(path, want, live) {
			*out = append(*out, Difference{Path: path, Live: short(live), Want: short(want)})
		}
	}
}

// sameScalar compares leaf values: numbers by value (JSON decodes into
// int64 or float64), quantities under resources by amount ("500m" is
// "0.5"), absence like a zero value.
func sameScalar(path string, want, live any) bool {
	if live == nil {
		return isZero(want)
	}
	if reflect.DeepEqual(want, live) {
		return true
	}
	if wf, ok := number(want); ok {
		lf, ok := number(live)
		return ok && wf == lf
	}
	if ws, ok := want.(string); ok && strings.Contains(path, "resources.") {
		if ls, ok := live.(string); ok {
			wq, err1 := resource.ParseQuantity(ws)
			lq, err2 := resource.ParseQuantity(ls)
			return err1 == nil && err2 == nil && wq.Cmp(lq) == 0
		}
	}
	return false
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	case string:
		return x == ""
	case bool:
		return !x
	}
	n, ok := number(v)
	return ok && n == 0
}

// itemName names a list item by its name field when it has one (a
// container, a port, a volume), else by its index.
func itemName(item any, i int) string {
	if m, ok := item.(map[string]any); ok {
		if name, ok := m["name"].(string); ok && name != "" {
			return name
		}
	}
	return strconv.Itoa(i)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func count(n int) string {
	if n == 1 {
		return "1 item"
	}
	return strconv.Itoa(n) + " items"
}

// short renders a value for a one-line message: scalars as they are,
// structures as compact JSON cut at 40 characters.
func short(v any) string {
	if v == nil {
		return "(none)"
	}
	var s string
	switch x := v.(type) {
	case string:
		s = x
	default:
		b, err := json.Marshal(x)
		if err != nil {
			s = fmt.Sprint(x)
		} else {
			s = string(b)
		}
	}
	if r := []rune(s); len(r) > 40 {
		s = string(r[:39]) + "…"
	}
	return s
}

// Hash is the hash of a rendered object, recorded on it when deployed; it
// ignores the hash annotation itself, so that hashing a deployed object
// again gives the same value.
func Hash(obj *unstructured.Unstructured) string {
	c := obj.DeepCopy()
	if a := c.GetAnnotations(); a != nil {
		delete(a, AnnotationApplied)
		if len(a) == 0 {
			a = nil
		}
		c.SetAnnotations(a)
	}
	// encoding/json writes map keys sorted, so equal objects hash equal.
	b, err := json.Marshal(c.Object)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// Brief says in a few words what differs, for a table cell: the first
// differences' paths without their most common prefixes, and how many
// more there are.
func Brief(diffs []Difference) string {
	const shown = 2
	parts := make([]string, 0, shown+1)
	for i, d := range diffs {
		if i == shown {
			parts = append(parts, fmt.Sprintf("+%d more", len(diffs)-shown))
			break
		}
		if what := d.Meaning(); what != "" {
			parts = append(parts, what)
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s (want %s)", shortPath(d.Path), d.Live, d.Want))
	}
	return strings.Join(parts, ", ")
}

// shortPath drops the prefixes every pod template field shares.
func shortPath(p string) string {
	for _, prefix := range []string{"spec.template.spec.", "spec.template.metadata.", "metadata.", "spec."} {
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			if prefix == "spec.template.metadata." {
				return "template " + rest
			}
			return rest
		}
	}
	return p
}
