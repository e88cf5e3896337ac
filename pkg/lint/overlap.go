package lint

import (
	"fmt"
	"sort"
	"strings"

	"unique"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// controller is what the selector-overlap rule keeps of each controller
// checked. Label sets are kept as one string of sorted "key=value" pairs
// joined by NUL, so a report of 100,000 controllers stays small.
type controller struct {
	// ref's strings are interned: kinds, versions and namespaces repeat.
	ref ObjectRef
	src Source
	// selector holds the pairs an equality selector requires; expr is set
	// instead for a selector with other operators.
	selector     string
	expr         labels.Selector
	pods         string
	line, column int32
	seq, item    int32
}

// namespace is where the controller's selector can meet others': its own
// namespace, or the namespace it was read from.
func (c *controller) namespace() string {
	if c.ref.Namespace != "" {
		return c.ref.Namespace
	}
	return c.src.Namespace
}

func (c *controller) location() Location {
	return Location{Source: c.src, Line: int(c.line), Column: int(c.column), Field: "spec.selector"}
}

// joinPairs writes a label set as sorted "key=value" pairs joined by NUL.
func joinPairs(m map[string]string) string {
	ps := make([]string, 0, len(m))
	for k, v := range m {
		ps = append(ps, k+"="+v)
	}
	sort.Strings(ps)
	return strings.Join(ps, "\x00")
}

// eachPair calls f with each pair of a joined label set, until f returns false.
func eachPair(joined string, f func(string) bool) {
	for joined != "" {
		p, rest, _ := strings.Cut(joined, "\x00")
		if !f(p) {
			return
		}
		joined = rest
	}
}

// hasPair reports whether a joined label set holds a pair.
func hasPair(joined, pair string) bool {
	found := false
	eachPair(joined, func(p string) bool { found = p == pair; return !found })
	return found
}

// selects reports whether c's selector selects the pods of a joined label set.
func (c *controller) selects(pods string) bool {
	if c.expr != nil {
		set := labels.Set{}
		eachPair(pods, func(p string) bool {
			k, v, _ := strings.Cut(p, "=")
			set[k] = v
			return true
		})
		return c.expr.Matches(set)
	}
	ok := true
	eachPair(c.selector, func(p string) bool { ok = hasPair(pods, p); return ok })
	return ok
}

// selectorPairs lists the key=value pairs a selector requires.
func (c *controller) selectorPairs() []string {
	if c.expr == nil {
		var out []string
		eachPair(c.selector, func(p string) bool { out = append(out, p); return true })
		return out
	}
	reqs, _ := c.expr.Requirements()
	var out []string
	for _, r := range reqs {
		if vals := r.Values(); (r.Operator() == selection.Equals || r.Operator() == selection.DoubleEquals || r.Operator() == selection.In) && vals.Len() == 1 {
			out = append(out, r.Key()+"="+vals.UnsortedList()[0])
		}
	}
	return out
}

func (c *controller) written() string {
	if c.expr != nil {
		return c.expr.String()
	}
	return strings.ReplaceAll(c.selector, "\x00", ",")
}

// recordController keeps a controller for the cross-object rule, when its
// selector is usable (an empty or invalid one is a finding of its own).
func (c *checker) recordController() {
	if c.l.disabled[RuleSelectorOverlap] || c.ignore[RuleSelectorOverlap] || !c.workload {
		return
	}
	if c.wk.selector != selectorMap && c.wk.selector != selectorLabelSelector && c.wk.selector != selectorLabelSelectorDefaulted {
		return // Jobs get generated selectors; Pods and CronJobs have none
	}
	tmpl := c.sites[len(c.sites)-1].labels
	if len(tmpl.Entries) == 0 {
		return
	}
	pods := tmpl.Map()
	ref := ObjectRef{
		APIVersion: unique.Make(c.ref.APIVersion).Value(), Kind: unique.Make(c.ref.Kind).Value(),
		Namespace: unique.Make(c.ref.Namespace).Value(), Name: c.ref.Name,
	}
	ctrl := &controller{ref: ref, src: c.obj.Source, pods: joinPairs(pods)}
	_, node := lookup(c.obj.Node, "spec", "selector")
	switch {
	case isNull(node):
		if c.wk.selector == selectorLabelSelector {
			return
		}
		ctrl.selector = ctrl.pods // defaulted from the template by the API server
	case c.wk.selector == selectorMap:
		ls := readLabels(c.obj.Node, "spec", "selector")
		if len(ls.Entries) == 0 {
			return
		}
		ctrl.selector = joinPairs(ls.Map())
	default:
		ls := readLabelSelector(c.obj.Node)
		if len(ls.MatchExpressions) == 0 && len(ls.MatchLabels) > 0 {
			ctrl.selector = joinPairs(ls.MatchLabels)
			break
		}
		s, ok := labelSelectorOf(c.obj.Node)
		if !ok {
			return
		}
		ctrl.expr = s
	}
	if line := c.obj.Line(); line > 0 {
		ctrl.line, ctrl.column = int32(line), int32(c.obj.Node.Column)
	}
	c.controller = ctrl
}

// maxOverlapCandidates bounds the selectors compared with one controller,
// so that crafted input cannot make the rule quadratic.
const maxOverlapCandidates = 1000

// Finish runs the rules that compare objects with each other (two
// controllers whose selectors overlap) over everything in the Report, and
// puts the findings in input order. Call it once, after the last input.
func (l *Linter) Finish(rep *Report) {
	type scope struct{ context, namespace string }
	byScope := map[scope][]*controller{}
	var scopes []scope
	for _, c := range rep.controllers.all() {
		s := scope{c.src.Context, c.namespace()}
		if _, ok := byScope[s]; !ok {
			scopes = append(scopes, s)
		}
		byScope[s] = append(byScope[s], c)
	}
	for _, s := range scopes {
		rep.Findings = append(rep.Findings, overlaps(l, byScope[s])...)
	}
	rep.controllers = controllerStore{}
	rep.sortFindings()
}

// overlaps finds, for each controller, the first controller before it in
// the input whose selector selects its pods, or whose pods its selector
// selects: both would manage the same pods. Selectors are indexed by
// their least common pair, so the work stays near linear.
func overlaps(l *Linter, ctrls []*controller) []Finding {
	sort.SliceStable(ctrls, func(i, j int) bool {
		a, b := ctrls[i], ctrls[j]
		return a.seq < b.seq || (a.seq == b.seq && a.item < b.item)
	})
	count := map[string]int{}
	own := make([][]string, len(ctrls))
	for i, c := range ctrls {
		own[i] = c.selectorPairs()
		for _, p := range own[i] {
			count[p]++
		}
	}
	// rare[i] is the pair controller i's selector is indexed by; "" when it
	// requires none (only NotIn, Exists, ...).
	rare := make([]string, len(ctrls))
	indexed := map[string]bool{}
	for i := range ctrls {
		for _, p := range own[i] {
			if rare[i] == "" || count[p] < count[rare[i]] {
				rare[i] = p
			}
		}
		indexed[rare[i]] = true
	}
	own, count = nil, nil
	bySelector := map[string][]int{} // rarest pair of a selector -> controllers
	byPods := map[string][]int{}     // pod label pair, when some selector is indexed by it -> controllers
	var unindexed []int
	var out []Finding
	for i, c := range ctrls {
		best, selects, tried := -1, false, 0
		try := func(list []int) {
			for _, j := range list {
				if (best >= 0 && j >= best) || tried >= maxOverlapCandidates {
					return
				}
				tried++
				b := ctrls[j]
				if b.ref.Kind == c.ref.Kind && b.ref.Name == c.ref.Name {
					// One object in two variants (an app's dev and prod
					// overlays, say): they never run side by side.
					continue
				}
				if b.selects(c.pods) {
					best, selects = j, false
					return
				}
				if c.selects(b.pods) {
					best, selects = j, true
					return
				}
			}
		}
		eachPair(c.pods, func(p string) bool { try(bySelector[p]); return true })
		try(unindexed)
		if rare[i] != "" {
			try(byPods[rare[i]])
		} else {
			all := make([]int, i)
			for j := range all {
				all[j] = j
			}
			try(all)
		}
		if best >= 0 {
			out = append(out, overlapFinding(l, c, ctrls[best], selects))
		}
		if rare[i] != "" {
			bySelector[rare[i]] = append(bySelector[rare[i]], i)
		} else {
			unindexed = append(unindexed, i)
		}
		eachPair(c.pods, func(p string) bool {
			if indexed[p] {
				byPods[p] = append(byPods[p], i)
			}
			return true
		})
	}
	return out
}

func overlapFinding(l *Linter, c, other *controller, selects bool) Finding {
	where := other.ref.String()
	if other.line > 0 {
		where += fmt.Sprintf(" (%s:%d)", other.src.Label(), other.line)
	} else if other.src != c.src {
		where += " (" + other.src.Label() + ")"
	}
	msg := fmt.Sprintf("the pods of this controller are also selected by %s, whose selector is %s: both controllers would manage the same pods", where, other.written())
	if selects {
		msg = fmt.Sprintf("the selector (%s) also selects the pods of %s: both controllers would manage the same pods", c.written(), where)
	}
	return Finding{
		Rule: RuleSelectorOverlap, Severity: l.severity[RuleSelectorOverlap], Message: msg,
		Hint:   "give each controller a selector of its own, e.g. a distinct name label (in the selector and the pod template) for each",
		Object: c.ref, Location: c.location(), seq: int(c.seq), item: int(c.item),
	}
}

// controllerStore keeps controllers in fixed-size chunks: a report of
// 100,000 never copies them into ever larger arrays.
type controllerStore struct {
	chunks [][]controller
}

const controllerChunk = 1024

func (s *controllerStore) add(c controller) {
	if n := len(s.chunks); n == 0 || len(s.chunks[n-1]) == controllerChunk {
		s.chunks = append(s.chunks, make([]controller, 0, controllerChunk))
	}
	last := &s.chunks[len(s.chunks)-1]
	*last = append(*last, c)
}

// all returns a pointer to every controller, in the order added.
func (s *controllerStore) all() []*controller {
	var out []*controller
	for _, ch := range s.chunks {
		for i := range ch {
			out = append(out, &ch[i])
		}
	}
	return out
}

// deleteFunc drops the controllers del reports.
func (s *controllerStore) deleteFunc(del func(*controller) bool) {
	var kept controllerStore
	for _, c := range s.all() {
		if !del(c) {
			kept.add(*c)
		}
	}
	*s = kept
}
