package lint

import (
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// controller is what the selector-overlap rule keeps of each controller
// checked: a few strings and maps, so a report of 100,000 objects holds
// them without holding the objects.
type controller struct {
	ref ObjectRef
	// scope is where selectors can meet: the context and namespace.
	scope    string
	selector labels.Selector
	// written is the selector as a user reads it.
	written string
	pods    labels.Set
	loc     Location
	seq     int
	item    int
}

// record keeps a controller for the cross-object rule, when its selector
// is usable (an empty or invalid one is a finding of its own).
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
	pods := labels.Set(tmpl.Map())
	var sel labels.Selector
	_, node := lookup(c.obj.Node, "spec", "selector")
	switch {
	case isNull(node):
		if c.wk.selector == selectorLabelSelector {
			return
		}
		sel = labels.SelectorFromValidatedSet(pods) // defaulted by the API server
	case c.wk.selector == selectorMap:
		ls := readLabels(c.obj.Node, "spec", "selector")
		if len(ls.Entries) == 0 {
			return
		}
		sel = labels.SelectorFromValidatedSet(labels.Set(ls.Map()))
	default:
		s, ok := labelSelectorOf(c.obj.Node)
		if !ok {
			return
		}
		sel = s
	}
	ns := c.ref.Namespace
	if ns == "" {
		ns = c.obj.Source.Namespace
	}
	loc := Location{Source: c.obj.Source, Field: "spec.selector"}
	if line := c.obj.Line(); line > 0 {
		loc.Line, loc.Column = line, c.obj.Node.Column
	}
	c.controller = &controller{
		ref: c.ref, scope: c.obj.Source.Context + "\x00" + ns, selector: sel, written: sel.String(),
		pods: pods, loc: loc,
	}
}

// Finish runs the rules that compare objects with each other (two
// controllers whose selectors overlap) over everything in the Report, and
// puts the findings in input order. Call it once, after the last input.
func (l *Linter) Finish(rep *Report) {
	byScope := map[string][]*controller{}
	var scopes []string
	for i := range rep.controllers {
		c := &rep.controllers[i]
		if _, ok := byScope[c.scope]; !ok {
			scopes = append(scopes, c.scope)
		}
		byScope[c.scope] = append(byScope[c.scope], c)
	}
	for _, s := range scopes {
		rep.Findings = append(rep.Findings, overlaps(l, byScope[s])...)
	}
	rep.controllers = nil
	rep.sortFindings()
}

// overlaps finds, for each controller, the first controller before it in
// the input whose pods its selector selects, or whose selector selects its
// pods: both would manage the same pods. Selectors are indexed by their
// least common label, so the work stays near linear in the number of
// controllers.
func overlaps(l *Linter, ctrls []*controller) []Finding {
	sort.SliceStable(ctrls, func(i, j int) bool {
		a, b := ctrls[i], ctrls[j]
		return a.seq < b.seq || (a.seq == b.seq && a.item < b.item)
	})
	count := map[string]int{}
	for _, c := range ctrls {
		for _, p := range pairs(c.selector) {
			count[p]++
		}
		for k, v := range c.pods {
			count[k+"="+v]++
		}
	}
	rarest := func(ps []string) (string, bool) {
		best, ok := "", false
		for _, p := range ps {
			if !ok || count[p] < count[best] {
				best, ok = p, true
			}
		}
		return best, ok
	}
	bySelector := map[string][]int{} // a selector's rarest required pair -> controllers
	byPods := map[string][]int{}     // every pod label pair -> controllers
	var unindexed []int              // selectors with no required pair (only NotIn, Exists, ...)
	var out []Finding
	for i, c := range ctrls {
		// Candidates are earlier controllers, so each pair is reported once,
		// on the later of the two; the earliest partner is named. Each
		// candidate list is in input order, so its first match is its
		// earliest.
		best, selects := -1, false
		seen := map[int]bool{}
		try := func(list []int) {
			for _, j := range list {
				if best >= 0 && j >= best {
					return
				}
				if seen[j] {
					continue
				}
				seen[j] = true
				b := ctrls[j]
				if b.ref.Kind == c.ref.Kind && b.ref.Name == c.ref.Name {
					// One object in two variants (an app's dev and prod
					// overlays, say): they never run side by side.
					continue
				}
				if b.selector.Matches(c.pods) {
					best, selects = j, false
					return
				}
				if c.selector.Matches(b.pods) {
					best, selects = j, true
					return
				}
			}
		}
		for k, v := range c.pods {
			try(bySelector[k+"="+v])
		}
		try(unindexed)
		own := pairs(c.selector)
		if p, ok := rarest(own); ok {
			try(byPods[p])
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
		if p, ok := rarest(own); ok {
			bySelector[p] = append(bySelector[p], i)
		} else {
			unindexed = append(unindexed, i)
		}
		for k, v := range c.pods {
			byPods[k+"="+v] = append(byPods[k+"="+v], i)
		}
	}
	return out
}

// pairs lists the key=value pairs a selector requires.
func pairs(sel labels.Selector) []string {
	reqs, _ := sel.Requirements()
	var out []string
	for _, r := range reqs {
		if vals := r.Values(); (r.Operator() == selection.Equals || r.Operator() == selection.DoubleEquals || r.Operator() == selection.In) && vals.Len() == 1 {
			out = append(out, r.Key()+"="+vals.UnsortedList()[0])
		}
	}
	return out
}

func overlapFinding(l *Linter, c, other *controller, selects bool) Finding {
	where := other.ref.String()
	if other.loc.Line > 0 {
		where += fmt.Sprintf(" (%s:%d)", other.loc.Label(), other.loc.Line)
	} else if other.loc.Source != c.loc.Source {
		where += " (" + other.loc.Label() + ")"
	}
	msg := fmt.Sprintf("the pods of this controller are also selected by %s, whose selector is %s: both controllers would manage the same pods", where, other.written)
	if selects {
		msg = fmt.Sprintf("the selector (%s) also selects the pods of %s: both controllers would manage the same pods", c.written, where)
	}
	return Finding{
		Rule: RuleSelectorOverlap, Severity: l.severity[RuleSelectorOverlap], Message: msg,
		Hint:   "give each controller a selector of its own, e.g. a distinct name label (in the selector and the pod template) for each",
		Object: c.ref, Location: c.loc, seq: c.seq, item: c.item,
	}
}
